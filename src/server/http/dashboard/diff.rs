//! A fix's diff (`git diff`, read by the guardrails' parser
//! [`parse_diff`]) as side-by-side rows: the old line on the left, the new
//! on the right, a removed line paired with the added line that replaced
//! it, and within such a pair the characters that changed (by `similar`'s
//! Myers diff), so the page marks the edit and not the whole line. The
//! page only paints what this computes.

use serde::Serialize;
use similar::{Algorithm, DiffOp, capture_diff_slices};
use suture_actors::domain::coder::diff::{DiffError, LineKind, parse_diff};

/// Pairs longer than this (in characters) are marked whole: a character
/// diff of two minified lines would cost more than it shows.
const MAX_INLINE_CHARS: usize = 2_000;

/// One file of the diff.
#[derive(Debug, Serialize, PartialEq)]
pub struct FileDiff {
    pub old_path: String,
    pub new_path: String,
    /// A binary file: no rows.
    pub binary: bool,
    pub rows: Vec<Row>,
}

/// One row of the side-by-side view.
#[derive(Debug, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Row {
    /// Where a hunk starts (`@@ -40 +40 @@`).
    Hunk { text: String },
    /// A line on both sides; `left`/`right` absent for a line only added or
    /// only removed.
    Line {
        change: Change,
        #[serde(skip_serializing_if = "Option::is_none")]
        left: Option<Side>,
        #[serde(skip_serializing_if = "Option::is_none")]
        right: Option<Side>,
    },
}

#[derive(Debug, Serialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Context,
    Removed,
    Added,
    Modified,
}

/// One side of a row: the line number and the text in segments, each
/// marked changed or not.
#[derive(Debug, Serialize, PartialEq)]
pub struct Side {
    pub number: u32,
    pub segments: Vec<Segment>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Segment {
    pub text: String,
    pub changed: bool,
}

/// The files of `diff` as rows.
pub fn side_by_side(diff: &str) -> Result<Vec<FileDiff>, DiffError> {
    let mut files = Vec::new();
    for parsed in parse_diff(diff)? {
        let mut rows = Vec::new();
        for hunk in &parsed.hunks {
            rows.push(Row::Hunk {
                text: format!("@@ -{} +{} @@", hunk.old_start, hunk.new_start),
            });
            let mut removed: Vec<(u32, &str)> = Vec::new();
            let mut added: Vec<(u32, &str)> = Vec::new();
            for line in &hunk.lines {
                match line.kind {
                    LineKind::Removed => removed.push((line.old_line.unwrap_or(0), &line.text)),
                    LineKind::Added => added.push((line.new_line.unwrap_or(0), &line.text)),
                    LineKind::Context => {
                        flush(&mut rows, &mut removed, &mut added);
                        rows.push(Row::Line {
                            change: Change::Context,
                            left: Some(plain(line.old_line.unwrap_or(0), &line.text)),
                            right: Some(plain(line.new_line.unwrap_or(0), &line.text)),
                        });
                    }
                }
            }
            flush(&mut rows, &mut removed, &mut added);
        }
        files.push(FileDiff {
            old_path: parsed.old_path.clone().unwrap_or_default(),
            new_path: parsed.path().to_string(),
            binary: parsed.binary,
            rows,
        });
    }
    Ok(files)
}

/// Writes a block of removed lines and the added lines after it: paired
/// in order, the rest alone.
fn flush(rows: &mut Vec<Row>, removed: &mut Vec<(u32, &str)>, added: &mut Vec<(u32, &str)>) {
    let pairs = removed.len().max(added.len());
    for i in 0..pairs {
        let row = match (removed.get(i), added.get(i)) {
            (Some(&(l, old)), Some(&(r, new))) => {
                let (left, right) = inline(old, new);
                Row::Line {
                    change: Change::Modified,
                    left: Some(Side {
                        number: l,
                        segments: left,
                    }),
                    right: Some(Side {
                        number: r,
                        segments: right,
                    }),
                }
            }
            (Some(&(l, old)), None) => Row::Line {
                change: Change::Removed,
                left: Some(whole(l, old)),
                right: None,
            },
            (None, Some(&(r, new))) => Row::Line {
                change: Change::Added,
                left: None,
                right: Some(whole(r, new)),
            },
            (None, None) => continue,
        };
        rows.push(row);
    }
    removed.clear();
    added.clear();
}

fn plain(number: u32, text: &str) -> Side {
    Side {
        number,
        segments: vec![Segment {
            text: text.to_string(),
            changed: false,
        }],
    }
}

fn whole(number: u32, text: &str) -> Side {
    Side {
        number,
        segments: vec![Segment {
            text: text.to_string(),
            changed: true,
        }],
    }
}

/// The segments of `old` and `new` with the characters that differ marked.
fn inline(old: &str, new: &str) -> (Vec<Segment>, Vec<Segment>) {
    let a: Vec<char> = old.chars().collect();
    let b: Vec<char> = new.chars().collect();
    if a.len() > MAX_INLINE_CHARS || b.len() > MAX_INLINE_CHARS {
        return (
            vec![Segment {
                text: old.into(),
                changed: true,
            }],
            vec![Segment {
                text: new.into(),
                changed: true,
            }],
        );
    }
    let (mut left, mut right) = (Vec::new(), Vec::new());
    for op in capture_diff_slices(Algorithm::Myers, &a, &b) {
        match op {
            DiffOp::Equal {
                old_index,
                new_index,
                len,
            } => {
                push(&mut left, &a[old_index..old_index + len], false);
                push(&mut right, &b[new_index..new_index + len], false);
            }
            DiffOp::Delete {
                old_index, old_len, ..
            } => push(&mut left, &a[old_index..old_index + old_len], true),
            DiffOp::Insert {
                new_index, new_len, ..
            } => push(&mut right, &b[new_index..new_index + new_len], true),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                push(&mut left, &a[old_index..old_index + old_len], true);
                push(&mut right, &b[new_index..new_index + new_len], true);
            }
        }
    }
    (left, right)
}

