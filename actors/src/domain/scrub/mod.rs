//! Removing secrets from untrusted text before anything leaves the machine.
//!
//! Exception messages, stack traces and breadcrumbs carry whatever the
//! failing code had at hand: connection strings, tokens, customer emails.
//! Everything sent to an LLM (and, later, written into a ticket) goes
//! through a [`Scrubber`] first. Each secret becomes a typed placeholder
//! such as `[REDACTED:email]`, so a reader still sees *what* was there.
//!
//! The patterns are data: a built-in list ([`BuiltinKind`], each of which
//! `scrub.disabled` can turn off) plus `[[scrub.patterns]]` from the
//! configuration, all compiled once. Rules run in order, most specific
//! first (a private key before the emails inside it), and a placeholder
//! never matches a rule, so scrubbing twice changes nothing.
//!
//! Scrubbing errs on the side of removing too much: a version string that
//! looks like an IPv4 address or a `token: x` that was not a secret is
//! redacted too. The text only leaves for an LLM, never for grouping, so a
//! false positive costs a little context and a false negative leaks.

pub mod planted;

use std::borrow::Cow;
use std::net::Ipv6Addr;

use regex::{Captures, Regex};
use serde::{Deserialize, Deserializer, Serialize};

/// `[scrub]`: what is removed from untrusted text before it leaves.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScrubConfig {
    /// Built-in kinds to leave in place, e.g. `["ipv4"]` when addresses are
    /// internal and help the analysis. Every kind is on by default.
    pub disabled: Vec<BuiltinKind>,
    /// `[[scrub.patterns]]`: extra secrets of this deployment (internal token
    /// formats, customer ids), applied after the built-in ones.
    pub patterns: Vec<ExtraPattern>,
}

/// One configured pattern.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraPattern {
    /// Names the placeholder: `[REDACTED:<name>]`. Lowercase letters,
    /// digits and `_`, so a placeholder can never look like a secret.
    #[serde(deserialize_with = "placeholder_name")]
    pub name: String,
    /// A Rust `regex`. When it has a group named `secret`, only that group
    /// is replaced (`token_id=(?P<secret>\w+)` keeps `token_id=`).
    #[serde(deserialize_with = "valid_regex")]
    pub regex: String,
}

/// The built-in kinds of secret, each one placeholder name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuiltinKind {
    /// PEM private keys (`-----BEGIN ... PRIVATE KEY-----` to its END line,
    /// or to the end of the text when a trace cut it off).
    PrivateKey,
    /// JSON Web Tokens (`eyJ...` header, payload, signature).
    Jwt,
    /// The password in `scheme://user:password@host`.
    UrlPassword,
    /// Vendor API keys and tokens with a known prefix: OpenAI `sk-`, Stripe
    /// `sk_live_`/`rk_live_`/`whsec_`, GitHub `ghp_`/`gho_`/`ghu_`/`ghs_`/
    /// `ghr_`/`github_pat_`, Slack `xox[abposr]-`/`xapp-` and webhook URLs,
    /// GitLab `glpat-`, Hugging Face `hf_`, Google `AIza`.
    ApiKey,
    /// AWS access key ids (`AKIA`/`ASIA` and 16 characters).
    AwsKey,
    /// `Bearer <token>` and `Basic <credentials>`.
    Bearer,
    /// The value of `api_key=`, `token:`, `password=`, `secret=`... pairs.
    Secret,
    /// Email addresses.
    Email,
    /// Card-like numbers: 13 to 19 digits (spaces or dashes between),
    /// starting 2-6 as issued cards do, that pass the Luhn check.
    Card,
    /// IPv4 addresses.
    Ipv4,
    /// IPv6 addresses (validated with the standard parser; at least one
    /// digit, so `Foo::Bar` paths are left alone).
    Ipv6,
}

impl BuiltinKind {
    /// Every built-in kind, in the order the rules run.
    pub const ALL: [BuiltinKind; 11] = [
        BuiltinKind::PrivateKey,
        BuiltinKind::Jwt,
        BuiltinKind::UrlPassword,
        BuiltinKind::ApiKey,
        BuiltinKind::AwsKey,
        BuiltinKind::Bearer,
        BuiltinKind::Secret,
        BuiltinKind::Email,
        // Addresses before cards: a run of digit groups glued to an
        // address (`335500-0000-000 2001:db8::1`) can pass the card check,
        // and redacting it as a card took the address's first group and
        // left the rest unrecognisable (found by the fuzz target).
        BuiltinKind::Ipv4,
        BuiltinKind::Ipv6,
        BuiltinKind::Card,
    ];

