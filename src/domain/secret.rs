//! The server's secret (CONTRACT §8 `SUPPRESS_SECRET`) and the keys derived from it, one per use,
//! so that a value made for one use is never accepted for another.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The fewest bytes a secret may have.
pub const MIN_SECRET_BYTES: usize = 32;

/// The secret's bytes. Its `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the secret must be at least {MIN_SECRET_BYTES} bytes, written in hex or base64 (for example the output of `openssl rand -hex 32`); the value given is {0}")]
pub struct SecretError(&'static str);

impl Secret {
    /// A secret written in hex (tried first) or base64 (standard or URL-safe, padded or not).
    pub fn parse(text: &str) -> Result<Secret, SecretError> {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
        use base64::Engine;
        let text = text.trim();
        if text.is_empty() {
            return Err(SecretError("empty"));
        }
        let bytes = hex::decode(text)
            .ok()
            .or_else(|| [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD].iter().find_map(|e| e.decode(text).ok()))
            .ok_or(SecretError("neither hex nor base64"))?;
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(SecretError("shorter than that"));
        }
        Ok(Secret(bytes))
    }

    /// A new random secret, as hex (how a generated secret is stored).
    pub fn generate_hex() -> String {
        hex::encode(rand::random::<[u8; MIN_SECRET_BYTES]>())
    }

    /// The key for one use: HMAC-SHA-256(secret, purpose).
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        hmac_sha256(&self.0, &[purpose.as_bytes()])
    }
}

/// HMAC-SHA-256 of the pieces, one after another, under `key`.
pub fn hmac_sha256(key: &[u8], pieces: &[&[u8]]) -> [u8; 32] {
    let mut mac = new_mac(key);
    for piece in pieces {
        mac.update(piece);
    }
    mac.finalize().into_bytes().into()
}

/// An HMAC-SHA-256 keyed with `key`.
pub fn new_mac(key: &[u8]) -> Hmac<Sha256> {
    match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC takes a key of any length (a long one is hashed first): never reached.
        Err(e) => unreachable!("HMAC refused a key: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_base64_of_32_bytes_are_taken_and_shorter_or_other_text_is_not() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let a = Secret::parse(hex).unwrap();
        let b64 = "ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7v8=";
        assert_eq!(Secret::parse(b64).unwrap(), a);
        assert_eq!(Secret::parse(b64.trim_end_matches('=')).unwrap(), a);
        assert_eq!(Secret::parse(&b64.replace('/', "_")).unwrap(), a);
        assert!(Secret::parse(&hex[..62]).is_err(), "31 bytes");
        assert!(Secret::parse("").is_err());
        assert!(Secret::parse("not a secret at all, not even close!!!!!!!!!").is_err());
        assert!(Secret::parse(&Secret::generate_hex()).is_ok());
        assert_ne!(Secret::generate_hex(), Secret::generate_hex());
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_secret() {
        let a = Secret::parse(&"11".repeat(32)).unwrap();
        let b = Secret::parse(&"12".repeat(32)).unwrap();
        assert_ne!(a.derive("unsubscribe-v1"), a.derive("other-v1"));
        assert_ne!(a.derive("unsubscribe-v1"), b.derive("unsubscribe-v1"));
        assert_eq!(a.derive("unsubscribe-v1"), a.clone().derive("unsubscribe-v1"));
        assert!(!format!("{a:?}").contains("11"));
    }
}