/// Appends, merging with the previous segment when it is marked the same.
fn push(segments: &mut Vec<Segment>, chars: &[char], changed: bool) {
    if chars.is_empty() {
        return;
    }
    let text: String = chars.iter().collect();
    match segments.last_mut() {
        Some(last) if last.changed == changed => last.text.push_str(&text),
        _ => segments.push(Segment { text, changed }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIX: &str = "diff --git a/shop/orders.py b/shop/orders.py
index 3b18e51..a9c2f0d 100644
--- a/shop/orders.py
+++ b/shop/orders.py
@@ -42,3 +42,4 @@ def order_total(order):
     subtotal = sum(i[\"price\"] for i in order[\"items\"])
-    discount = COUPONS[order[\"coupon\"]]
+    discount = COUPONS.get(order.get(\"coupon\"), 0)
+    # a checkout without a coupon has none
     return subtotal - discount
";

    fn text(side: &Option<Side>) -> String {
        side.as_ref()
            .map(|s| s.segments.iter().map(|g| g.text.as_str()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_replaced_line_is_paired_and_an_added_one_stands_alone() {
        let files = side_by_side(FIX).expect("a git diff");
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].new_path, "shop/orders.py");
        let rows = &files[0].rows;
        assert!(matches!(&rows[0], Row::Hunk { text } if text == "@@ -42 +42 @@"));
        let Row::Line {
            change,
            left,
            right,
        } = &rows[2]
        else {
            panic!("{rows:?}")
        };
        assert_eq!(*change, Change::Modified);
        assert_eq!(left.as_ref().map(|s| s.number), Some(43));
        assert_eq!(right.as_ref().map(|s| s.number), Some(43));
        assert_eq!(text(left), "    discount = COUPONS[order[\"coupon\"]]");
        assert_eq!(
            text(right),
            "    discount = COUPONS.get(order.get(\"coupon\"), 0)"
        );
        let marked: String = right
            .as_ref()
            .map(|s| {
                s.segments
                    .iter()
                    .filter(|g| g.changed)
                    .map(|g| g.text.as_str())
                    .collect()
            })
            .unwrap_or_default();
        assert!(marked.contains(".get("), "{marked}");
        assert!(
            !marked.contains("discount"),
            "unchanged text is not marked: {marked}"
        );
        let Row::Line {
            change,
            left,
            right,
            ..
        } = &rows[3]
        else {
            panic!("{rows:?}")
        };
        assert_eq!(*change, Change::Added);
        assert!(left.is_none());
        assert_eq!(right.as_ref().map(|s| s.number), Some(44));
        let Row::Line { left, right, .. } = &rows[4] else {
            panic!("{rows:?}")
        };
        assert_eq!(
            (
                left.as_ref().map(|s| s.number),
                right.as_ref().map(|s| s.number)
            ),
            (Some(44), Some(45))
        );
    }

    #[test]
    fn several_files_and_a_missing_newline_marker() {
        let diff = "diff --git a/a.rs b/a.rs\n--- a/a.rs\n+++ b/a.rs\n@@ -1 +1 @@\n-x\n\\ No newline at end of file\n+y\ndiff --git a/b.rs b/b.rs\nnew file mode 100644\n--- /dev/null\n+++ b/b.rs\n@@ -0,0 +1,2 @@\n+one\n+two\n";
        let files = side_by_side(diff).expect("a git diff");
        assert_eq!(files.len(), 2);
        assert_eq!(files[1].new_path, "b.rs");
        assert_eq!(files[0].rows.len(), 2, "{:?}", files[0].rows);
        assert_eq!(files[1].rows.len(), 3);
    }

    #[test]
    fn nothing_in_nothing_out() {
        assert_eq!(side_by_side(""), Ok(Vec::new()));
    }
}
