//! Grouping accuracy of message-only signing on Loghub-2k.
//!
//! For every system folder under the data directory (default
//! `../shared/data/loghub-2k`, or the first argument), reads
//! `<System>/<System>_2k.log_structured.csv`, signs each line's `Content` as
//! a message-only event with a [`Signer`] of the default configuration (the
//! same for every system; its templates empty at each system's start), and
//! scores the grouping by signature id against `EventId`. This is the path
//! a GELF line takes: masks, then the template set, then the id.
//!
//! Grouping accuracy (He et al. 2017, the Loghub definition): a line is
//! correct when the set of lines grouped with it equals exactly the set of
//! lines sharing its true template. Prints one row per system (lines, true
//! templates, groups found, templates learned, GA), the mean, and how many
//! lines per second were signed (wall time of `sign`, learning from empty).
//!
//! Run with
//! `cargo run --release -p suture-actors --example loghub_grouping -- /work/shared/data/loghub-2k`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use suture_actors::domain::event::Event;
use suture_actors::domain::signature::{SignatureConfig, Signer};
use suture_actors::domain::template::TemplateSet;

fn main() -> ExitCode {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("../shared/data/loghub-2k"), PathBuf::from);
    let mut systems: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) => {
            eprintln!("cannot read {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    systems.sort();
    let config = SignatureConfig::default();
    let Some(template_config) = config.template_config() else {
        eprintln!("templates are off in the default configuration");
        return ExitCode::FAILURE;
    };
    let base = match Signer::new(&config) {
        Ok(signer) => signer,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut total = 0.0;
    let mut scored = 0usize;
    let mut signed_lines = 0usize;
    let mut signing = std::time::Duration::ZERO;
    println!(
        "{:<12} {:>6} {:>9} {:>9} {:>9} {:>8}",
        "system", "lines", "true", "found", "templates", "GA"
    );
    for system in &systems {
        let path = dir
            .join(system)
            .join(format!("{system}_2k.log_structured.csv"));
        let rows = match read_rows(&path) {
            Ok(rows) => rows,
            Err(e) => {
                eprintln!("skipping {system}: {e}");
                continue;
            }
        };
        let templates = Arc::new(TemplateSet::new(template_config.clone()));
        let signer = base.clone().with_templates(Some(templates.clone()));
        let events: Vec<Event> = rows
            .iter()
            .map(|(content, _)| Event {
                message: content.clone(),
                ..Event::default()
            })
            .collect();
        let started = Instant::now();
        let found: Vec<String> = events.iter().map(|e| signer.sign(e).id).collect();
        signing += started.elapsed();
        signed_lines += rows.len();
        let truth: Vec<&str> = rows.iter().map(|(_, id)| id.as_str()).collect();
        let ga = grouping_accuracy(&found, &truth);
        let true_groups = truth.iter().collect::<HashSet<_>>().len();
        let groups = found.iter().collect::<HashSet<_>>().len();
        println!(
            "{system:<12} {:>6} {true_groups:>9} {groups:>9} {:>9} {ga:>8.3}",
            rows.len(),
            templates.len()
        );
        total += ga;
        scored += 1;
    }
    if scored == 0 {
        eprintln!("no system found under {}", dir.display());
        return ExitCode::FAILURE;
    }
    println!(
        "{:<12} {:>6} {:>9} {:>9} {:>9} {:>8.3}",
        "mean",
        "",
        "",
        "",
        "",
        total / scored as f64
    );
    // Signing speed on one core, cold (every system starts with no
    // templates, so this includes learning them): a floor for the steady state.
    println!(
        "signed {signed_lines} lines in {:.1} ms: {:.0} lines/s (one core, learning from empty)",
        signing.as_secs_f64() * 1e3,
        signed_lines as f64 / signing.as_secs_f64().max(f64::EPSILON)
    );
    ExitCode::SUCCESS
}

/// Fraction of lines whose found group holds exactly the lines of their true
/// group. Equivalently: a found group counts (with all its lines) when all its
/// lines share one true template and no other line has that template.
fn grouping_accuracy(found: &[String], truth: &[&str]) -> f64 {
    if found.is_empty() {
        return 0.0;
    }
    let mut truth_size: HashMap<&str, usize> = HashMap::new();
    for t in truth {
        *truth_size.entry(t).or_default() += 1;
    }
    // Found group -> (true templates seen, lines).
    let mut groups: BTreeMap<&str, (HashMap<&str, usize>, usize)> = BTreeMap::new();
    for (f, t) in found.iter().zip(truth) {
        let group = groups.entry(f.as_str()).or_default();
        *group.0.entry(t).or_default() += 1;
        group.1 += 1;
    }
    let correct: usize = groups
        .values()
        .filter_map(|(templates, lines)| {
            let mut it = templates.iter();
            match (it.next(), it.next()) {
                (Some((t, _)), None) if truth_size.get(t) == Some(lines) => Some(*lines),
                _ => None,
            }
        })
        .sum();
    correct as f64 / found.len() as f64
}

/// `(Content, EventId)` of every row: the third- and second-last fields (the
/// leading columns differ by system; the last two are always `EventId` and
/// `EventTemplate`).
fn read_rows(path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let records = parse_csv(&text);
    let mut rows = Vec::new();
    for (n, record) in records.into_iter().enumerate().skip(1) {
        if record.len() < 3 {
            return Err(format!(
                "{}: record {n} has {} fields",
                path.display(),
                record.len()
            ));
        }
        let k = record.len();
        rows.push((record[k - 3].clone(), record[k - 2].clone()));
    }
    Ok(rows)
}

/// RFC 4180 CSV: fields separated by commas, quoted fields may hold commas,
/// newlines and doubled quotes.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => record.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}
