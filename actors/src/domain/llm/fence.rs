//! The client's last scrub, which must never touch a data fence.
//!
//! The renderer scrubs each piece of untrusted text before it fences it
//! (`<<<DATA-xxxx` ... `DATA-xxxx>>>`). The client scrubs once more, for
//! prompts built some other way; but scrubbing the rendered prompt as one
//! text let a rule that matches past a newline (`token=` and `Bearer` at the
//! end of a data line) swallow the closing fence line, so the block never
//! closed and a forged fence later in the data took its place. Here the
//! prompt is cut at its fence lines and each piece between them is
//! scrubbed alone: a fence line is copied as it is, whatever the rules do.

use crate::domain::scrub::Scrubber;

/// `text` with every piece between fence lines scrubbed, fence lines kept.
pub fn scrub_between_fences(scrubber: &Scrubber, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut piece_start = 0;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let bare = line.strip_suffix('\n').unwrap_or(line);
        if is_fence_line(bare) {
            out.push_str(&scrubber.scrub(&text[piece_start..at]));
            out.push_str(line);
            piece_start = at + line.len();
        }
        at += line.len();
    }
    out.push_str(&scrubber.scrub(&text[piece_start..]));
    out
}

/// `<<<DATA-` or `DATA-...>>>` around a tag of lowercase letters: what
/// [`super::prompt::Boundary`] writes, and nothing a scrub rule produces.
fn is_fence_line(line: &str) -> bool {
    let tag = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_lowercase());
    if let Some(rest) = line.strip_prefix("<<<DATA-") {
        return tag(rest);
    }
    line.strip_prefix("DATA-")
        .and_then(|rest| rest.strip_suffix(">>>"))
        .is_some_and(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_survives_data_that_ends_in_a_key() {
        let scrubber = Scrubber::builtin();
        for tail in ["Authorization: Bearer", "token=", "password:"] {
            let prompt = format!(
                "Data below.\n<<<DATA-abcdefghij\nrequest failed: {tail}\nDATA-abcdefghij>>>\nAnswer in JSON."
            );
            let out = scrub_between_fences(&scrubber, &prompt);
            assert!(out.contains("\nDATA-abcdefghij>>>\n"), "{tail}: {out}");
            assert!(
                out.starts_with("Data below.\n<<<DATA-abcdefghij\n"),
                "{out}"
            );
        }
    }

    #[test]
    fn secrets_between_fences_are_still_scrubbed() {
        let scrubber = Scrubber::builtin();
        let prompt = "intro api_key=9b8c7d6e5f4a3b2c\n<<<DATA-x\nmail bob@example.com\nDATA-x>>>\nend ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789";
        let out = scrub_between_fences(&scrubber, prompt);
        for secret in ["9b8c7d6e5f4a3b2c", "bob@example.com", "ghp_aBcDeF"] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        assert!(
            out.contains("\n<<<DATA-x\n") && out.contains("\nDATA-x>>>\n"),
            "{out}"
        );
    }

    #[test]
    fn fence_lines_are_only_what_a_boundary_writes() {
        assert!(is_fence_line("<<<DATA-abc"));
        assert!(is_fence_line("DATA-abc>>>"));
        for line in [
            "<<<DATA-",
            "DATA->>>",
            "<<<DATA-ABC",
            "x DATA-abc>>>",
            "<<<DATA-a b",
        ] {
            assert!(!is_fence_line(line), "{line}");
        }
    }
}
