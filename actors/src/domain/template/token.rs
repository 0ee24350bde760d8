//! Tokens: how a masked message is cut into words and which words are
//! variables before the tree sees them (pre-masking).
//!
//! The miner reads the signer's *masked* message, so the masks have already
//! replaced what they know (numbers, ids, addresses, times, quoted text) by
//! placeholders such as `<n>`. Pre-masking then marks as variables:
//!
//! - a word holding a mask placeholder (`<n>`, `user_<id>`) or the wildcard;
//! - a word holding an ASCII digit, unless it is an upper-case code
//!   (`E11000`, `ORA-00942`, `HTTP/1.1`): the masks keep those on purpose,
//!   another code is another bug (their `id-with-number` rule draws the same
//!   line);
//! - a path or URL (`/var/log/x`, `C:\x`, `https://…`);
//! - a word longer than [`MAX_WORD_BYTES`] (a blob, not a word of a template;
//!   this also bounds the text a template keeps per position).
//!
//! In `key=value` and `key:value` words whose key is a plain word only the
//! value is judged, so `uid=<n>` and `euid=<n>` stay apart (a [`Token::Field`]).

use std::fmt;

/// The wildcard written in templates.
pub const WILDCARD: &str = "<*>";

/// Words longer than this are variables: no log template spells out 64
/// bytes without a space; base64, JSON fragments and hashes do. It also
/// bounds what a template keeps per position.
pub const MAX_WORD_BYTES: usize = 64;

/// One word of a line, after pre-masking. Borrows the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    /// A variable.
    Var,
    /// A `key=value` or `key:value` word whose value is a variable: the key
    /// and its separator (`uid=`).
    Field(&'a str),
    /// Any other word, verbatim.
    Word(&'a str),
}

/// One position of a template. Owns its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// The position varies: `<*>`.
    Var,
    /// A field whose value varies: the key and separator (`uid=` for `uid=<*>`).
    Field(Box<str>),
    /// A word every line of the template has here.
    Word(Box<str>),
}

impl Slot {
    /// Whether the line's `token` is this very word or field (a variable
    /// never is: it says the position varies).
    pub fn same(&self, token: &Token<'_>) -> bool {
        match (self, token) {
            (Slot::Field(a), Token::Field(b)) | (Slot::Word(a), Token::Word(b)) => **a == **b,
            _ => false,
        }
    }

    /// The bytes this slot keeps on the heap beyond its own size.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Slot::Var => 0,
            Slot::Field(text) | Slot::Word(text) => text.len(),
        }
    }
}

impl From<&Token<'_>> for Slot {
    fn from(token: &Token<'_>) -> Self {
        match *token {
            Token::Var => Slot::Var,
            Token::Field(key) => Slot::Field(key.into()),
            Token::Word(word) => Slot::Word(word.into()),
        }
    }
}

/// As written in a template: `<*>`, `uid=<*>` or the word. Reading the text
/// back with [`classify`] gives the same slot (see the tests), which is how
/// templates are stored.
impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Slot::Var => f.write_str(WILDCARD),
            Slot::Field(key) => write!(f, "{key}{WILDCARD}"),
            Slot::Word(word) => f.write_str(word),
        }
    }
}

/// Cuts `line` on whitespace into at most `max_tokens` pre-masked tokens,
/// written to `out` (cleared first). Longer lines are cut: the tail of a
/// very long line rarely names its kind, and the cut bounds work and memory.
pub fn tokenize<'a>(line: &'a str, max_tokens: usize, out: &mut Vec<Token<'a>>) {
    out.clear();
    // The signer's masked messages are collapsed already; ASCII lines (most)
    // split faster byte by byte.
    if line.is_ascii() {
        out.extend(line.split_ascii_whitespace().take(max_tokens).map(classify));
    } else {
        out.extend(line.split_whitespace().take(max_tokens).map(classify));
    }
}

/// Pre-masks one word: see the module documentation. One pass over its
/// bytes (this runs for every word of every message-only event).
pub fn classify(word: &str) -> Token<'_> {
    if word.len() > MAX_WORD_BYTES {
        return Token::Var;
    }
    let bytes = word.as_bytes();
    // A key is the bytes before the first byte that cannot be in one; it is
    // a field's key when that byte is the first `=` or `:`.
    let key_end = bytes
        .iter()
        .position(|&b| !is_key_byte(b))
        .unwrap_or(bytes.len());
    let separator = bytes.get(key_end).copied();
    if key_end > 0 && key_end + 1 < bytes.len() && matches!(separator, Some(b'=' | b':')) {
        // The separator is ASCII: the value starts on a character boundary.
        let value = &word[key_end + 1..];
        // `https://…` and `C:\…` are a URL and a path, not fields.
        let field = separator == Some(b'=') || !value.starts_with(['/', '\\']);
        if field {
            return if Shape::of(value).is_variable(value) {
                Token::Field(&word[..=key_end])
            } else {
                Token::Word(word)
            };
        }
    }
    if Shape::of(word).is_variable(word) {
        Token::Var
    } else {
        Token::Word(word)
    }
}

