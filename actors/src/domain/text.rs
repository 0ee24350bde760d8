//! Small text helpers shared by the stages.

/// `text` cut to `max_chars` characters, with an ellipsis when cut.
pub fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn truncate_counts_characters() {
        assert_eq!(super::truncate("héllo", 2), "hé…");
        assert_eq!(super::truncate("héllo", 5), "héllo");
    }
}
