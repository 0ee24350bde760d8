//! The dependency rule of `actors/src/lib.rs`, enforced: every `crate::`
//! path and every outside crate a file names is checked against what its
//! layer may use, and the module graph must have no cycle. A failure names
//! the file and line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Which `crate::` layers each layer may name.
fn allowed_layers(layer: &str) -> &'static [&'static str] {
    match layer {
        "engine" => &[
            "engine",
            "stages",
            "control",
            "store",
            "clients",
            "runtime",
            "domain",
            "telemetry",
            "clock",
            "config",
        ],
        "stages" => &[
            "stages",
            "control",
            "store",
            "clients",
            "runtime",
            "domain",
            "telemetry",
            "clock",
            "config",
        ],
        "control" => &["control", "store", "domain", "telemetry", "clock", "config"],
        "store" => &["store", "domain", "telemetry", "clock", "config"],
        "clients" => &["clients", "domain", "telemetry", "clock"],
        "runtime" => &["runtime"],
        "domain" => &["domain"],
        "config" => &["config", "domain", "clients"],
        "telemetry" | "clock" => &[],
        _ => &[],
    }
}

/// Outside crates and std paths a layer must not name.
fn forbidden_externals(layer: &str) -> &'static [&'static str] {
    match layer {
        "domain" => &[
            "tokio::",
            "ractor::",
            "sled::",
            "reqwest::",
            "octocrab::",
            "async_openai::",
            "TcpStream",
            "TcpListener",
            "UdpSocket",
            "std::process::",
            "Instant::now",
            "SystemTime::now",
            "metrics::",
        ],
        "store" => &["ractor::", "reqwest::", "octocrab::", "async_openai::"],
        "clients" => &["ractor::", "sled::"],
        "control" => &["reqwest::", "octocrab::", "async_openai::"],
        "runtime" => &["sled::", "reqwest::", "octocrab::", "async_openai::"],
        _ => &[],
    }
}

/// The one allowed exception: the debounce rule runs on tokio's clock type
/// so the queue's tests can pause time.
/// The other is not code: a guardrail's regex that recognises test markers
/// such as `#[tokio::test]` in a fix's diff.
const EXCEPTIONS: &[(&str, &str)] = &[
    ("domain/debounce.rs", "tokio::time::Instant"),
    ("domain/coder/guardrails.rs", "(?:tokio::)?test"),
];

/// The order of the loop: a stage may name only itself or a later stage.
const STAGE_ORDER: &[&str] = &["ingest", "queue", "gate", "analyzer", "triage", "coder"];

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `domain/gate/decide.rs` → ("domain", "domain::gate").
fn module_of(relative: &str) -> (String, String) {
    let parts: Vec<&str> = relative.trim_end_matches(".rs").split('/').collect();
    let layer = parts[0].to_string();
    let module = match parts.as_slice() {
        [one] => one.to_string(),
        [layer, "mod"] => layer.to_string(),
        [layer, second, ..] => format!("{layer}::{second}"),
        [] => String::new(),
    };
    (layer, module)
}

/// The code lines of a file: comments dropped, and nothing from the first
/// `#[cfg(test)]` on (tests may use what they like).
fn code_lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let code = line.split("//").next().unwrap_or(line);
        out.push((index + 1, code));
    }
    out
}

/// Every `crate::a::b` path on a line, as (a, b).
fn crate_paths(line: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let before_ok = at == 0 || {
            let c = rest.as_bytes()[at - 1];
            !(c.is_ascii_alphanumeric() || c == b'_' || c == b':')
        };
        rest = &rest[at + "crate::".len()..];
        if !before_ok {
            continue;
        }
        let segment = |s: &str| -> String {
            s.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        };
        let first = segment(rest);
        let after = &rest[first.len()..];
        let second = after
            .strip_prefix("::")
            .map(segment)
            .filter(|s| !s.is_empty() && s.chars().next().is_some_and(|c| c.is_lowercase()));
        out.push((first, second));
    }
    out
}

struct Scan {
    violations: Vec<String>,
    edges: BTreeMap<String, BTreeSet<String>>,
}

