//! How figures and dates are written for people, on the pages and in email alike: counts with
//! thousands separators (3,912), days as "24 Nov 2026".

use chrono::NaiveDate;

/// Dates as people read them: 27 Nov 2026.
pub fn day(d: NaiveDate) -> String {
    d.format("%-d %b %Y").to_string()
}

/// Thousands separated, as people read counts.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An import's changes: "+3,912 −14" (a true minus sign, as the subject lines of §11 show).
pub fn changes(added: u64, removed: u64) -> String {
    format!("+{} \u{2212}{}", count(added), count(removed))
}

/// The article before an initialism, as it is said: "an MPS file", "a TPS file".
pub fn a(initialism: &str) -> &'static str {
    if initialism.starts_with(['A', 'E', 'F', 'H', 'I', 'L', 'M', 'N', 'O', 'R', 'S', 'X']) {
        "an"
    } else {
        "a"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_with_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(17_000_000), "17,000,000");
        assert_eq!(changes(3_912, 14), "+3,912 −14");
    }

    #[test]
    fn days_read_as_people_write_them() {
        assert_eq!(day(NaiveDate::from_ymd_opt(2026, 11, 4).unwrap_or_default()), "4 Nov 2026");
    }
}
