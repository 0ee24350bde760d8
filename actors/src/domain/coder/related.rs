//! Tests related to the files on the stack, found by name: where the coding
//! agent should add its regression test, and which tests show the code's
//! intended behaviour.
//!
//! Every test-naming convention of the languages Suture outlines is read
//! back to the name of the file it tests (its *subject*):
//!
//! | convention | test file | subject |
//! |---|---|---|
//! | pytest, unittest | `tests/test_orders.py`, `orders_test.py` | `orders` |
//! | Jest, Mocha, node:test, Vitest | `test/cart.test.js`, `cart.spec.ts`, `__tests__/cart.js` | `cart` |
//! | Go | `cart_test.go` | `cart` |
//! | Rust integration tests | `tests/cart.rs`, `tests/cart_test.rs` | `cart` |
//! | JUnit | `OrderServiceTest.java`, `OrderServiceTests.java`, `OrderServiceIT.java`, `TestOrderService.java` | `orderservice` |
//! | RSpec, Minitest | `spec/order_spec.rb`, `test/order_test.rb` | `order` |
//!
//! Subjects and file names are compared case-insensitively without `_`, `-`
//! and `.`. A test ranks higher when its subject is the file's name (rather
//! than containing it: `test_orders_api.py` for `orders.py`), when it is in
//! the same language, when it shares directories with the file (the
//! `src/main/java/com/shop` of a JUnit test mirroring its class), and when
//! it sits next to it (same folder, a `__tests__` folder inside it, or a
//! test folder beside it). Pure and bounded: at most [`MAX_RELATED`] tests
//! for the first [`MAX_SOURCES`] files.

use std::collections::BTreeMap;

use super::outline::Language;

/// Tests returned.
pub const MAX_RELATED: usize = 8;

/// Files on the stack looked at (crash site first).
pub const MAX_SOURCES: usize = 10;

/// Folder names that hold tests.
const TEST_DIRS: &[&str] = &["test", "tests", "__tests__", "spec", "specs", "testing"];

/// Folder names too common to say two paths are about the same code.
const GENERIC_DIRS: &[&str] = &[
    "src",
    "lib",
    "app",
    "main",
    "java",
    "kotlin",
    "resources",
    "test",
    "tests",
    "__tests__",
    "spec",
    "specs",
    "testing",
    "unit",
    "integration",
    "pkg",
    "internal",
];

/// File names that name their folder rather than themselves.
const FOLDER_FILES: &[&str] = &["__init__", "index", "mod", "lib", "main"];

/// Files in test folders that are not tests of one file.
const NOT_SUBJECTS: &[&str] = &[
    "__init__", "conftest", "mod", "main", "lib", "index", "helpers", "helper", "utils", "setup",
    "fixtures", "common",
];

/// A test file and the file on the stack it was found for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelatedTest {
    pub path: String,
    /// The file on the stack it tests.
    pub source: String,
    /// Higher is closer (for ordering only).
    pub score: u32,
}

/// The tests among `paths` (the repository's tracked files) related by
/// name to `sources` (files on the stack, crash site first), best first.
pub fn related_tests<'a>(
    paths: impl IntoIterator<Item = &'a str>,
    sources: &[String],
) -> Vec<RelatedTest> {
    let tests: Vec<(&str, Language, String)> = paths
        .into_iter()
        .filter_map(|path| Some((path, Language::of(path)?, test_subject(path)?)))
        .collect();
    // Best score per test path, with its source's index for ordering.
    let mut best: BTreeMap<&str, (u32, usize, &str)> = BTreeMap::new();
    for (index, source) in sources.iter().take(MAX_SOURCES).enumerate() {
        let Some(language) = Language::of(source) else {
            continue;
        };
        if test_subject(source).is_some() {
            continue;
        }
        let stems = source_stems(source);
        for (path, test_language, subject) in &tests {
            if *test_language != language {
                continue;
            }
            let Some(strength) = stems.iter().map(|stem| name_match(subject, stem)).max() else {
                continue;
            };
            if strength == 0 {
                continue;
            }
            let score = strength + shared_dirs(path, source) + nearby(path, source);
            let entry = best.entry(path).or_insert((score, index, source.as_str()));
            if score > entry.0 {
                *entry = (score, index, source.as_str());
            }
        }
    }
    let mut found: Vec<(u32, usize, RelatedTest)> = best
        .into_iter()
        .map(|(path, (score, index, source))| {
            let test = RelatedTest {
                path: path.to_string(),
                source: source.to_string(),
                score,
            };
            (score, index, test)
        })
        .collect();
    found.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then_with(|| a.2.path.cmp(&b.2.path))
    });
    found
        .into_iter()
        .take(MAX_RELATED)
        .map(|(_, _, test)| test)
        .collect()
}

