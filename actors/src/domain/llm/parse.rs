//! Reading the model's answers: tolerant in finding the JSON, strict in
//! checking it.
//!
//! Models wrap JSON in code fences, add a sentence before or after, or nest
//! the answer in `{"result": ...}`; none of that changes the answer, so all
//! of it is accepted. What the JSON says is checked field by field (types,
//! enums, indices in range, signatures that exist), and a wrong answer is a
//! [`ParseError`] naming the field: the caller counts it against the
//! breaker, may ask once more, and otherwise takes the deterministic path.

use serde_json::{Map, Value};

/// Why an answer was not accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    #[error("the answer contains no JSON")]
    NoJson,
    #[error("the answer's JSON is not {expected}")]
    Shape { expected: &'static str },
    #[error("{field}: {problem}")]
    Field { field: String, problem: String },
}

fn field_error(field: impl Into<String>, problem: impl Into<String>) -> ParseError {
    ParseError::Field {
        field: field.into(),
        problem: problem.into(),
    }
}

/// Every JSON value the text could mean, most likely first: the whole text;
/// else each fenced block; else each top-level JSON value in the prose
/// (text before and after ignored). Values nested in one already found are
/// not offered again: a list of groups with one bad group must fail, not
/// pass as its one good group.
pub fn json_candidates(text: &str) -> Vec<Value> {
    let trimmed = text.trim();
    if let Ok(value) = serde_json::from_str::<Value>(trimmed) {
        return vec![value];
    }
    let fenced: Vec<Value> = fenced_blocks(trimmed)
        .into_iter()
        .filter_map(|block| serde_json::from_str::<Value>(block.trim()).ok())
        .collect();
    if !fenced.is_empty() {
        return fenced;
    }
    let mut found = Vec::new();
    let mut position = 0;
    // Bounded: a long answer of prose with many braces must stay cheap.
    for _ in 0..64 {
        let Some(rest) = trimmed.get(position..) else {
            break;
        };
        let Some(offset) = rest.find(['{', '[']) else {
            break;
        };
        let start = position + offset;
        let mut values =
            serde_json::Deserializer::from_str(trimmed.get(start..).unwrap_or_default())
                .into_iter::<Value>();
        match values.next() {
            Some(Ok(value)) => {
                found.push(value);
                position = start + values.byte_offset().max(1);
            }
            _ => position = start + 1,
        }
    }
    found
}

/// The contents of the ```` ``` ```` blocks in `text` (the info string after
/// the opening fence, such as `json`, is dropped).
fn fenced_blocks(text: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after_fence = rest.get(open + 3..).unwrap_or_default();
        let body_start = after_fence.find('\n').map_or(0, |n| n + 1);
        let body = after_fence.get(body_start..).unwrap_or_default();
        let Some(close) = body.find("```") else {
            break;
        };
        blocks.push(body.get(..close).unwrap_or_default());
        rest = body.get(close + 3..).unwrap_or_default();
    }
    blocks
}

/// Unwraps `{"result": x}` (and similar one-key wrappers) to `x`.
fn unwrap_wrappers(mut value: &Value) -> &Value {
    for _ in 0..4 {
        let Value::Object(map) = value else {
            return value;
        };
        match ["result", "output", "response", "answer", "data"]
            .iter()
            .find_map(|k| map.get(*k))
        {
            Some(inner) if map.len() == 1 => value = inner,
            _ => return value,
        }
    }
    value
}

/// A group's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

/// One root cause, as the analyzer prompt asks for it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AnalyzerGroup {
    pub root_cause: String,
    pub severity: Severity,
    /// Indices into the list of exceptions the prompt showed.
    pub affected_exceptions: Vec<usize>,
    pub suggested_fix: String,
    pub files_likely_involved: Vec<String>,
}

/// The analyzer's checked answer.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzerAnswer {
    pub groups: Vec<AnalyzerGroup>,
    /// Exceptions no group names; the caller groups them deterministically.
    pub uncovered: Vec<usize>,
}

