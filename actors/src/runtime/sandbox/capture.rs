//! A child's output kept in bounded memory: its first and last bytes, and
//! how much was cut between them. The beginning says what the command was
//! doing (a collection error, a missing tool), the end how it finished
//! (the failing assertion, the summary line); the middle of a 50 MB log is
//! what a reader can lose.

use std::collections::VecDeque;

/// Head and tail of a byte stream, at most `limit` bytes together.
#[derive(Debug)]
pub(super) struct Capture {
    head: Vec<u8>,
    head_cap: usize,
    tail: VecDeque<u8>,
    tail_cap: usize,
    total: usize,
}

impl Capture {
    /// Keeps `limit` bytes: the first half and the last half.
    pub(super) fn new(limit: usize) -> Self {
        let head_cap = limit / 2;
        Self {
            head: Vec::with_capacity(head_cap.min(64 * 1024)),
            head_cap,
            tail: VecDeque::new(),
            tail_cap: limit - head_cap,
            total: 0,
        }
    }

    pub(super) fn push(&mut self, mut bytes: &[u8]) {
        self.total = self.total.saturating_add(bytes.len());
        let room = self.head_cap - self.head.len();
        if room > 0 {
            let (first, rest) = bytes.split_at(room.min(bytes.len()));
            self.head.extend_from_slice(first);
            bytes = rest;
        }
        if bytes.len() >= self.tail_cap {
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - self.tail_cap..]);
            return;
        }
        let overflow = (self.tail.len() + bytes.len()).saturating_sub(self.tail_cap);
        self.tail.drain(..overflow);
        self.tail.extend(bytes);
    }

    /// Bytes seen in all.
    pub(super) fn total(&self) -> usize {
        self.total
    }

    /// The text: everything when it fit, else head, a line saying how many
    /// bytes were cut, and tail. Invalid UTF-8 is replaced; a character
    /// split by a cut is dropped rather than shown as garbage.
    pub(super) fn into_text(self) -> String {
        let kept = self.head.len() + self.tail.len();
        let cut = self.total - kept;
        let mut tail = Vec::from(self.tail);
        if cut == 0 {
            let mut all = self.head;
            all.append(&mut tail);
            return String::from_utf8_lossy(&all).into_owned();
        }
        let head = &self.head[..complete_prefix(&self.head)];
        let tail = &tail[continuation_prefix(&tail)..];
        format!(
            "{}\n[… {cut} bytes cut …]\n{}",
            String::from_utf8_lossy(head),
            String::from_utf8_lossy(tail)
        )
    }
}

/// Length of `bytes` without a UTF-8 character cut short at its end.
fn complete_prefix(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Err(error) if error.error_len().is_none() => error.valid_up_to(),
        _ => bytes.len(),
    }
}

/// How many bytes at the start of `bytes` continue a character that began
/// before it (at most 3, as UTF-8 has).
fn continuation_prefix(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .take(3)
        .take_while(|b| (**b & 0b1100_0000) == 0b1000_0000)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_fits_is_kept_whole() {
        let mut capture = Capture::new(10);
        capture.push(b"hello ");
        capture.push(b"you");
        assert_eq!(capture.total(), 9);
        assert_eq!(capture.into_text(), "hello you");
    }

    #[test]
    fn the_middle_is_cut_and_counted() {
        let mut capture = Capture::new(8);
        for chunk in [&b"abcdef"[..], b"ghij", b"klmnopqrstu", b"vw", b"xyz"] {
            capture.push(chunk);
        }
        assert_eq!(capture.total(), 26);
        assert_eq!(capture.into_text(), "abcd\n[… 18 bytes cut …]\nwxyz");
    }

    #[test]
    fn one_chunk_larger_than_the_limit() {
        let mut capture = Capture::new(4);
        capture.push(&[b'x'; 1000]);
        capture.push(b"end");
        assert_eq!(capture.into_text(), "xx\n[… 999 bytes cut …]\nnd");
    }

    #[test]
    fn a_character_split_by_a_cut_is_dropped() {
        // "é" is two bytes: the head ends inside one, the tail starts inside another.
        let mut capture = Capture::new(6);
        capture.push("aaé".as_bytes()); // a a C3 A9
        capture.push(b"-----");
        capture.push("éé".as_bytes());
        let text = capture.into_text();
        assert!(!text.contains('\u{FFFD}'), "{text}");
        assert!(text.starts_with("aa\n[… "), "{text}");
        assert!(text.ends_with("\né"), "{text}");
    }

    #[test]
    fn a_zero_limit_keeps_only_the_count() {
        let mut capture = Capture::new(0);
        capture.push(b"abc");
        assert_eq!(capture.into_text(), "\n[… 3 bytes cut …]\n");
    }
}
