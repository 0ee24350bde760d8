//! The signer (event -> signature) and the log-template learner behind it.
//!
//! Checked besides "no panic", on a sequence of events:
//! - a signer that has seen earlier events (its caches warm) groups each
//!   event exactly as a fresh one does (templates off, so grouping depends
//!   on the event alone);
//! - ids are 16 lowercase hex characters, titles within their bound;
//! - the template learner stays within its bounds, every id it returns
//!   names a template, and its saved leaves restore to the same templates.
#![no_main]

use std::sync::{Arc, LazyLock};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use suture_actors::domain::signature::{SignatureBasis, SignatureConfig, Signer};
use suture_actors::domain::template::{TemplateConfig, TemplateSet};
use suture_actors::{Event, Frame};

#[derive(Debug, Arbitrary)]
struct FuzzFrame {
    filename: Option<String>,
    function: Option<String>,
    module: Option<String>,
    lineno: Option<u32>,
    colno: Option<u32>,
    in_app: Option<bool>,
}

#[derive(Debug, Arbitrary)]
struct FuzzEvent {
    exception_type: Option<String>,
    message: String,
    frames: Vec<FuzzFrame>,
    raw_stack: Option<String>,
    module: Option<String>,
    function: Option<String>,
    fingerprint: Option<Vec<String>>,
    platform: Option<String>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    max_templates: u8,
    max_leaf_templates: u8,
    max_kib: u8,
    events: Vec<FuzzEvent>,
}

fn event(e: FuzzEvent) -> Event {
    Event {
        id: "0".repeat(32),
        exception_type: e.exception_type,
        message: e.message,
        frames: e
            .frames
            .into_iter()
            .map(|f| Frame {
                filename: f.filename,
                function: f.function,
                module: f.module,
                lineno: f.lineno,
                colno: f.colno,
                in_app: f.in_app,
            })
            .collect(),
        raw_stack: e.raw_stack,
        module: e.module,
        function: e.function,
        fingerprint: e.fingerprint,
        platform: e.platform,
        source: "fuzz".into(),
        ..Event::default()
    }
}

/// The masks compile once; a clone compiles nothing and starts with empty
/// caches, so each input starts from the same state.
static FRESH: LazyLock<Signer> = LazyLock::new(|| {
    let config = SignatureConfig {
        templates: false,
        ..SignatureConfig::default()
    };
    Signer::new(&config).expect("the default masks compile")
});

fuzz_target!(|input: Input| {
    let config = SignatureConfig::default();
    let fresh = &*FRESH;
    let warm = fresh.clone();
    let learning = fresh.clone().with_templates(
        config
            .template_config()
            .map(|c| Arc::new(TemplateSet::new(c))),
    );
    let template_config = TemplateConfig {
        max_templates: usize::from(input.max_templates),
        max_leaf_templates: usize::from(input.max_leaf_templates),
        max_bytes: usize::from(input.max_kib) * 1024,
        ..TemplateConfig::default()
    };
    let learner = TemplateSet::new(template_config.clone());
    let mut placed = Vec::new();
    for e in input.events {
        let event = event(e);
        let expected = fresh.clone().sign(&event);
        let got = warm.sign(&event);
        assert_eq!(got.id, expected.id, "a warm signer grouped differently");
        assert_eq!(got.basis, expected.basis);
        if got.basis == SignatureBasis::Message {
            assert_eq!(got.title, expected.title);
        }
        for signature in [&got, &learning.sign(&event)] {
            assert_eq!(signature.id.len(), 16, "{signature:?}");
            assert!(
                signature
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{signature:?}"
            );
            assert!(signature.title.chars().count() <= config.max_title_chars);
        }
        let masked = fresh.mask(&event.message);
        if let Some(id) = learner.place(&masked) {
            assert!(learner.template(id).is_some(), "{id:?} names no template");
            placed.push(id);
        }
        assert!(learner.len() <= template_config.max_templates);
        assert!(learner.bytes() <= template_config.max_bytes);
    }
    let (restored, report) = TemplateSet::restore(template_config, learner.unsaved());
    assert_eq!(report.skipped, 0, "a saved leaf did not restore");
    assert_eq!(restored.len(), learner.len());
    for id in placed {
        assert_eq!(restored.template(id), learner.template(id));
    }
});
