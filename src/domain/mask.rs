//! Masking of personal data for logs: enough to correlate, never enough to identify.

/// Keep the first four and last two characters of a key, star the rest.
pub fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let mut out = String::with_capacity(chars.len());
    for (i, c) in chars.iter().enumerate() {
        out.push(if i < 4 || i >= chars.len() - 2 { *c } else { '*' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn hides_the_middle() {
        assert_eq!(mask("+442079460018"), "+442*******18");
        assert_eq!(mask("jo@x.com"), "jo@x**om");
        assert_eq!(mask("abc"), "***");
    }
}
