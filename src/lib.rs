//! `suppress`: UK marketing suppression. In-house opt-outs and consents merged with the TPS, CTPS
//! and MPS registers, turned into answers for diallers and scrubbed lists for campaigns.

pub mod app;
pub mod bytes;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod inhouse;
pub mod notify;
pub mod pages;
pub mod registers;
pub mod scrub;
pub mod store;
pub mod telemetry;

/// The service's version, as pages and certificates state it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
