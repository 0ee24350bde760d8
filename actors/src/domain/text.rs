//! Small text helpers shared by the stages.

/// `text` cut to `max_chars` characters, with an ellipsis when cut.
pub fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// The longest prefix of `text` of at most `max_bytes` bytes that ends at a
/// character boundary (a cut byte count never splits a character).
pub fn head_bytes(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    #[test]
    fn truncate_counts_characters() {
        assert_eq!(super::truncate("héllo", 2), "hé…");
        assert_eq!(super::truncate("héllo", 5), "héllo");
    }

    #[test]
    fn head_bytes_never_splits_a_character() {
        assert_eq!(super::head_bytes("héllo", 2), "h");
        assert_eq!(super::head_bytes("héllo", 3), "hé");
        assert_eq!(super::head_bytes("héllo", 99), "héllo");
        assert_eq!(super::head_bytes("é", 0), "");
    }
}
