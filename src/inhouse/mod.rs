//! In-house statements that arrive in bulk: legacy opt-out and consent files.

pub mod bulk_load;
