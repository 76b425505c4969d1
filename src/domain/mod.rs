//! Pure domain types: contact-point keys, channels, registers, statements. No I/O.

pub mod access;
pub mod address;
pub mod channel;
pub mod email;
pub mod facts;
pub mod headers;
pub mod mask;
pub mod phone;
pub mod preference;
pub mod rejected;
pub mod say;
pub mod secret;
pub mod text;
pub mod time;
pub mod uk_numbers;
pub mod unsubscribe;

pub use address::{AddressKey, Postcode};
pub use channel::{Channel, ContactKind, Reason, Register};
pub use email::EmailKey;
pub use facts::{Facts, InForce, Listing, Listings, Statement, Whose};
pub use phone::PhoneKey;
pub use preference::{Contacts, Source, StatementKind, TargetError};
pub use rejected::Rejected;
