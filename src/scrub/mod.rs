//! The scrubbing engine: a list in, every row's outcome out. `judge` holds the precedence of
//! outcomes for one key (the one-number check answers through it too), `input` reads lists,
//! `engine` runs a list through on every core, and `results` is how a result is stored and
//! rendered as the clean, suppressed and annotated files.

pub mod engine;
pub mod input;
pub mod judge;
pub mod results;

pub use judge::{judge, Facts, Listing, Mode, Verdict};
