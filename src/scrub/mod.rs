//! The scrubbing engine: facts about a key in, an outcome out. Pure; the one-number check and
//! (next) whole-list scrubs both answer through it.

pub mod engine;
pub mod input;
pub mod judge;

pub use judge::{judge, Facts, Listing, Mode, Verdict};