/// What pre-masking asks of a word, gathered in one pass.
#[derive(Default)]
struct Shape {
    digit: bool,
    upper: bool,
    lower: bool,
    angle: bool,
    /// `://` or `:\` somewhere: a URL or a Windows path.
    scheme_or_drive: bool,
}

impl Shape {
    fn of(word: &str) -> Self {
        let bytes = word.as_bytes();
        let mut shape = Shape::default();
        for (at, &byte) in bytes.iter().enumerate() {
            shape.digit |= byte.is_ascii_digit();
            shape.upper |= byte.is_ascii_uppercase();
            shape.lower |= byte.is_ascii_lowercase();
            shape.angle |= byte == b'<';
            if byte == b':' {
                let rest = &bytes[at + 1..];
                shape.scheme_or_drive |= rest.starts_with(b"//") || rest.starts_with(b"\\");
            }
        }
        shape
    }

    /// Whether a word (without a key) of this shape is a variable.
    fn is_variable(&self, word: &str) -> bool {
        (self.digit && (self.lower || !self.upper))
            || (self.angle && has_placeholder(word))
            || word.starts_with('/')
            || self.scheme_or_drive
    }
}

/// Whether `word` holds `<*>` or a mask placeholder: `<`, ASCII lower-case
/// letters, `>`.
fn has_placeholder(word: &str) -> bool {
    word.contains(WILDCARD)
        || word.match_indices('<').any(|(at, _)| {
            let rest = &word.as_bytes()[at + 1..];
            let letters = rest.iter().take_while(|b| b.is_ascii_lowercase()).count();
            letters > 0 && rest.get(letters) == Some(&b'>')
        })
}

/// A byte of a field name: letters, `_`, `-` and `.` (no digits, no slashes).
fn is_key_byte(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_' || byte == b'-' || byte == b'.'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_masks_placeholders_digits_paths_and_blobs() {
        for variable in [
            "<n>",
            "user_<id>",
            "(<ip>)",
            WILDCARD,
            "blk_-695229",
            "10.251.73.220:50010",
            "core.2275",
            "wl0:",
            "/etc/httpd/conf",
            "https://example.com",
            r"C:\Users",
            &"a".repeat(MAX_WORD_BYTES + 1),
        ] {
            assert_eq!(classify(variable), Token::Var, "{variable}");
        }
        for word in [
            "terminating",
            "E11000",
            "ORA-00942",
            "HTTP/1.1",
            "<html",
            "a<B>",
            "<>",
        ] {
            assert_eq!(classify(word), Token::Word(word), "{word}");
        }
    }

    #[test]
    fn fields_keep_their_key() {
        assert_eq!(classify("uid=<n>"), Token::Field("uid="));
        assert_eq!(classify("euid=0"), Token::Field("euid="));
        assert_eq!(classify("state:<q>"), Token::Field("state:"));
        assert_eq!(classify("ruser="), Token::Word("ruser="));
        assert_eq!(classify("mode=fast"), Token::Word("mode=fast"));
        assert_eq!(classify("code=E11000"), Token::Word("code=E11000"));
        assert_eq!(classify("url=https://x"), Token::Field("url="));
    }

    #[test]
    fn lines_are_cut_and_bounded() {
        let mut out = Vec::new();
        tokenize("  a  b\tc\n d ", 3, &mut out);
        assert_eq!(out, [Token::Word("a"), Token::Word("b"), Token::Word("c")]);
        tokenize("", 3, &mut out);
        assert!(out.is_empty());
    }

    proptest::proptest! {
        /// A slot written as text and classified again is the same slot:
        /// templates are stored as text.
        #[test]
        fn slots_read_back_from_their_text(word in "\\PC{0,12}|[a-z]{1,4}[=:][a-z0-9<>*]{0,4}") {
            let mut tokens = Vec::new();
            tokenize(&word, 64, &mut tokens);
            for token in &tokens {
                let slot = Slot::from(token);
                let text = slot.to_string();
                proptest::prop_assert_eq!(Slot::from(&classify(&text)), slot, "{}", text);
            }
        }
    }
}