    /// The name in the placeholder and in `scrub.disabled`.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinKind::PrivateKey => "private_key",
            BuiltinKind::Jwt => "jwt",
            BuiltinKind::UrlPassword => "url_password",
            BuiltinKind::ApiKey => "api_key",
            BuiltinKind::AwsKey => "aws_key",
            BuiltinKind::Bearer => "bearer",
            BuiltinKind::Secret => "secret",
            BuiltinKind::Email => "email",
            BuiltinKind::Card => "card",
            BuiltinKind::Ipv4 => "ipv4",
            BuiltinKind::Ipv6 => "ipv6",
        }
    }

    /// The rule's pattern, the group that holds the secret (0: the whole
    /// match) and an extra check on the matched secret.
    fn spec(self) -> (Cow<'static, str>, usize, Option<Check>) {
        // A placeholder inside a value (after an earlier rule) is matched as
        // a whole, so replacing it again gives the same text.
        //
        // An unquoted value runs to the end of its line (spaces and `;`
        // included: `password=correct horse battery`, `Pwd=a;b`) and stops
        // at a quote, `&`, `,`, a bracket or a newline; it never ends in a
        // space, so the text after it keeps its spacing. It never crosses a
        // line: a data block's last line must not reach the fence below it.
        const VALUE: &str = r#"(\[REDACTED:[a-z0-9_]+\]|[^\s"'`&,<>(){}\[\]](?:[^\r\n"'`&,<>(){}\[\]]*[^\s"'`&,<>(){}\[\]])?)"#;
        let (pattern, group, check): (&'static str, usize, Option<Check>) = match self {
            BuiltinKind::Secret => {
                return (
                    Cow::Owned(SECRET_PATTERN.replace("{VALUE}", VALUE)),
                    1,
                    None,
                );
            }
            BuiltinKind::PrivateKey => (
                r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\z)",
                0,
                None,
            ),
            BuiltinKind::Jwt => (
                r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
                0,
                None,
            ),
            BuiltinKind::UrlPassword => {
                (r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:([^\s/]+)@", 1, None)
            }
            BuiltinKind::ApiKey => (
                // Prefixes are distinctive enough to match inside a word
                // too (`STRIPE_KEY_sk_live_...`): no `\b` before them.
                concat!(
                    r"(?:\bsk-[A-Za-z0-9_-]{16,}",
                    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",
                    r"|gh[pousr]_[A-Za-z0-9]{20,}",
                    r"|github_pat_[A-Za-z0-9_]{20,}",
                    r"|xox[abposr]-[A-Za-z0-9-]{10,}",
                    r"|xapp-[0-9]+-[A-Za-z0-9-]{10,}",
                    r"|hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+",
                    r"|glpat-[A-Za-z0-9_-]{20,}",
                    r"|\bhf_[A-Za-z0-9]{30,}",
                    r"|whsec_[A-Za-z0-9+/=]{20,}",
                    r"|AIza[0-9A-Za-z_-]{30,})"
                ),
                0,
                None,
            ),
            BuiltinKind::AwsKey => (r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", 0, None),
            BuiltinKind::Bearer => (
                // Spaces or tabs only: a data line ending in `Bearer` must
                // not take the next line (a prompt's fence) as its token.
                r"(?i)\b(?:bearer|basic)[ \t]+([A-Za-z0-9._~+/-]{8,}=*)",
                1,
                None,
            ),
            BuiltinKind::Email => (
                r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
                0,
                None,
            ),
            // A whole run of digit groups, so a number glued to the card
            // by a space or dash cannot take part of it (see `card_in`).
            BuiltinKind::Card => (r"\b[0-9](?:[ -]?[0-9]){12,}\b", 0, Some(card_in)),
            BuiltinKind::Ipv4 => (
                r"\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\b",
                0,
                None,
            ),
            BuiltinKind::Ipv6 => (
                r"[0-9A-Fa-f]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:]*",
                0,
                Some(ipv6_in),
            ),
        };
        (Cow::Borrowed(pattern), group, check)
    }
}

