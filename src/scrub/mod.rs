//! The scrubbing engine: a list in, every row's outcome out. `knowledge` is the read model (what
//! is known about a key on a channel: every answer about a key goes through it), `judge` holds
//! the precedence of outcomes for one key (the one-number check answers through both), `input` reads lists,
//! `engine` runs a list through on every core, and `results` is how a result is stored and
//! rendered as the clean, suppressed and annotated files.

pub mod engine;
pub mod input;
pub mod judge;
pub mod knowledge;
pub mod results;

pub use judge::{judge, Mode, Verdict};
pub use knowledge::{Key, Knowledge};
