//! A record a file's reader refused, as a report keeps it: register imports and bulk loads of
//! statements report their rejected records in this one shape.

use serde::{Deserialize, Serialize};

/// Rejected records kept in a report; the others are only counted.
pub const SAMPLES: usize = 100;

/// One refused record: its line, its text where the report may show it, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub line: u64,
    /// The record's text, cut short (register files). `None` where a row holds personal data
    /// that a report must not repeat (bulk loads of statements).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub error: String,
}

impl Rejected {
    /// Keep a rejected record in `samples` if the report has room for it (the first [`SAMPLES`]);
    /// `make` is only called then.
    pub fn keep(samples: &mut Vec<Rejected>, make: impl FnOnce() -> Rejected) {
        if samples.len() < SAMPLES {
            samples.push(make());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_keeps_the_first_samples_and_no_absent_text() {
        let mut samples = Vec::new();
        for line in 0..(SAMPLES as u64 + 5) {
            Rejected::keep(&mut samples, || Rejected { line, text: None, error: "bad".into() });
        }
        assert_eq!((samples.len(), samples[SAMPLES - 1].line), (SAMPLES, SAMPLES as u64 - 1));
        // A bulk load's sample has no text field at all; a register file's has its text.
        assert_eq!(serde_json::to_value(&samples[0]).ok(), Some(serde_json::json!({"line": 0, "error": "bad"})));
        let with_text = Rejected { line: 2, text: Some("hello".into()), error: "bad".into() };
        assert_eq!(serde_json::to_value(&with_text).ok(), Some(serde_json::json!({"line": 2, "text": "hello", "error": "bad"})));
    }
}