/// Key-value pairs whose value is a secret; `{VALUE}` is the value's pattern.
///
/// The key may be JSON-escaped (`\"password\":\"x\"`, an event that quotes a
/// JSON body) and is separated from its value by spaces or tabs, never a
/// newline. Session cookies count: `session=`, `PHPSESSID=`, `connect.sid=`,
/// Rails' `_app_session=`, and a whole `Cookie:` header's first value.
const SECRET_PATTERN: &str = concat!(
    r#"(?i)\b[a-z0-9_.-]*(?:api[_-]?key|apikey|access[_-]?key|account[_-]?key|private[_-]?key"#,
    r#"|shared[_-]?access[_-]?key|secret|token|passw(?:or)?d|pwd|credentials?|session|sessid"#,
    r#"|\.sid|cookie)[a-z0-9_.-]*\\?["']?[ \t]*[:=][ \t]*\\?["']?{VALUE}"#
);

/// A check on a candidate: the whole text and the candidate's byte range;
/// the range of the secret inside it (maybe narrower), or `None`.
type Check = fn(&str, usize, usize) -> Option<(usize, usize)>;

/// Why a scrubber could not be built from its configuration.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScrubError {
    #[error("scrub.patterns[{index}] ({name:?}): invalid regex: {message}")]
    InvalidPattern {
        index: usize,
        name: String,
        message: String,
    },
    #[error("built-in scrub pattern {name} does not compile: {message}")]
    Builtin { name: &'static str, message: String },
    #[error("scrub.patterns[{index}]: invalid name {name:?}: use lowercase letters, digits and _")]
    InvalidName { index: usize, name: String },
}

/// One compiled rule.
#[derive(Debug)]
struct Rule {
    regex: Regex,
    /// The capture group replaced (0: the whole match).
    group: usize,
    placeholder: String,
    check: Option<Check>,
}

/// The compiled rules; cheap to share (`Arc`) and to call from any thread.
#[derive(Debug)]
pub struct Scrubber {
    rules: Vec<Rule>,
}

impl Scrubber {
    /// Compiles the built-in rules (less the disabled ones) and the
    /// configured patterns. A bad pattern is an error naming it.
    pub fn new(config: &ScrubConfig) -> Result<Self, ScrubError> {
        let mut rules = Vec::new();
        for kind in BuiltinKind::ALL {
            if config.disabled.contains(&kind) {
                continue;
            }
            let (pattern, group, check) = kind.spec();
            let regex = Regex::new(&pattern).map_err(|e| ScrubError::Builtin {
                name: kind.name(),
                message: e.to_string(),
            })?;
            rules.push(Rule {
                regex,
                group,
                placeholder: placeholder(kind.name()),
                check,
            });
        }
        for (index, extra) in config.patterns.iter().enumerate() {
            if !is_placeholder_name(&extra.name) {
                return Err(ScrubError::InvalidName {
                    index,
                    name: extra.name.clone(),
                });
            }
            let regex = Regex::new(&extra.regex).map_err(|e| ScrubError::InvalidPattern {
                index,
                name: extra.name.clone(),
                message: e.to_string(),
            })?;
            let group = regex
                .capture_names()
                .position(|n| n == Some("secret"))
                .unwrap_or(0);
            rules.push(Rule {
                regex,
                group,
                placeholder: placeholder(&extra.name),
                check: None,
            });
        }
        Ok(Self { rules })
    }

    /// The built-in rules only, every kind on.
    pub fn builtin() -> Self {
        match Self::new(&ScrubConfig::default()) {
            Ok(scrubber) => scrubber,
            // The built-in patterns are constants covered by the tests.
            Err(e) => panic!("built-in scrub patterns must compile: {e}"),
        }
    }

    /// `text` with every secret replaced by its placeholder. Borrowed when
    /// nothing was found.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut current: Cow<'a, str> = Cow::Borrowed(text);
        for rule in &self.rules {
            if let Some(replaced) = rule.apply(&current) {
                current = Cow::Owned(replaced);
            }
        }
        current
    }
}