/// Reads the analyzer's answer for `count` exceptions.
pub fn parse_analyzer(text: &str, count: usize) -> Result<AnalyzerAnswer, ParseError> {
    first_valid(
        text,
        "a list of groups or {\"groups\": [...]}",
        |value| match unwrap_wrappers(value) {
            Value::Array(items) => Some(check_groups(items, count)),
            Value::Object(map) => match map.get("groups") {
                Some(Value::Array(items)) => Some(check_groups(items, count)),
                Some(_) => Some(Err(field_error("groups", "not a list"))),
                None if map.contains_key("root_cause") => {
                    Some(check_groups(std::slice::from_ref(value), count))
                }
                None => None,
            },
            _ => None,
        },
    )
}

/// The first candidate `check` accepts; else the first error it gave
/// (the likeliest reading's), else a shape error. `check` answers `None`
/// for a value that is not even an attempt at the expected shape.
fn first_valid<T>(
    text: &str,
    expected: &'static str,
    check: impl Fn(&Value) -> Option<Result<T, ParseError>>,
) -> Result<T, ParseError> {
    let candidates = json_candidates(text);
    if candidates.is_empty() {
        return Err(ParseError::NoJson);
    }
    let mut first_error = None;
    for value in &candidates {
        match check(value) {
            Some(Ok(found)) => return Ok(found),
            Some(Err(e)) => {
                first_error.get_or_insert(e);
            }
            None => {}
        }
    }
    Err(first_error.unwrap_or(ParseError::Shape { expected }))
}

fn check_groups(items: &[Value], count: usize) -> Result<AnalyzerAnswer, ParseError> {
    let mut seen = vec![false; count];
    let mut groups = Vec::with_capacity(items.len());
    for (g, item) in items.iter().enumerate() {
        let at = |name: &str| format!("groups[{g}].{name}");
        let Value::Object(map) = item else {
            return Err(field_error(format!("groups[{g}]"), "not an object"));
        };
        let severity = match string(map, "severity", &at("severity"))?
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "critical" => Severity::Critical,
            "high" => Severity::High,
            "medium" => Severity::Medium,
            "low" => Severity::Low,
            other => {
                return Err(field_error(
                    at("severity"),
                    format!("{other:?} is not critical, high, medium or low"),
                ));
            }
        };
        let Some(Value::Array(raw_indices)) = map.get("affected_exceptions") else {
            return Err(field_error(
                at("affected_exceptions"),
                "missing or not a list",
            ));
        };
        if raw_indices.is_empty() {
            return Err(field_error(at("affected_exceptions"), "empty"));
        }
        let mut indices = Vec::with_capacity(raw_indices.len());
        for raw in raw_indices {
            let index = raw
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .ok_or_else(|| {
                    field_error(at("affected_exceptions"), format!("{raw} is not an index"))
                })?;
            let Some(slot) = seen.get_mut(index) else {
                return Err(field_error(
                    at("affected_exceptions"),
                    format!("{index} is out of range (0 to {})", count.saturating_sub(1)),
                ));
            };
            if *slot {
                return Err(field_error(
                    at("affected_exceptions"),
                    format!("{index} is already in another group"),
                ));
            }
            *slot = true;
            indices.push(index);
        }
        let files = match map.get("files_likely_involved") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(files)) => files
                .iter()
                .map(|f| {
                    f.as_str().map(str::to_string).ok_or_else(|| {
                        field_error(at("files_likely_involved"), format!("{f} is not a path"))
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(field_error(at("files_likely_involved"), "not a list")),
        };
        let root_cause = string(map, "root_cause", &at("root_cause"))?;
        if root_cause.trim().is_empty() {
            return Err(field_error(at("root_cause"), "empty"));
        }
        groups.push(AnalyzerGroup {
            root_cause,
            severity,
            affected_exceptions: indices,
            suggested_fix: string(map, "suggested_fix", &at("suggested_fix"))?,
            files_likely_involved: files,
        });
    }
    if groups.is_empty() && count > 0 {
        return Err(field_error("groups", "empty"));
    }
    let uncovered = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| !**s)
        .map(|(i, _)| i)
        .collect();
    Ok(AnalyzerAnswer { groups, uncovered })
}

