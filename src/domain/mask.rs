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

/// Text that may hold email addresses (a mail server's answer), each address masked.
pub fn mask_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.contains('@') {
            out.push_str(&mask_email(word));
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | ',' | ';' | ':' | '(' | ')' | '[' | ']') {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::{mask, mask_addresses, mask_email};

    #[test]
    fn addresses_in_a_servers_answer_are_masked() {
        assert_eq!(mask_addresses("550 5.1.1 <jane.doe@example.com>: unknown user"), "550 5.1.1 <j…@example.com>: unknown user");
    }

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
