//! The coding agent's SEARCH/REPLACE blocks: a model's reply parsed into
//! edit blocks and applied to a small in-memory tree.
//!
//! Checked besides "no panic": the canonical rendering of parsed blocks
//! parses back to the same blocks; an applied reply reports every block and
//! returns only files its blocks named; a failed one names only real
//! blocks; applying is deterministic.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use suture_actors::domain::coder::apply::apply_edits;
use suture_actors::domain::coder::edits::{parse_edits, render_edits};

/// Paths the files may have: replies that name them find something.
const PATHS: [&str; 4] = ["app.py", "src/lib.rs", "a/b/c.txt", "README.md"];

#[derive(Debug, Arbitrary)]
struct Input {
    files: Vec<(u8, String)>,
    reply: String,
}

fuzz_target!(|input: Input| {
    let tree: BTreeMap<String, String> = input
        .files
        .into_iter()
        .map(|(path, content)| (PATHS[usize::from(path) % PATHS.len()].to_string(), content))
        .collect();
    let Ok(blocks) = parse_edits(&input.reply) else {
        return;
    };
    let rendered = render_edits(&blocks);
    let again = parse_edits(&rendered).expect("a rendered reply parses");
    assert_eq!(again.len(), blocks.len());
    for (a, b) in blocks.iter().zip(&again) {
        assert_eq!(
            (&a.path, &a.search, &a.replace),
            (&b.path, &b.search, &b.replace),
            "render/parse changed a block; rendered:\n{rendered}"
        );
    }
    let result = apply_edits(&tree, &blocks);
    assert_eq!(
        result,
        apply_edits(&tree, &blocks),
        "applying is deterministic"
    );
    match result {
        Ok(applied) => {
            assert_eq!(applied.blocks.len(), blocks.len());
            for (path, file) in &applied.files {
                assert!(blocks.iter().any(|b| &b.path == path));
                assert_eq!(file.created, !tree.contains_key(path.as_str()));
            }
        }
        Err(failure) => {
            assert_eq!(failure.total, blocks.len());
            assert!(!failure.failures.is_empty());
            for error in &failure.failures {
                assert!(blocks.iter().any(|b| b.index == error.index));
            }
        }
    }
});
