//! The template set as the signer uses it: placing lines, the bounds,
//! saving and restoring, and many threads at once.

use std::sync::Arc;

use super::*;

fn set() -> TemplateSet {
    TemplateSet::new(TemplateConfig::default())
}

fn placed(set: &TemplateSet, line: &str) -> TemplateId {
    set.place(line).expect("room for a template")
}

#[test]
fn lines_of_one_template_share_an_id_and_others_do_not() {
    let set = set();
    let a = placed(&set, "Connection closed by alice port <n>");
    let b = placed(&set, "Connection closed by bob port <n>");
    let c = placed(&set, "Accepted password for alice from <ip>");
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(
        set.template(a).as_deref(),
        Some("Connection closed by <*> port <*>")
    );
    assert_eq!(set.len(), 2);
}

#[test]
fn dissimilar_lines_of_one_leaf_get_their_own_ordinal() {
    let set = set();
    // Same count and first two words (one leaf), too little else in common.
    let a = placed(&set, "disk full on sda today");
    let b = placed(&set, "disk full quota exceeded everywhere");
    assert_eq!(a.leaf, b.leaf);
    assert_eq!((a.ordinal, b.ordinal), (0, 1));
}

#[test]
fn upper_case_codes_route_apart() {
    let set = set();
    let a = placed(&set, "E11000 duplicate key error collection");
    let b = placed(&set, "E11001 duplicate key error collection");
    assert_ne!(a, b);
}

#[test]
fn empty_long_and_unicode_lines_are_placed() {
    let set = set();
    assert_eq!(placed(&set, ""), placed(&set, "   "));
    let long = "wörd ".repeat(10_000);
    let id = placed(&set, &long);
    let template = set.template(id).expect("template");
    assert_eq!(
        template.split(' ').count(),
        TemplateConfig::default().max_tokens
    );
    placed(&set, "日本語 の メッセージ <n>");
    placed(&set, &"x".repeat(100_000));
}

#[test]
fn the_bounds_hold_and_known_templates_keep_working() {
    let config = TemplateConfig {
        max_templates: 3,
        ..TemplateConfig::default()
    };
    let set = TemplateSet::new(config);
    let first = placed(&set, "alpha alpha alpha");
    for word in ["beta", "gamma"] {
        placed(&set, &format!("{word} {word} {word}"));
    }
    assert_eq!(set.place("delta delta delta"), None, "no room left");
    assert_eq!(set.fallbacks(), 1);
    assert_eq!(set.len(), 3);
    assert_eq!(set.place("alpha alpha alpha"), Some(first));

    let tiny = TemplateSet::new(TemplateConfig {
        max_bytes: 200,
        ..TemplateConfig::default()
    });
    let mut placed_lines = 0;
    for n in 0..100u8 {
        // A leaf of its own per line: letters, no digits.
        let word: String = [b'a' + n % 26, b'a' + n / 26]
            .map(char::from)
            .iter()
            .collect();
        if tiny.place(&format!("{word} {word} c d")).is_some() {
            placed_lines += 1;
        }
    }
    assert!(tiny.bytes() <= 200, "{}", tiny.bytes());
    assert!((1..100).contains(&placed_lines), "{placed_lines}");

    let narrow = TemplateSet::new(TemplateConfig {
        max_leaf_templates: 2,
        ..TemplateConfig::default()
    });
    for tail in ["a b c d", "e f g h", "i j k l"] {
        let _ = narrow.place(&format!("same prefix {tail}"));
    }
    assert_eq!(narrow.len(), 2);
}

#[test]
fn unsaved_leaves_are_taken_until_saved_and_changes_keep_them_unsaved() {
    let set = set();
    let id = placed(&set, "login failed for alice");
    let unsaved = set.unsaved();
    assert_eq!(unsaved.len(), 1);
    assert_eq!(unsaved[0].templates, [["login", "failed", "for", "alice"]]);
    assert_eq!(set.unsaved(), unsaved, "taking does not clear");
    // A change after the snapshot: saving the snapshot leaves it unsaved.
    assert_eq!(placed(&set, "login failed for bob"), id);
    set.saved(&unsaved);
    let newer = set.unsaved();
    assert_eq!(newer.len(), 1);
    assert_eq!(newer[0].templates, [["login", "failed", "for", "<*>"]]);
    set.saved(&newer);
    assert!(set.unsaved().is_empty());
    assert_eq!(placed(&set, "login failed for carol"), id);
    assert!(set.unsaved().is_empty(), "a matching line changes nothing");
}

