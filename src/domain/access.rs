//! Access: roles, what each may do, and API keys (random, shown once, stored as SHA-256).

use rand::RngCore;
use sha2::{Digest, Sha256};

use super::channel::string_enum;

string_enum!(
    /// What a key may do (CONTRACT §7).
    Role { Admin => "admin", Campaign => "campaign", Agent => "agent", Compliance => "compliance" }
);

/// A protected capability of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Record opt-outs and consents.
    RecordStatements,
    /// Read a contact point's preferences and history.
    ReadPreferences,
    /// Ask whether a number may be called or texted.
    Check,
    /// Scrub lists.
    Scrub,
    /// Read scrubs: their summaries, results and certificates.
    ReadScrubs,
    /// Read the registers' state.
    ReadRegisters,
    /// Read the registers' import histories (their reports hold file content).
    ReadImports,
    /// Import register files.
    Import,
    /// Evidence and the data subject's rights (CONTRACT §12): the compliance pages.
    Evidence,
    /// Users and API keys.
    ManageAccess,
    /// The outbox: messages written and whether they went (CONTRACT §11).
    ReadOutbox,
}

impl Role {
    pub fn may(self, what: Capability) -> bool {
        use Capability::*;
        match self {
            Role::Admin => true,
            Role::Agent => matches!(what, RecordStatements | ReadPreferences | Check),
            Role::Campaign => matches!(what, Scrub | ReadScrubs | Check | ReadRegisters),
            Role::Compliance => matches!(what, ReadPreferences | Check | ReadRegisters | ReadImports | ReadScrubs | Evidence),
        }
    }
}

/// A new key: `sup_` and 64 hex digits (256 random bits), so a plain SHA-256 is a safe hash.
pub fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("sup_{}", hex::encode(bytes))
}

pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_have_the_contract_rights() {
        assert!(Role::Agent.may(Capability::RecordStatements));
        assert!(!Role::Agent.may(Capability::Scrub));
        assert!(!Role::Agent.may(Capability::ReadRegisters));
        assert!(Role::Campaign.may(Capability::Check));
        assert!(!Role::Campaign.may(Capability::RecordStatements));
        assert!(!Role::Campaign.may(Capability::Import));
        assert!(Role::Admin.may(Capability::Import));
        assert!(!Role::Campaign.may(Capability::ReadImports));
        assert!(Role::Compliance.may(Capability::ReadImports));
        assert!(Role::Compliance.may(Capability::ReadScrubs));
        assert!(!Role::Compliance.may(Capability::Scrub));
        assert!(!Role::Compliance.may(Capability::RecordStatements));
        assert!(!Role::Compliance.may(Capability::Import));
        assert!(Role::Compliance.may(Capability::Evidence));
        assert!(!Role::Compliance.may(Capability::ManageAccess));
        assert!(!Role::Campaign.may(Capability::Evidence));
        assert!(Role::Admin.may(Capability::ManageAccess));
        assert!(Role::Admin.may(Capability::ReadOutbox));
        for r in [Role::Agent, Role::Campaign, Role::Compliance] {
            assert!(!r.may(Capability::ReadOutbox), "{r}");
        }
    }

    #[test]
    fn keys_are_random_and_hashed() {
        let (a, b) = (generate_key(), generate_key());
        assert_ne!(a, b);
        assert_eq!(a.len(), 68);
        assert_eq!(hash_key(&a).len(), 64);
        assert_ne!(hash_key(&a), a);
        assert_eq!(hash_key("x"), hash_key("x"));
    }
}