/// `Some(subject)` when `path` is a test file by its name or its folder.
fn test_subject(path: &str) -> Option<String> {
    let (dirs, name) = split(path);
    let in_test_dir = dirs
        .iter()
        .any(|d| TEST_DIRS.contains(&d.to_ascii_lowercase().as_str()));
    let (stem, rest) = name.split_once('.')?;
    let rest = rest.to_ascii_lowercase();
    let subject = if rest.starts_with("test.") || rest.starts_with("spec.") {
        Some(stem)
    } else if let Some(s) = stem.strip_prefix("test_") {
        Some(s)
    } else if let Some(s) = ["_test", "_tests", "_spec"]
        .iter()
        .find_map(|suffix| stem.strip_suffix(suffix))
    {
        Some(s)
    } else if let Some(s) = ["Tests", "Test", "IT"]
        .iter()
        .find_map(|suffix| stem.strip_suffix(suffix))
        .filter(|s| s.chars().next().is_some_and(char::is_uppercase))
    {
        Some(s)
    } else if let Some(s) = stem
        .strip_prefix("Test")
        .filter(|s| s.chars().next().is_some_and(char::is_uppercase))
    {
        Some(s)
    } else if in_test_dir && !NOT_SUBJECTS.contains(&stem.to_ascii_lowercase().as_str()) {
        Some(stem)
    } else {
        None
    };
    subject.map(normalize).filter(|s| !s.is_empty())
}

/// The names a source file goes by: its own, or its folder's for an
/// `index.js`, `__init__.py`, `mod.rs`...
fn source_stems(path: &str) -> Vec<String> {
    let (dirs, name) = split(path);
    let stem = name.split_once('.').map_or(name, |(stem, _)| stem);
    if FOLDER_FILES.contains(&stem) {
        dirs.last().map(|d| normalize(d)).into_iter().collect()
    } else {
        vec![normalize(stem)]
    }
}

/// 130 when the test's subject is the file's name, 70 when one contains
/// the other (both at least 3 characters), 0 otherwise. (Both include 30
/// for the same language, which [`related_tests`] requires: the scores
/// leave room for the folder bonuses without letting them outrank a name.)
fn name_match(subject: &str, stem: &str) -> u32 {
    if stem.is_empty() {
        return 0;
    }
    if subject == stem {
        return 130;
    }
    let long_enough = subject.len() >= 3 && stem.len() >= 3;
    if long_enough && (subject.contains(stem) || stem.contains(subject)) {
        return 70;
    }
    0
}

/// 10 per folder name the two paths share, generic ones not counted, at
/// most 40.
fn shared_dirs(test: &str, source: &str) -> u32 {
    let (test_dirs, _) = split(test);
    let (source_dirs, _) = split(source);
    let shared = source_dirs
        .iter()
        .filter(|d| !GENERIC_DIRS.contains(&d.to_ascii_lowercase().as_str()))
        .filter(|d| test_dirs.contains(d))
        .count();
    u32::try_from(shared.min(4)).unwrap_or(4) * 10
}

/// 15 when the test is next to the file: in its folder, in a folder inside
/// it (`src/__tests__/`), or in a folder beside it (`src/` and `test/`).
fn nearby(test: &str, source: &str) -> u32 {
    let test_dir = parent(test);
    let source_dir = parent(source);
    let close = test_dir == source_dir
        || parent(test_dir) == source_dir
        || parent(test_dir) == parent(source_dir);
    if close { 15 } else { 0 }
}

/// The folder part of a path (`""` at the root).
fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

fn split(path: &str) -> (Vec<&str>, &str) {
    let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let name = parts.pop().unwrap_or_default();
    (parts, name)
}

fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(paths: &[&str], sources: &[&str]) -> Vec<String> {
        let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
        related_tests(paths.iter().copied(), &sources)
            .into_iter()
            .map(|t| t.path)
            .collect()
    }

    #[test]
    fn each_convention_is_read_back_to_its_subject() {
        for (path, subject) in [
            ("tests/test_orders.py", Some("orders")),
            ("shop/orders_test.py", Some("orders")),
            ("test/cart.test.js", Some("cart")),
            ("src/cart.spec.ts", Some("cart")),
            ("src/__tests__/cart.js", Some("cart")),
            ("cart/cart_test.go", Some("cart")),
            ("tests/cart.rs", Some("cart")),
            ("tests/cart_test.rs", Some("cart")),
            (
                "src/test/java/com/shop/OrderServiceTest.java",
                Some("orderservice"),
            ),
            (
                "src/test/java/com/shop/OrderServiceTests.java",
                Some("orderservice"),
            ),
            (
                "src/test/java/com/shop/OrderServiceIT.java",
                Some("orderservice"),
            ),
            (
                "src/test/java/com/shop/TestOrderService.java",
                Some("orderservice"),
            ),
            ("spec/models/order_spec.rb", Some("order")),
            ("test/models/order_test.rb", Some("order")),
            ("tests/conftest.py", None),
            ("tests/__init__.py", None),
            ("shop/orders.py", None),
            ("src/Testimony.java", None),
            ("src/Contest.java", None),
        ] {
            assert_eq!(test_subject(path).as_deref(), subject, "{path}");
        }
    }

    #[test]
    fn python_package_finds_its_test_module_first() {
        let paths = [
            "shop/orders.py",
            "shop/api.py",
            "tests/test_api.py",
            "tests/test_orders.py",
            "tests/test_orders_export.py",
            "tests/conftest.py",
            "web/orders.test.js",
        ];
        assert_eq!(
            found(&paths, &["shop/orders.py", "shop/api.py"]),
            vec![
                "tests/test_orders.py",
                "tests/test_api.py",
                "tests/test_orders_export.py"
            ],
            "exact names first, crash site first among equals, a JS test of the same name is not a Python file's"
        );
    }

    #[test]
    fn javascript_go_rust_java_and_ruby_layouts() {
        assert_eq!(
            found(
                &["src/cart.js", "test/cart.test.js", "test/shipping.test.js"],
                &["src/cart.js"]
            ),
            vec!["test/cart.test.js"]
        );
        assert_eq!(
            found(
                &[
                    "src/index.ts",
                    "src/checkout/index.ts",
                    "src/checkout/__tests__/checkout.test.ts"
                ],
                &["src/checkout/index.ts"]
            ),
            vec!["src/checkout/__tests__/checkout.test.ts"],
            "an index file goes by its folder's name"
        );
        assert_eq!(
            found(
                &["cart/cart.go", "cart/cart_test.go", "api/cart_test.go"],
                &["cart/cart.go"]
            ),
            vec!["cart/cart_test.go", "api/cart_test.go"],
            "the test beside the file first"
        );
        assert_eq!(
            found(
                &["src/foo.rs", "tests/foo.rs", "tests/bar.rs"],
                &["src/foo.rs"]
            ),
            vec!["tests/foo.rs"]
        );
        assert_eq!(
            found(
                &[
                    "src/main/java/com/shop/orders/OrderService.java",
                    "src/test/java/com/billing/OrderServiceTest.java",
                    "src/test/java/com/shop/orders/OrderServiceTest.java",
                ],
                &["src/main/java/com/shop/orders/OrderService.java"]
            ),
            vec![
                "src/test/java/com/shop/orders/OrderServiceTest.java",
                "src/test/java/com/billing/OrderServiceTest.java"
            ],
            "the mirrored package first"
        );
        assert_eq!(
            found(
                &[
                    "app/models/order.rb",
                    "spec/models/order_spec.rb",
                    "test/order_test.rb"
                ],
                &["app/models/order.rb"]
            ),
            vec!["spec/models/order_spec.rb", "test/order_test.rb"]
        );
    }

    #[test]
    fn bounded_and_silent_without_a_match() {
        let many: Vec<String> = (0..50)
            .map(|i| format!("tests/t{i}/test_orders.py"))
            .collect();
        let paths: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(found(&paths, &["shop/orders.py"]).len(), MAX_RELATED);
        assert!(found(&paths, &["shop/cart.py"]).is_empty());
        assert!(found(&paths, &["README.md"]).is_empty());
        assert!(found(&paths, &[]).is_empty());
        assert!(
            found(&paths, &["tests/t1/test_orders.py"]).is_empty(),
            "a test on the stack is not a subject"
        );
    }
}
