//! In-house statements beyond single requests: legacy opt-out and consent files loaded in bulk,
//! and the statement in force for every key, kept in memory for checks and scrubs.

pub mod bulk_load;
pub mod in_force;