fn scan() -> Scan {
    let root = source_root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    let mut scan = Scan {
        violations: Vec::new(),
        edges: BTreeMap::new(),
    };
    for path in files {
        let relative = path
            .strip_prefix(&root)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        if relative == "lib.rs" || relative.ends_with("tests.rs") {
            continue;
        }
        let (layer, module) = module_of(&relative);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let display = format!("actors/src/{relative}");
        for (number, line) in code_lines(&text) {
            for (target_layer, second) in crate_paths(line) {
                let target = match &second {
                    Some(s)
                        if !["clock", "config", "telemetry"].contains(&target_layer.as_str()) =>
                    {
                        format!("{target_layer}::{s}")
                    }
                    _ => target_layer.clone(),
                };
                if target != module {
                    scan.edges
                        .entry(module.clone())
                        .or_default()
                        .insert(target.clone());
                }
                if !allowed_layers(&layer).contains(&target_layer.as_str()) {
                    scan.violations.push(format!(
                        "{display}:{number}: the {layer} layer may not use crate::{target_layer} ({})",
                        line.trim()
                    ));
                }
                if layer == "stages" && target_layer == "stages" {
                    let from = module.strip_prefix("stages::").unwrap_or("");
                    let to = second.as_deref().unwrap_or("");
                    let rank = |m: &str| STAGE_ORDER.iter().position(|s| *s == m);
                    if let (Some(a), Some(b)) = (rank(from), rank(to))
                        && b < a
                    {
                        scan.violations.push(format!(
                            "{display}:{number}: stage {from} may not use the earlier stage {to}"
                        ));
                    }
                }
            }
            for forbidden in forbidden_externals(&layer) {
                let excepted = EXCEPTIONS
                    .iter()
                    .any(|(file, what)| relative == *file && line.contains(what));
                if line.contains(forbidden) && !excepted {
                    scan.violations.push(format!(
                        "{display}:{number}: the {layer} layer may not use {forbidden} ({})",
                        line.trim()
                    ));
                }
            }
        }
    }
    scan
}

#[test]
fn every_import_follows_the_dependency_rule() {
    let scan = scan();
    assert!(
        scan.violations.is_empty(),
        "forbidden imports (see the rule in actors/src/lib.rs):\n{}",
        scan.violations.join("\n")
    );
}

/// Finds one cycle, as the modules on it.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(cycle) = visit(node, edges, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn modules_import_each_other_in_no_circle() {
    let scan = scan();
    assert!(scan.edges.len() > 20, "the scan found the modules");
    if let Some(cycle) = find_cycle(&scan.edges) {
        panic!("import cycle: {}", cycle.join(" → "));
    }
}

#[test]
fn the_rule_checker_catches_a_forbidden_import() {
    // The checker itself, on lines it must refuse.
    assert_eq!(
        crate_paths("use crate::store::Store; x::crate::no"),
        vec![("store".to_string(), None)]
    );
    assert_eq!(
        crate_paths("crate::domain::gate::decide"),
        vec![("domain".to_string(), Some("gate".to_string()))]
    );
    assert!(!allowed_layers("domain").contains(&"store"));
    assert!(forbidden_externals("domain").contains(&"tokio::"));
    let mut edges = BTreeMap::new();
    edges.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    edges.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(
        find_cycle(&edges),
        Some(vec!["a".into(), "b".into(), "a".into()])
    );
}

/// Every metric the code records is in the catalogue, and the catalogue
/// lists nothing the code does not record: the description and the metric
/// cannot drift apart.
#[test]
fn every_metric_is_described_once() {
    let catalogue: BTreeSet<&str> = suture_actors::telemetry::METRICS
        .iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(
        catalogue.len(),
        suture_actors::telemetry::METRICS.len(),
        "a metric is listed twice"
    );
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    rust_files(&workspace.join("src"), &mut files);
    rust_files(&workspace.join("actors/src"), &mut files);
    let mut used = BTreeSet::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for macro_name in ["counter!(", "gauge!(", "histogram!("] {
            let mut rest = text.as_str();
            while let Some(at) = rest.find(macro_name) {
                rest = &rest[at + macro_name.len()..];
                let literal = rest.trim_start();
                if let Some(body) = literal.strip_prefix('"') {
                    let name: String = body.chars().take_while(|c| *c != '"').collect();
                    if name.starts_with("suture_") {
                        used.insert((name, path.display().to_string()));
                    }
                }
            }
        }
    }
    let missing: Vec<String> = used
        .iter()
        .filter(|(name, _)| !catalogue.contains(name.as_str()))
        .map(|(name, file)| format!("{name} (recorded in {file})"))
        .collect();
    assert!(
        missing.is_empty(),
        "metrics missing from suture_actors::telemetry::METRICS: {missing:?}"
    );
    let recorded: BTreeSet<&str> = used.iter().map(|(n, _)| n.as_str()).collect();
    let unused: Vec<&&str> = catalogue
        .iter()
        .filter(|n| !recorded.contains(**n))
        .collect();
    assert!(
        unused.is_empty(),
        "catalogued but never recorded: {unused:?}"
    );
}