fn string(map: &Map<String, Value>, key: &str, field: &str) -> Result<String, ParseError> {
    match map.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(field_error(field, format!("{other} is not a string"))),
        None => Err(field_error(field, "missing")),
    }
}

/// Triage's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    CausedByDeploy,
    NotCaused,
    Unsure,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::CausedByDeploy => "caused_by_deploy",
            Decision::NotCaused => "not_caused",
            Decision::Unsure => "unsure",
        }
    }
}

/// A changed line the verdict blames.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SuspectLine {
    pub file: String,
    pub line: Option<u64>,
    pub why: String,
}

/// Triage's checked answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TriageVerdict {
    pub decision: Decision,
    /// Between 0 and 1.
    pub confidence: f64,
    pub reasoning: String,
    /// Signature ids, each one of those the prompt showed.
    pub signatures: Vec<String>,
    pub suspect_lines: Vec<SuspectLine>,
}

/// Reads triage's answer; `known` are the signature ids the prompt showed.
pub fn parse_triage(text: &str, known: &[String]) -> Result<TriageVerdict, ParseError> {
    first_valid(text, "an object with a decision", |value| {
        let Value::Object(map) = unwrap_wrappers(value) else {
            return None;
        };
        let map = match (map.get("decision"), map.get("verdict")) {
            (None, Some(Value::Object(inner))) => inner,
            _ => map,
        };
        map.contains_key("decision")
            .then(|| check_verdict(map, known))
    })
}

fn check_verdict(map: &Map<String, Value>, known: &[String]) -> Result<TriageVerdict, ParseError> {
    let decision = match string(map, "decision", "decision")?.trim() {
        "caused_by_deploy" => Decision::CausedByDeploy,
        "not_caused" => Decision::NotCaused,
        "unsure" => Decision::Unsure,
        other => {
            return Err(field_error(
                "decision",
                format!("{other:?} is not caused_by_deploy, not_caused or unsure"),
            ));
        }
    };
    let confidence = match map.get("confidence") {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(other) => {
            return Err(field_error(
                "confidence",
                format!("{other} is not a number"),
            ));
        }
        None => return Err(field_error("confidence", "missing")),
    };
    if !(0.0..=1.0).contains(&confidence) {
        return Err(field_error(
            "confidence",
            format!("{confidence} is not between 0 and 1"),
        ));
    }
    let signatures = match map.get("signatures") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let Some(id) = item.as_str() else {
                    return Err(field_error(
                        "signatures",
                        format!("{item} is not a signature id"),
                    ));
                };
                if !known.iter().any(|k| k == id) {
                    return Err(field_error(
                        "signatures",
                        format!("{id:?} was not in the prompt"),
                    ));
                }
                out.push(id.to_string());
            }
            out
        }
        Some(_) => return Err(field_error("signatures", "not a list")),
    };
    let suspect_lines = match map.get("suspect_lines") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| suspect_line(item, i))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(field_error("suspect_lines", "not a list")),
    };
    Ok(TriageVerdict {
        decision,
        confidence,
        reasoning: string(map, "reasoning", "reasoning")?,
        signatures,
        suspect_lines,
    })
}

fn suspect_line(item: &Value, i: usize) -> Result<SuspectLine, ParseError> {
    let at = |name: &str| format!("suspect_lines[{i}].{name}");
    let Value::Object(map) = item else {
        return Err(field_error(format!("suspect_lines[{i}]"), "not an object"));
    };
    let line = match map.get("line") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_u64()
                .ok_or_else(|| field_error(at("line"), format!("{n} is not a line number")))?,
        ),
        Some(other) => {
            return Err(field_error(
                at("line"),
                format!("{other} is not a line number"),
            ));
        }
    };
    let why = match map.get("why") {
        None | Some(Value::Null) => String::new(),
        Some(_) => string(map, "why", &at("why"))?,
    };
    Ok(SuspectLine {
        file: string(map, "file", &at("file"))?,
        line,
        why,
    })
}

#[cfg(test)]
mod tests;
