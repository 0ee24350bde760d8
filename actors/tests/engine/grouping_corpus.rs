//! The grouping corpus: `corpus/grouping.json` lists events under the name of
//! the bug they are (`{ "group": ..., "note": ..., "event": {...} }`). Events
//! of one group must share a signature and events of different groups must
//! not. Notes document the grouping choices the corpus pins down.
//!
//! The corpus leaves out `id`, `received_at_ms` and `timestamp_ms`, which
//! `Event` requires but grouping never reads; they are filled in here.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::{Value, json};
use suture_actors::domain::event::Event;
use suture_actors::domain::signature::{Signature, SignatureConfig, Signer};

const CORPUS: &str = include_str!("../corpus/grouping.json");

#[derive(Deserialize)]
struct Entry {
    group: String,
    event: Value,
}

struct Signed {
    group: String,
    signature: Signature,
}

fn load() -> Vec<(String, Event)> {
    let entries: Vec<Entry> = serde_json::from_str(CORPUS).expect("corpus is valid JSON");
    entries
        .into_iter()
        .enumerate()
        .map(|(index, entry)| {
            let mut event = entry.event;
            let fields = event.as_object_mut().expect("each event is a JSON object");
            fields
                .entry("id")
                .or_insert_with(|| json!(format!("{index:032x}")));
            fields
                .entry("received_at_ms")
                .or_insert(json!(1_767_225_600_000_i64));
            fields
                .entry("timestamp_ms")
                .or_insert(json!(1_767_225_600_000_i64));
            let event: Event = serde_json::from_value(event).unwrap_or_else(|e| {
                panic!("event #{index} ({}) is not an Event: {e}", entry.group)
            });
            (entry.group, event)
        })
        .collect()
}

fn describe(index: usize, signed: &Signed) -> String {
    let s = &signed.signature;
    format!(
        "    #{index} id={} basis={:?} title={:?} culprit={:?}",
        s.id, s.basis, s.title, s.culprit
    )
}

/// Groups whose events got more than one signature.
fn splits(signed: &[Signed]) -> String {
    let mut by_group: BTreeMap<&str, BTreeMap<&str, Vec<usize>>> = BTreeMap::new();
    for (index, s) in signed.iter().enumerate() {
        by_group
            .entry(&s.group)
            .or_default()
            .entry(&s.signature.id)
            .or_default()
            .push(index);
    }
    let mut report = String::new();
    for (group, ids) in by_group.iter().filter(|(_, ids)| ids.len() > 1) {
        let _ = writeln!(
            report,
            "SPLIT: group {group:?} has {} signatures:",
            ids.len()
        );
        for indices in ids.values() {
            for &index in indices {
                let _ = writeln!(report, "{}", describe(index, &signed[index]));
            }
        }
    }
    report
}

/// Signatures shared by events of different groups.
fn merges(signed: &[Signed]) -> String {
    let mut by_id: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for s in signed {
        by_id.entry(&s.signature.id).or_default().insert(&s.group);
    }
    let mut report = String::new();
    for (id, groups) in by_id.iter().filter(|(_, groups)| groups.len() > 1) {
        let _ = writeln!(
            report,
            "MERGED: signature {id} is shared by groups {groups:?}:"
        );
        for (index, s) in signed.iter().enumerate() {
            if s.signature.id == *id {
                let _ = writeln!(report, "{}", describe(index, s));
            }
        }
    }
    report
}

#[test]
fn corpus_groups_exactly_by_signature() {
    let events = load();
    let groups: BTreeSet<&str> = events.iter().map(|(group, _)| group.as_str()).collect();
    assert!(
        groups.len() >= 40,
        "corpus has only {} groups",
        groups.len()
    );
    assert!(
        events.len() >= 150,
        "corpus has only {} events",
        events.len()
    );
    assert!(
        groups
            .iter()
            .all(|g| events.iter().filter(|(e, _)| e == g).count() >= 2),
        "every group needs at least two variants"
    );

    let signer = Signer::new(&SignatureConfig::default()).expect("default config compiles");
    let signed: Vec<Signed> = events
        .into_iter()
        .map(|(group, event)| Signed {
            group,
            signature: signer.sign(&event),
        })
        .collect();

    let report = splits(&signed) + &merges(&signed);
    assert!(report.is_empty(), "grouping corpus failed:\n{report}");
}
