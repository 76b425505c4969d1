//! One-click unsubscribe tokens (CONTRACT §11): the email key and the channel, signed with a key
//! derived from the server's secret, in URL-safe base64 without padding. Nothing is stored per
//! token: the token carries what it is for, and any change to it makes it invalid.
//!
//! Bytes of a token: `channel`, a NUL, the email key, then HMAC-SHA-256 of those bytes (32).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::Mac;

use super::secret::{new_mac, Secret};
use super::{Channel, EmailKey};

/// The purpose the signing key is derived for (domain separation from any other use of the secret).
const PURPOSE: &str = "unsubscribe-v1";
const MAC_LEN: usize = 32;

/// Signs and checks tokens under one derived key. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct Tokens {
    key: [u8; 32],
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(..)")
    }
}

impl Tokens {
    pub fn new(secret: &Secret) -> Tokens {
        Tokens { key: secret.derive(PURPOSE) }
    }

    /// The token that unsubscribes `email` from marketing emails.
    pub fn sign(&self, email: &EmailKey) -> String {
        let mut bytes = payload(email);
        let tag = new_mac(&self.key).chain_update(&bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The page that unsubscribes `email`, on the service reached at `base` (no trailing slash).
    pub fn link(&self, base: &str, email: &EmailKey) -> String {
        format!("{base}/u/{}", self.sign(email))
    }

    /// The address a token names, if this server signed it unchanged; None for anything else.
    /// The tag is compared in constant time.
    pub fn verify(&self, token: &str) -> Option<EmailKey> {
        // An address is at most 254 bytes: a longer token is not one of ours, and is not decoded.
        if token.len() > 512 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        // The encoding must be the one `sign` writes (base64 allows other last characters).
        if URL_SAFE_NO_PAD.encode(&bytes) != token {
            return None;
        }
        let split = bytes.len().checked_sub(MAC_LEN)?;
        let (body, tag) = bytes.split_at(split);
        new_mac(&self.key).chain_update(body).verify_slice(tag).ok()?;
        let text = std::str::from_utf8(body).ok()?;
        let (channel, email) = text.split_once('\0')?;
        if channel != Channel::Email.as_str() {
            return None;
        }
        let key = EmailKey::parse(email).ok()?;
        (key.as_str() == email).then_some(key)
    }
}

fn payload(email: &EmailKey) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(8 + email.as_str().len() + MAC_LEN);
    bytes.extend_from_slice(Channel::Email.as_str().as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(email.as_str().as_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn tokens(fill: &str) -> Tokens {
        Tokens::new(&Secret::parse(&fill.repeat(32)).unwrap())
    }

    #[test]
    fn a_signed_token_names_its_address_and_only_under_its_secret() {
        let key = EmailKey::parse("Ann@Example.com").unwrap();
        let t = tokens("ab").sign(&key);
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{t}");
        assert_eq!(tokens("ab").verify(&t), Some(key));
        assert_eq!(tokens("ac").verify(&t), None, "another secret");
        assert_eq!(tokens("ab").verify(""), None);
        assert_eq!(tokens("ab").verify("not-a-token"), None);
    }

    #[test]
    fn a_token_of_another_purpose_is_refused() {
        let secret = Secret::parse(&"ab".repeat(32)).unwrap();
        let other = Tokens { key: secret.derive("something-else-v1") };
        let t = other.sign(&EmailKey::parse("a@example.com").unwrap());
        assert_eq!(Tokens::new(&secret).verify(&t), None);
    }

    proptest! {
        /// Flipping any bit of a token's bytes, or cutting it short, makes it invalid.
        #[test]
        fn any_change_makes_a_token_invalid(local in "[a-z0-9.]{1,20}", bit in 0usize..4096, cut in 1usize..400) {
            let t = tokens("5a");
            let email = EmailKey::parse(&format!("x{local}@example.com")).unwrap();
            let token = t.sign(&email);
            prop_assert_eq!(t.verify(&token), Some(email));
            let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
            let bit = bit % (bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            prop_assert_eq!(t.verify(&URL_SAFE_NO_PAD.encode(&bytes)), None);
            let cut = cut % token.len().max(1);
            prop_assert_eq!(t.verify(&token[..token.len() - cut.max(1)]), None);
            // A character changed in the text of the token.
            let mut chars: Vec<char> = token.chars().collect();
            let at = bit % chars.len();
            chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
            prop_assert_eq!(t.verify(&chars.into_iter().collect::<String>()), None);
        }
    }
}