impl Rule {
    /// The text with this rule applied, or `None` when nothing matched.
    fn apply(&self, text: &str) -> Option<String> {
        let mut out = String::new();
        let mut last = 0;
        let mut changed = false;
        for caps in self.regex.captures_iter(text) {
            let Some((start, end)) = secret_range(&caps, self.group) else {
                continue;
            };
            let (start, end) = match self.check {
                Some(check) => match check(text, start, end) {
                    Some(range) => range,
                    None => continue,
                },
                None => (start, end),
            };
            if start < last {
                continue;
            }
            out.push_str(text.get(last..start).unwrap_or_default());
            out.push_str(&self.placeholder);
            last = end;
            changed = true;
        }
        if !changed {
            return None;
        }
        out.push_str(text.get(last..).unwrap_or_default());
        Some(out)
    }
}

fn secret_range(caps: &Captures<'_>, group: usize) -> Option<(usize, usize)> {
    let m = caps.get(group)?;
    (!m.is_empty()).then(|| (m.start(), m.end()))
}

fn placeholder(name: &str) -> String {
    format!("[REDACTED:{name}]")
}

fn is_placeholder_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The card numbers inside a run of digit groups (digits with single
/// spaces or dashes between): spans of 13 to 19 digits that start and end
/// a digit group, start with 2-6 and pass the Luhn check. The secret is
/// from the first such span's start to the last one's end, so two cards in
/// one run both go. The pattern matches the whole run: matching 13 to 19
/// digits let a number glued to a card take part of it (in
/// `6579 5500-0000-0000-0004` the first match was `6579 5500-0000-0000`,
/// which holds no card, and the card's tail was left; found by the
/// scrubber fuzz target).
fn card_in(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let run = text.get(start..end)?;
    let digits: Vec<(usize, u8)> = run
        .bytes()
        .enumerate()
        .filter(|(_, b)| b.is_ascii_digit())
        .map(|(i, b)| (start + i, b))
        .collect();
    let group_start = |k: usize| {
        k == 0
            || digits
                .get(k - 1)
                .is_some_and(|(at, _)| *at + 1 != digits[k].0)
    };
    let mut found: Option<(usize, usize)> = None;
    for len in 13..=19usize {
        for first in 0..digits.len().saturating_sub(len - 1) {
            let last = first + len - 1;
            let ends_group = last + 1 == digits.len() || digits[last + 1].0 != digits[last].0 + 1;
            if !group_start(first) || !ends_group || !(b'2'..=b'6').contains(&digits[first].1) {
                continue;
            }
            let (from, to) = (digits[first].0, digits[last].0 + 1);
            if luhn_ok(text, from, to) {
                found = Some(found.map_or((from, to), |(a, b)| (a.min(from), b.max(to))));
            }
        }
    }
    found
}

/// The Luhn checksum of the digits in `text[start..end]`, which must be 13
/// to 19 of them: what every issued card number satisfies, and only one
/// random number in ten.
fn luhn_ok(text: &str, start: usize, end: usize) -> bool {
    let Some(candidate) = text.get(start..end) else {
        return false;
    };
    let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// An IPv6 candidate is an address when it stands alone (no word
/// character, `:` or `.` glued to either side), parses, and has a digit:
/// `dead::beef` parses too, but `Foo::Bar` paths in stack traces must stay.
fn ipv6_in(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    ipv6_ok(text, start, end).then_some((start, end))
}

fn ipv6_ok(text: &str, start: usize, end: usize) -> bool {
    let Some(candidate) = text.get(start..end) else {
        return false;
    };
    let glued = |c: char| c.is_alphanumeric() || c == '_' || c == ':' || c == '.';
    let before = text.get(..start).and_then(|s| s.chars().next_back());
    let after = text.get(end..).and_then(|s| s.chars().next());
    if before.is_some_and(glued) || after.is_some_and(glued) {
        return false;
    }
    candidate.bytes().any(|b| b.is_ascii_digit()) && candidate.parse::<Ipv6Addr>().is_ok()
}

fn valid_regex<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    Regex::new(&text).map_err(|e| serde::de::Error::custom(format!("invalid regex: {e}")))?;
    Ok(text)
}

fn placeholder_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    if !is_placeholder_name(&text) {
        return Err(serde::de::Error::custom(format!(
            "invalid name {text:?}: use lowercase letters, digits and _"
        )));
    }
    Ok(text)
}

#[cfg(test)]
mod tests;