#[test]
fn a_restored_set_gives_the_same_ids_whatever_the_order() {
    let lines = [
        "disk full on sda today",
        "disk full on sdb today",
        "disk full quota exceeded everywhere",
        "session opened for user root by <q>",
        "session opened for user guest by <q>",
        "uid=<n> euid=<n> tty=NODEVssh",
        "",
    ];
    let set = set();
    let ids: Vec<TemplateId> = lines.iter().map(|l| placed(&set, l)).collect();
    let saved = set.unsaved();
    let (restored, report) = TemplateSet::restore(TemplateConfig::default(), saved.clone());
    assert_eq!(report.templates, set.len());
    assert_eq!(report.skipped, 0);
    assert!(restored.unsaved().is_empty(), "restored leaves are saved");
    for (line, id) in lines.iter().zip(&ids).rev() {
        assert_eq!(placed(&restored, line), *id, "{line}");
    }
    // Without the saved templates, the reverse order numbers one leaf's
    // templates the other way round.
    let fresh = TemplateSet::new(TemplateConfig::default());
    let reversed: Vec<TemplateId> = lines.iter().rev().map(|l| placed(&fresh, l)).collect();
    assert_ne!(reversed.into_iter().rev().collect::<Vec<_>>(), ids);
}

#[test]
fn a_damaged_leaf_is_skipped() {
    let set = set();
    placed(&set, "a b c");
    let mut saved = set.unsaved();
    saved[0].templates[0].pop();
    saved.push(SavedLeaf {
        key: vec![1, 2],
        templates: vec![],
        version: 0,
    });
    let (restored, report) = TemplateSet::restore(TemplateConfig::default(), saved);
    assert_eq!(report.skipped, 2);
    assert!(restored.is_empty());
}

#[test]
fn threads_learn_together_and_every_line_matches_its_template() {
    let set = Arc::new(set());
    let words = ["alice", "bob", "carol", "dave", "erin", "frank"];
    let threads: Vec<_> = (0..4)
        .map(|thread| {
            let set = set.clone();
            std::thread::spawn(move || {
                let mut placed = Vec::new();
                for n in 0..500 {
                    let who = words[(n * 7 + thread) % words.len()];
                    let line = match n % 3 {
                        0 => format!("user {who} logged in from <ip>"),
                        1 => format!("job {who} failed after <n> retries"),
                        _ => format!("{who} {who} {n}"),
                    };
                    let id = set.place(&line).expect("room");
                    placed.push((line, id));
                }
                placed
            })
        })
        .collect();
    for thread in threads {
        for (line, id) in thread.join().expect("no panic") {
            let template = set.template(id).expect("the id names a template");
            let mut tokens = Vec::new();
            token::tokenize(&line, 64, &mut tokens);
            assert_eq!(template.split(' ').count(), tokens.len(), "{line}");
            for (slot, token) in template.split(' ').zip(&tokens) {
                let slot = token::Slot::from(&token::classify(slot));
                assert!(
                    slot == token::Slot::Var || slot.same(token),
                    "{line} vs {template}"
                );
            }
        }
    }
}

proptest::proptest! {
    /// Templates only widen: every line a template took still matches it
    /// (same token count; equal or wildcard at every position).
    #[test]
    fn every_template_matches_all_its_lines(
        lines in proptest::collection::vec(
            proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("open".to_string()),
                    proptest::strategy::Just("close".to_string()),
                    proptest::strategy::Just("user".to_string()),
                    proptest::strategy::Just("uid=<n>".to_string()),
                    "[a-c]{1,2}",
                    "[0-9]{1,3}",
                ],
                0..6,
            ),
            0..60,
        )
    ) {
        let set = set();
        let mut assigned = Vec::new();
        for words in &lines {
            let line = words.join(" ");
            let id = placed(&set, &line);
            assigned.push((id, line));
        }
        for (id, line) in &assigned {
            let template = set.template(*id).expect("template");
            let mut tokens = Vec::new();
            token::tokenize(line, 64, &mut tokens);
            let slots: Vec<&str> = if template.is_empty() { Vec::new() } else { template.split(' ').collect() };
            proptest::prop_assert_eq!(slots.len(), tokens.len());
            for (slot, token) in slots.iter().zip(&tokens) {
                let slot = token::Slot::from(&token::classify(slot));
                proptest::prop_assert!(slot == token::Slot::Var || slot.same(token), "{} in {}", template, line);
            }
        }
    }
}
