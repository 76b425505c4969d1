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

/// An email address as shown to the person it belongs to: its first character and its domain
/// ("a…@example.com"), enough to recognise, not to read out.
pub fn mask_email(key: &str) -> String {
    match key.rsplit_once('@') {
        Some((local, domain)) => format!("{}…@{domain}", local.chars().next().unwrap_or('…')),
        None => mask(key),
    }
}

#[cfg(test)]
mod tests {
    use super::{mask, mask_email};

    #[test]
    fn an_email_keeps_its_first_character_and_domain() {
        assert_eq!(mask_email("ann.smith@example.com"), "a…@example.com");
        assert_eq!(mask_email("a@example.com"), "a…@example.com");
    }

    #[test]
    fn hides_the_middle() {
        assert_eq!(mask("+442079460018"), "+442*******18");
        assert_eq!(mask("jo@x.com"), "jo@x**om");
        assert_eq!(mask("abc"), "***");
    }
}
