//! Cutting one piece of evidence to a size, at line boundaries, saying how
//! much was cut (inside the piece: the model reads the marker where the
//! text stops).
//!
//! Text is scrubbed before it is cut, never after: a cut could otherwise
//! split a secret so that no rule knows the half that is left.

use crate::domain::text::head_bytes;

/// How a piece may be cut when it does not fit whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CutStyle {
    /// Whole or not at all.
    Never,
    /// Keep the first lines (a diff's first hunks, an outline's first
    /// symbols, the start of a root cause).
    Head,
    /// Keep the first lines and, mostly, the last ones: a sample's type and
    /// message open it and its crashing frames close it.
    Middle,
}

/// `text` in at most `max` bytes by `style`; `None` when nothing useful
/// fits (or the style forbids cutting). The text itself when it fits.
pub(super) fn cut(text: &str, max: usize, style: CutStyle) -> Option<String> {
    if text.len() <= max {
        return Some(text.to_string());
    }
    match style {
        CutStyle::Never => None,
        CutStyle::Head => head(text, max),
        CutStyle::Middle => middle(text, max),
    }
}

/// The first whole lines within `max` bytes, then `[… N more lines cut]`.
/// When not even the first line fits, its start, cut at a character.
fn head(text: &str, max: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut kept = String::new();
    for (index, line) in lines.iter().enumerate() {
        let marker = format!("[… {} more lines cut]", lines.len() - index);
        if kept.len() + line.len() + 1 + marker.len() > max {
            if index == 0 {
                return first_line_cut(line, max);
            }
            kept.push_str(&marker);
            return Some(kept);
        }
        kept.push_str(line);
        kept.push('\n');
    }
    // Only reached when `text` did not fit because of its line endings.
    Some(kept.trim_end().to_string())
}

/// The first lines (up to a third of `max`), `[… N lines cut …]`, and as
/// many of the last lines as fit in the rest.
fn middle(text: &str, max: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    // The marker's longest form, reserved before lines are taken.
    let reserve = format!("[… {} lines cut …]\n", lines.len()).len();
    let room = max.checked_sub(reserve)?;
    let mut first = 0usize;
    let mut used = 0usize;
    while let Some(line) = lines.get(first) {
        if used + line.len() + 1 > room / 3 {
            break;
        }
        used += line.len() + 1;
        first += 1;
    }
    let mut last = lines.len();
    while last > first {
        let Some(line) = lines.get(last - 1) else {
            break;
        };
        if used + line.len() + 1 > room {
            break;
        }
        used += line.len() + 1;
        last -= 1;
    }
    if first == 0 && last == lines.len() {
        return head(text, max);
    }
    let mut out = String::new();
    for line in &lines[..first] {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&format!("[… {} lines cut …]", last - first));
    for line in &lines[last..] {
        out.push('\n');
        out.push_str(line);
    }
    Some(out)
}

/// The start of one long line, cut at a character boundary, with `…`.
fn first_line_cut(line: &str, max: usize) -> Option<String> {
    let kept = head_bytes(line, max.checked_sub('…'.len_utf8())?);
    (!kept.is_empty()).then(|| format!("{kept}…"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(n: usize) -> String {
        (1..=n).map(|i| format!("line {i}\n")).collect()
    }

    #[test]
    fn fitting_text_is_unchanged_and_never_means_never() {
        assert_eq!(cut("abc", 3, CutStyle::Never).as_deref(), Some("abc"));
        assert_eq!(cut("abcd", 3, CutStyle::Never), None);
    }

    #[test]
    fn head_keeps_whole_lines_and_counts_the_rest() {
        let text = numbered(100);
        for max in [10, 40, 100, 300, 600] {
            let out = cut(&text, max, CutStyle::Head).expect("something fits");
            assert!(out.len() <= max, "{max}: {} bytes", out.len());
            assert!(out.starts_with("line 1"), "{out}");
        }
        let out = cut(&text, 60, CutStyle::Head).expect("fits");
        assert_eq!(
            out,
            "line 1\nline 2\nline 3\nline 4\nline 5\n[… 95 more lines cut]"
        );
        let long = "é".repeat(100);
        let out = cut(&long, 11, CutStyle::Head).expect("a cut line");
        assert!(out.len() <= 11 && out.ends_with('…'), "{out}");
        assert_eq!(cut(&long, 2, CutStyle::Head), None);
    }

    #[test]
    fn middle_keeps_the_start_and_the_end() {
        let text = numbered(100);
        let out = cut(&text, 120, CutStyle::Middle).expect("fits");
        assert!(out.len() <= 120, "{}", out.len());
        assert!(out.starts_with("line 1\n"), "{out}");
        assert!(out.ends_with("line 100"), "{out}");
        assert!(out.contains(" lines cut …]"), "{out}");
        for max in [25, 50, 80, 200, 500] {
            let out = cut(&text, max, CutStyle::Middle).expect("something fits");
            assert!(out.len() <= max, "{max}: {} bytes", out.len());
        }
    }
}
