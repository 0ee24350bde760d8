use super::runner::{self as git, Flow, check_revision, is_full_id, quote_untrusted};
use crate::domain::diff::files::frame_components;
use crate::domain::diff::parse::{
    self, HunkScanner, NOTE_RESERVE, PatchCollector, Section, assemble, parse_hunk_header,
    parse_raw_numstat,
};
use super::*;

#[test]
fn classify_table() {
    use FileClass::*;
    let table: &[(&str, FileClass)] = &[
        // CI first, even for YAML and tests inside CI folders.
        (".github/workflows/ci.yml", Ci),
        (".github/CODEOWNERS", Ci),
        (".gitlab-ci.yml", Ci),
        (".circleci/config.yml", Ci),
        ("Jenkinsfile", Ci),
        (".travis.yml", Ci),
        ("azure-pipelines.yml", Ci),
        (".buildkite/pipeline.yml", Ci),
        (".ci/tests/run.sh", Ci),
        ("services/pay/.github/workflows/x.yml", Ci),
        // Tests.
        ("tests/test_charge.py", Test),
        ("test/fixtures/config.yaml", Test),
        ("src/__tests__/cart.js", Test),
        ("spec/models/user_spec.rb", Test),
        ("pkg/parse/testdata/input.json", Test),
        ("src/pay/test_charge.py", Test),
        ("src/pay/charge_test.py", Test),
        ("pkg/charge/charge_test.go", Test),
        ("src/cart.test.ts", Test),
        ("src/Cart.test.TSX", Test),
        ("src/cart.spec.js", Test),
        ("conftest.py", Test),
        ("src/main/java/com/x/Charge.java", Runtime),
        ("src/test/java/com/x/ChargeTest.java", Test),
        ("tests/README.md", Test),
        // Docs.
        ("docs/index.md", Docs),
        ("doc/conf.py", Docs),
        ("README.md", Docs),
        ("README", Docs),
        ("notes.rst", Docs),
        ("guide.adoc", Docs),
        ("notes.txt", Docs),
        ("LICENSE", Docs),
        ("LICENSE-MIT", Docs),
        ("CHANGELOG.md", Docs),
        ("static/logo.png", Docs),
        ("assets/icon.SVG", Docs),
        ("src/notices.py", Runtime),
        ("src/licensing.py", Runtime),
        // Manifests, lockfiles, Dockerfiles: runtime though not code.
        ("requirements.txt", Runtime),
        ("requirements-dev.txt", Runtime),
        ("CMakeLists.txt", Runtime),
        ("package.json", Runtime),
        ("web/package-lock.json", Runtime),
        ("yarn.lock", Runtime),
        ("pnpm-lock.yaml", Runtime),
        ("Cargo.toml", Runtime),
        ("Cargo.lock", Runtime),
        ("go.mod", Runtime),
        ("go.sum", Runtime),
        ("pyproject.toml", Runtime),
        ("poetry.lock", Runtime),
        ("Pipfile", Runtime),
        ("Pipfile.lock", Runtime),
        ("Gemfile", Runtime),
        ("Gemfile.lock", Runtime),
        ("pom.xml", Runtime),
        ("build.gradle.kts", Runtime),
        ("Dockerfile", Runtime),
        ("deploy/Dockerfile.prod", Runtime),
        // Prompts and config.
        ("prompts/triage.md", PromptConfig),
        ("app/prompts/system.txt", PromptConfig),
        ("tests/prompts/x.md", Test),
        ("prompts/triage.j2", PromptConfig),
        ("app/answer.prompt", PromptConfig),
        ("config/settings.yaml", PromptConfig),
        ("docker-compose.yml", PromptConfig),
        ("app.toml", PromptConfig),
        ("setup.ini", PromptConfig),
        ("nginx.conf", PromptConfig),
        ("tsconfig.json", PromptConfig),
        ("application.properties", PromptConfig),
        (".env", PromptConfig),
        (".env.production", PromptConfig),
        // Everything else runs.
        ("src/pay/charge.py", Runtime),
        ("Makefile", Runtime),
        ("src/main.rs", Runtime),
        ("web/src/App.tsx", Runtime),
        ("db/migrations/0042_add_index.sql", Runtime),
        ("", Runtime),
        ("src\\win\\path.py", Runtime),
        ("src\\win\\tests\\x.py", Test),
    ];
    let wrong: Vec<String> = table
        .iter()
        .filter(|(path, class)| classify(path) != *class)
        .map(|(path, class)| format!("{path}: {:?}, expected {class:?}", classify(path)))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn class_names_match_serde() -> Result<(), serde_json::Error> {
    for class in [
        FileClass::Runtime,
        FileClass::PromptConfig,
        FileClass::Test,
        FileClass::Docs,
        FileClass::Ci,
    ] {
        assert_eq!(
            serde_json::to_string(&class)?,
            format!("\"{}\"", class.name())
        );
        assert_eq!(class.is_runtime(), class == FileClass::Runtime);
    }
    assert_eq!(
        serde_json::to_string(&ChangeStatus::Renamed)?,
        "\"renamed\""
    );
    Ok(())
}

#[test]
fn revisions_refused_before_git() {
    for good in [
        "HEAD",
        "HEAD~1",
        "HEAD^2",
        "v1.2.3",
        "release/2024-05",
        "main@{1}",
        "a1b2c3d",
        "0123456789abcdef0123456789abcdef01234567",
        "feature_x",
    ] {
        assert!(check_revision(good).is_ok(), "{good}");
    }
    let long = "a".repeat(MAX_REVISION_LEN + 1);
    for bad in [
        "",
        "-p",
        "--output=/tmp/x",
        "a b",
        "a;rm -rf /",
        "$(id)",
        "`id`",
        "HEAD:src/x.py",
        ":/fix",
        "HEAD^{/fix}",
        "a\nb",
        "a..b\0",
        "é",
        long.as_str(),
    ] {
        match check_revision(bad) {
            Err(RepoError::BadRevision { .. }) => {}
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert!(check_revision(&"a".repeat(MAX_REVISION_LEN)).is_ok());
}

#[test]
fn untrusted_text_is_escaped_and_short() {
    assert_eq!(quote_untrusted("a\nb"), "\"a\\nb\"");
    let long = quote_untrusted(&"x".repeat(500));
    assert!(long.len() < 90, "{long}");
    assert!(long.ends_with("..."));
    let error = check_revision("\u{1b}[31mred\nfake log line").map(|_| ());
    let text = error.map_err(|e| e.to_string()).err().unwrap_or_default();
    assert!(!text.contains('\n') && !text.contains('\u{1b}'), "{text}");
}

#[test]
fn full_ids() {
    assert!(is_full_id(&"a".repeat(40)));
    assert!(is_full_id(&"0".repeat(64)));
    assert!(!is_full_id(&"a".repeat(39)));
    assert!(!is_full_id(&"A".repeat(40)));
    assert!(!is_full_id(&"g".repeat(40)));
}

fn repo_files() -> RepoFiles {
    RepoFiles::from_paths(
        [
            "src/pay/charge.py",
            "src/x.js",
            "src/x.ts",
            "static/js/main.js",
            "app/x.py",
            "lib/router.js",
            "pkg/__init__.py",
            "src/main/java/com/x/Charge.java",
            "a/util.py",
            "b/util.py",
            "charge.py",
            "services/pay/src/a.py",
            "vendor/node_modules/left-pad/index.js",
            "docs/my file é.md",
            "",
            "src/x.js",
        ]
        .map(String::from),
    )
}

#[test]
fn repo_files_basics() {
    let files = repo_files();
    assert_eq!(files.len(), 14, "empty dropped, duplicate merged");
    assert!(!files.is_empty());
    assert!(files.contains("src/x.js"));
    assert!(!files.contains("x.js"));
    assert!(RepoFiles::from_paths(Vec::new()).is_empty());
    let debug = format!("{files:?}");
    assert!(debug.contains("len: 14"), "{debug}");
    assert!(files.paths().is_sorted());
}

#[test]
fn frame_paths_resolve_by_longest_suffix() {
    let files = repo_files();
    let table: &[(&str, Option<&str>)] = &[
        ("/app/src/pay/charge.py", Some("src/pay/charge.py")),
        ("src/pay/charge.py", Some("src/pay/charge.py")),
        ("./src/pay/charge.py", Some("src/pay/charge.py")),
        ("webpack:///./src/x.js", Some("src/x.js")),
        ("webpack://my-app/./src/x.js", Some("src/x.js")),
        ("app:///src/x.ts", Some("src/x.ts")),
        (
            "http://host/static/js/main.js?v=3",
            Some("static/js/main.js"),
        ),
        (
            "https://cdn.example.com:8443/static/js/main.js#L1",
            Some("static/js/main.js"),
        ),
        ("/srv/static/js/main.js?v=3", Some("static/js/main.js")),
        ("C:\\svc\\app\\x.py", Some("app/x.py")),
        ("src\\pay\\charge.py", Some("src/pay/charge.py")),
        ("file:///C:/svc/app/x.py", Some("app/x.py")),
        ("/app/lib/../src/x.js", Some("src/x.js")),
        // A bare file name: unique name, frame has nothing more to say.
        ("Charge.java", Some("src/main/java/com/x/Charge.java")),
        // The repository root deployed at /app.
        ("/app/charge.py", Some("charge.py")),
        // Monorepo: the service's directory deployed as /app.
        ("/app/src/a.py", Some("services/pay/src/a.py")),
        ("/docker/docs/my file é.md", Some("docs/my file é.md")),
        // Ambiguous: two paths end in util.py, neither closer.
        ("/srv/util.py", None),
        ("util.py", None),
        ("/srv/a/util.py", Some("a/util.py")),
        // Only the file name matches, and both continue differently.
        ("/usr/lib/python3.11/json/__init__.py", None),
        // Third-party code is never the service's.
        ("/app/node_modules/express/lib/router.js", None),
        ("/usr/lib/python3/site-packages/lib/router.js", None),
        (
            "/srv/vendor/node_modules/left-pad/index.js",
            Some("vendor/node_modules/left-pad/index.js"),
        ),
        ("/app/lib/router.js", Some("lib/router.js")),
        // Nothing matches.
        ("/app/src/nope.py", None),
        ("<string>", None),
        ("", None),
        ("http://host/", None),
        ("../../..", None),
    ];
    let wrong: Vec<String> = table
        .iter()
        .filter(|(frame, want)| files.resolve(frame) != *want)
        .map(|(frame, want)| format!("{frame}: {:?}, expected {want:?}", files.resolve(frame)))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn an_uncontradicted_path_beats_a_contradicted_one() {
    let files = RepoFiles::from_paths(["src/a.py", "lib/src/a.py"].map(String::from));
    // /app/src/a.py: "src/a.py" is all matched; "lib/src/a.py" says lib where
    // the frame says app.
    assert_eq!(files.resolve("/app/src/a.py"), Some("src/a.py"));
    assert_eq!(files.resolve("/x/lib/src/a.py"), Some("lib/src/a.py"));
    let twins = RepoFiles::from_paths(["x/src/a.py", "y/src/a.py"].map(String::from));
    assert_eq!(twins.resolve("/app/src/a.py"), None);
    assert_eq!(twins.resolve("src/a.py"), None);
}

#[test]
fn frame_components_normalize() {
    assert_eq!(frame_components("webpack:///./src/x.js"), ["src", "x.js"]);
    assert_eq!(
        frame_components("C:\\svc\\app\\x.py"),
        ["svc", "app", "x.py"]
    );
    assert_eq!(frame_components("http://h:80/a/b.js?q#f"), ["a", "b.js"]);
    assert_eq!(frame_components("  /a//b/./c  "), ["a", "b", "c"]);
    assert_eq!(frame_components("/a/#b.py"), ["a", "#b.py"]);
    assert!(frame_components("https://host").is_empty());
}

/// What `git diff --raw --numstat -z -M` printed for a binary change, a
/// deletion, a modification, a rename to a non-ASCII name and an added file
/// with a space (recorded from git 2.47).
const RAW_NUMSTAT: &[u8] = b":100644 100644 88768ef 3e3315e M\0b.bin\0\
:100644 000000 587be6b 0000000 D\0gone.py\0\
:100644 100644 92dfa21 af391f1 M\0keep.py\0\
:100644 100644 96cc558 1c5a36f R097\0mv.txt\0moved \xc3\xa9.txt\0\
:000000 100644 0000000 3e75765 A\0new file.py\0\
-\t-\tb.bin\0\
0\t1\tgone.py\0\
2\t2\tkeep.py\0\
1\t0\t\0mv.txt\0moved \xc3\xa9.txt\0\
1\t0\tnew file.py\0";

#[test]
fn raw_numstat_parse() -> Result<(), String> {
    let files = parse_raw_numstat(RAW_NUMSTAT)?;
    let summary: Vec<_> = files
        .iter()
        .map(|f| {
            (
                f.path.as_str(),
                f.old_path.as_deref(),
                f.status,
                f.added,
                f.removed,
                f.binary,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("b.bin", None, ChangeStatus::Modified, 0, 0, true),
            ("gone.py", None, ChangeStatus::Deleted, 0, 1, false),
            ("keep.py", None, ChangeStatus::Modified, 2, 2, false),
            (
                "moved é.txt",
                Some("mv.txt"),
                ChangeStatus::Renamed,
                1,
                0,
                false
            ),
            ("new file.py", None, ChangeStatus::Added, 1, 0, false),
        ]
    );
    assert_eq!(files[3].class, FileClass::Docs);
    assert!(parse_raw_numstat(b"")?.is_empty());
    Ok(())
}

#[test]
fn raw_numstat_mismatch_is_an_error() {
    assert!(parse_raw_numstat(b":100644 100644 a b M\0x.py\0").is_err());
    assert!(parse_raw_numstat(b":100644 100644 a b M\0x.py\x001\t1\ty.py\0").is_err());
    assert!(parse_raw_numstat(b":100644 100644 a b M\0x.py\0one\t1\tx.py\0").is_err());
    assert!(parse_raw_numstat(b"1\t1\tx.py\0").is_err());
}

#[test]
fn hunk_headers() {
    let hunk = |a, b, c, d| Hunk {
        old_start: a,
        old_lines: b,
        new_start: c,
        new_lines: d,
    };
    assert_eq!(parse_hunk_header(b"@@ -2 +2 @@ a"), Some(hunk(2, 1, 2, 1)));
    assert_eq!(
        parse_hunk_header(b"@@ -9 +8,0 @@ h"),
        Some(hunk(9, 1, 8, 0))
    );
    assert_eq!(
        parse_hunk_header(b"@@ -0,0 +1,30 @@"),
        Some(hunk(0, 0, 1, 30))
    );
    assert_eq!(
        parse_hunk_header(b"@@ -1,3 +1,4 @@ fn \xff"),
        Some(hunk(1, 3, 1, 4))
    );
    assert_eq!(parse_hunk_header(b"@@ -1,x +1 @@"), None);
    assert_eq!(parse_hunk_header(b"@@@ -1 -1 +1 @@@"), None);
    assert_eq!(parse_hunk_header(b"+@@ -1 +1 @@"), None);
    assert_eq!(parse_hunk_header(b"@@ -1 +1"), None);
    assert_eq!(
        parse::changed_lines(&[hunk(2, 1, 2, 1), hunk(9, 1, 8, 0), hunk(10, 0, 10, 3)]),
        [2, 10, 11, 12]
    );
}

const U0_PATCH: &str = "diff --git a/b.bin b/b.bin
index 88768ef..3e3315e 100644
Binary files a/b.bin and b/b.bin differ
diff --git a/keep.py b/keep.py
index 92dfa21..af391f1 100644
--- a/keep.py
+++ b/keep.py
@@ -2 +2 @@ a
-b
+B
@@ -9 +8,0 @@ h
-@@ -1 +1 @@ looks like a header
@@ -10,0 +10 @@ j
+diff --git a/fake b/fake
diff --git a/mv.txt b/moved é.txt
similarity index 100%
rename from mv.txt
rename to moved é.txt
";

#[test]
fn hunk_scanner_finds_headers_whatever_the_chunking() {
    let expected = vec![
        vec![],
        vec![
            Hunk {
                old_start: 2,
                old_lines: 1,
                new_start: 2,
                new_lines: 1,
            },
            Hunk {
                old_start: 9,
                old_lines: 1,
                new_start: 8,
                new_lines: 0,
            },
            Hunk {
                old_start: 10,
                old_lines: 0,
                new_start: 10,
                new_lines: 1,
            },
        ],
        vec![],
    ];
    for size in [1, 2, 3, 7, 64, 4096] {
        let mut scanner = HunkScanner::default();
        for chunk in U0_PATCH.as_bytes().chunks(size) {
            assert_eq!(scanner.feed(chunk), Flow::More);
        }
        assert_eq!(scanner.finish(), expected, "chunk size {size}");
    }
    // No final newline, and a very long content line.
    let mut scanner = HunkScanner::default();
    let long = format!(
        "diff --git a/x b/x\n@@ -1 +1 @@\n-{}\n+y\n@@ -5,0 +6,2 @@",
        "z".repeat(1_000_000)
    );
    scanner.feed(long.as_bytes());
    let sections = scanner.finish();
    assert_eq!(sections.len(), 1);
    assert_eq!(sections[0].len(), 2);
}

fn changed(path: &str, hunks: Vec<Hunk>) -> ChangedFile {
    ChangedFile {
        path: path.to_string(),
        old_path: None,
        status: ChangeStatus::Modified,
        class: classify(path),
        added: 0,
        removed: 0,
        binary: false,
        changed_lines: parse::changed_lines(&hunks),
        hunks,
    }
}

#[test]
fn touches_line_counts_changes_and_deletion_points() {
    let file = changed(
        "src/a.py",
        vec![
            // Lines 10-12 changed.
            Hunk {
                old_start: 10,
                old_lines: 2,
                new_start: 10,
                new_lines: 3,
            },
            // Two lines removed between new lines 30 and 31.
            Hunk {
                old_start: 29,
                old_lines: 2,
                new_start: 30,
                new_lines: 0,
            },
        ],
    );
    assert_eq!(file.changed_lines, [10, 11, 12]);
    let touched =
        |slack| -> Vec<u32> { (1..=40).filter(|&l| file.touches_line(l, slack)).collect() };
    assert_eq!(touched(0), [10, 11, 12, 30, 31]);
    assert_eq!(
        touched(2),
        [8, 9, 10, 11, 12, 13, 14, 28, 29, 30, 31, 32, 33]
    );
    assert!(!file.touches_line(0, 0));
    assert!(file.touches_line(u32::MAX, u32::MAX));

    let at_top = changed(
        "b.py",
        vec![Hunk {
            old_start: 1,
            old_lines: 1,
            new_start: 0,
            new_lines: 0,
        }],
    );
    assert!(at_top.touches_line(1, 0));
    assert!(!at_top.touches_line(2, 0));

    let mut gone = changed(
        "c.py",
        vec![Hunk {
            old_start: 1,
            old_lines: 5,
            new_start: 0,
            new_lines: 0,
        }],
    );
    gone.status = ChangeStatus::Deleted;
    assert!(!gone.touches_line(1, 10));
    assert!(!changed("d.bin", Vec::new()).touches_line(1, 100));
}

#[test]
fn deploy_diff_helpers() {
    let diff = DeployDiff {
        from: "a".repeat(40),
        to: "b".repeat(40),
        files: vec![
            changed("src/a.py", Vec::new()),
            changed("tests/test_a.py", Vec::new()),
            changed("config/app.yaml", Vec::new()),
        ],
        patch: String::new(),
        truncated: false,
    };
    let runtime: Vec<_> = diff.runtime_files().map(|f| f.path.as_str()).collect();
    assert_eq!(runtime, ["src/a.py"]);
    assert!(diff.file("tests/test_a.py").is_some());
    assert!(diff.file("nope").is_none());
    use FileClass::*;
    assert!(!diff.only_classes(&[Test, Docs, Ci, PromptConfig]));
    assert!(diff.only_classes(&[Runtime, Test, PromptConfig]));
    let empty = DeployDiff {
        files: Vec::new(),
        ..diff
    };
    assert!(empty.only_classes(&[]));
}

fn section(path: &str, lines: usize) -> Section {
    let mut text =
        format!("diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1 +1,{lines} @@\n");
    for i in 0..lines {
        text.push_str(&format!("+line {i} of {path}\n"));
    }
    Section {
        text,
        complete: true,
    }
}

#[test]
fn patch_that_fits_is_unchanged() {
    let files = vec![
        changed("docs/a.md", Vec::new()),
        changed("src/b.py", Vec::new()),
    ];
    let sections = vec![Some(section("docs/a.md", 3)), Some(section("src/b.py", 3))];
    let whole: String = sections.iter().flatten().map(|s| s.text.as_str()).collect();
    assert_eq!(assemble(&files, &sections, whole.len()), (whole, false));
}

#[test]
fn patch_cut_puts_code_first_and_names_the_rest() {
    let paths = [
        "docs/a.md",
        "src/big.py",
        "tests/test_b.py",
        "src/c.py",
        "yarn.lock",
        "config/x.yaml",
    ];
    let files: Vec<_> = paths.iter().map(|p| changed(p, Vec::new())).collect();
    let sections: Vec<_> = paths
        .iter()
        .map(|p| Some(section(p, if *p == "src/big.py" { 400 } else { 20 })))
        .collect();
    let max = NOTE_RESERVE + 4000;
    let (patch, truncated) = assemble(&files, &sections, max);
    assert!(truncated);
    assert!(patch.len() <= max, "{}", patch.len());
    // Code first: big.py does not fit whole, so c.py comes whole, then as
    // much of big.py as fits; nothing of a lower rank is shown.
    let body_files: Vec<&str> = patch
        .lines()
        .filter_map(|l| l.strip_prefix("diff --git a/"))
        .collect();
    assert_eq!(
        body_files,
        ["src/c.py b/src/c.py", "src/big.py b/src/big.py"]
    );
    assert!(
        patch.len() > max - NOTE_RESERVE - 100,
        "the room is used: {}",
        patch.len()
    );
    let last = patch.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        "[... diff cut at 5024 bytes: src/big.py cut short; 4 more files not shown: \
         config/x.yaml, yarn.lock, tests/test_b.py, docs/a.md ...]"
    );
    // Every body line is a whole line of the original.
    let original: String = sections.iter().flatten().map(|s| s.text.as_str()).collect();
    let original_lines: std::collections::HashSet<&str> = original.lines().collect();
    for line in patch.lines().filter(|l| !l.starts_with("[...")) {
        assert!(original_lines.contains(line), "{line:?}");
    }

    // With room for everything but the big file, small files come whole.
    let files2: Vec<_> = ["src/c.py", "config/x.yaml", "src/big.py", "docs/a.md"]
        .iter()
        .map(|p| changed(p, Vec::new()))
        .collect();
    let sections2: Vec<_> = files2
        .iter()
        .map(|f| {
            Some(section(
                &f.path,
                if f.path == "src/big.py" { 400 } else { 20 },
            ))
        })
        .collect();
    let (patch, _) = assemble(&files2, &sections2, NOTE_RESERVE + 6000);
    let shown: Vec<&str> = patch
        .lines()
        .filter_map(|l| l.strip_prefix("diff --git a/"))
        .collect();
    assert_eq!(
        shown,
        ["src/c.py b/src/c.py", "src/big.py b/src/big.py"],
        "code first in git's order, the config after the partly shown big file is cut"
    );
    assert!(patch.ends_with(
        "src/big.py cut short; 2 more files not shown: config/x.yaml, docs/a.md ...]\n"
    ));
}

#[test]
fn patch_note_stays_within_its_reserve() {
    let paths: Vec<String> = (0..500)
        .map(|i| format!("src/{}/file_{i}.py", "deep/".repeat(40)))
        .collect();
    let files: Vec<_> = paths.iter().map(|p| changed(p, Vec::new())).collect();
    let sections: Vec<_> = paths.iter().map(|p| Some(section(p, 50))).collect();
    for max in [0, 10, NOTE_RESERVE, NOTE_RESERVE + 1, 20_000, 100_000] {
        let (patch, truncated) = assemble(&files, &sections, max);
        assert!(truncated);
        assert!(
            patch.len() <= max.max(NOTE_RESERVE),
            "{max}: {}",
            patch.len()
        );
        let note = patch.lines().last().unwrap_or_default();
        assert!(
            note.starts_with(&format!("[... diff cut at {max} bytes:")),
            "{note}"
        );
        assert!(note.contains(" others ...]"), "{note}");
    }
}

#[test]
fn unread_and_incomplete_sections_are_named() {
    let files: Vec<_> = ["src/a.py", "src/b.py", "src/c.py"]
        .iter()
        .map(|p| changed(p, Vec::new()))
        .collect();
    let mut partial = section("src/b.py", 5);
    partial.complete = false;
    let sections = vec![Some(section("src/a.py", 5)), Some(partial), None];
    let (patch, truncated) = assemble(&files, &sections, 100_000);
    assert!(truncated);
    assert!(
        patch.ends_with("[... diff cut at 100000 bytes: src/b.py cut short; 1 more file not shown: src/c.py ...]\n"),
        "{patch}"
    );
}

fn collect(
    text: &str,
    ranks: Vec<u8>,
    section_cap: usize,
    keep_cap: usize,
    chunk: usize,
) -> (Vec<Option<Section>>, usize) {
    let mut collector = PatchCollector::new(ranks, section_cap, keep_cap);
    for piece in text.as_bytes().chunks(chunk) {
        assert_eq!(collector.feed(piece), Flow::More);
    }
    collector.finish()
}

fn whole(text: &str) -> Option<Section> {
    Some(Section {
        text: text.to_string(),
        complete: true,
    })
}

#[test]
fn patch_collector_splits_sections_whatever_the_chunking() {
    let a =
        "diff --git a/a b/a\n--- a/a\n+++ b/a\n@@ -1 +1 @@\n-diff --git a/x b/x\n+diff --git\n\n";
    let b = "diff --git a/b b/b\n+\u{e9}t\u{e9}\n\\ No newline at end of file";
    let text = format!("{a}{b}");
    for chunk in [1, 2, 5, 10, 11, 12, 4096] {
        let (sections, count) = collect(&text, vec![0, 0], 1 << 20, 1 << 20, chunk);
        assert_eq!(count, 2, "chunk {chunk}");
        assert_eq!(sections, [whole(a), whole(b)], "chunk {chunk}");
    }
    let (sections, count) = collect("no header\n", vec![0], 100, 100, 3);
    assert_eq!((sections, count), (vec![None], 0));
}

#[test]
fn patch_collector_keeps_the_head_of_a_long_section() {
    let long = format!("diff --git a/a b/a\n{}", "+0123456789\n".repeat(100));
    let next = "diff --git a/b b/b\n+x\n";
    let text = format!("{long}{next}");
    let (sections, _) = collect(&text, vec![0, 0], 50, 1 << 20, 7);
    let first = sections[0].clone().unwrap_or_else(|| panic!("kept"));
    assert!(!first.complete);
    assert_eq!(first.text, "diff --git a/a b/a\n+0123456789\n+0123456789\n");
    assert_eq!(sections[1], whole(next));
}

#[test]
fn patch_collector_keeps_the_best_ranked_within_its_cap() {
    let docs = format!("diff --git a/d b/d\n{}", "+doc\n".repeat(20));
    let code = format!("diff --git a/c b/c\n{}", "+code\n".repeat(20));
    let test = format!("diff --git a/t b/t\n{}", "+test\n".repeat(20));
    let extra = "diff --git a/e b/e\n+e\n";
    let text = format!("{docs}{code}{test}{extra}");
    // Room for two sections: docs (rank 5) and code (0) are kept, docs goes
    // when test (3) comes, and a section beyond the file list is ignored.
    let cap = code.len() + test.len();
    assert!(docs.len() < test.len());
    let (sections, count) = collect(&text, vec![5, 0, 3], 1 << 20, cap, 64);
    assert_eq!(count, 4);
    assert_eq!(sections, [None, whole(&code), whole(&test)]);
    // Invalid UTF-8 is kept lossy and counted at its decoded length.
    let latin1 = b"diff --git a/l b/l\n+caf\xe9 cr\xe8me\n".to_vec();
    let mut collector = PatchCollector::new(vec![5, 0], 1 << 20, code.len() + 10);
    collector.feed(&latin1);
    collector.feed(code.as_bytes());
    let (sections, _) = collector.finish();
    assert_eq!(sections, [None, whole(&code)], "evicted for the code");
    let mut collector = PatchCollector::new(vec![0], 1 << 20, 1 << 20);
    collector.feed(&latin1);
    let (sections, _) = collector.finish();
    assert_eq!(
        sections,
        [whole("diff --git a/l b/l\n+caf\u{fffd} cr\u{fffd}me\n")]
    );
    // Equal ranks: the earlier is kept.
    let (sections, _) = collect(
        &format!("{code}{code}"),
        vec![0, 0],
        1 << 20,
        code.len(),
        64,
    );
    assert_eq!(sections, [whole(&code), None]);
}

#[test]
fn config_defaults_and_fields() -> Result<(), serde_json::Error> {
    let config: RepoConfig = serde_json::from_str("{}")?;
    assert_eq!(config, RepoConfig::default());
    assert_eq!(config.git_timeout, Duration::from_secs(30));
    assert_eq!(config.max_diff_bytes, 49_152);
    assert!(config.path.as_os_str().is_empty());
    let config: RepoConfig = serde_json::from_str(
        r#"{"path": "/srv/app", "git_timeout": "5s", "max_diff_bytes": 1000}"#,
    )?;
    assert_eq!(config.git_timeout, Duration::from_secs(5));
    assert!(serde_json::from_str::<RepoConfig>(r#"{"pth": "/srv"}"#).is_err());
    assert!(serde_json::from_str::<RepoConfig>(r#"{"git_timeout": 5}"#).is_err());
    Ok(())
}

#[tokio::test]
async fn an_empty_path_is_no_repository() -> Result<(), RepoError> {
    assert!(Repo::open(&RepoConfig::default()).await?.is_none());
    Ok(())
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_command_past_its_timeout_is_killed() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let pid_file = dir.path().join("pid");
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!("echo $$ > '{}'; exec sleep 30", pid_file.display()));
    let started = std::time::Instant::now();
    let result = git::run(cmd, "sleepy", Duration::from_millis(300), |_| Flow::More).await;
    match result {
        Err(RepoError::TimedOut { command, .. }) => assert_eq!(command, "sleepy"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    let pid = std::fs::read_to_string(&pid_file)?.trim().to_string();
    // Killed: gone, or a zombie until tokio reaps it.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => break,
            Ok(stat) if stat.contains(") Z") => break,
            Ok(_) if std::time::Instant::now() > deadline => panic!("{pid} still running"),
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    Ok(())
}

#[tokio::test]
async fn stopping_early_kills_a_chatty_command() -> Result<(), RepoError> {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c").arg("yes diff-line");
    let mut seen = 0usize;
    let finished = git::run(cmd, "yes", Duration::from_secs(10), |chunk| {
        seen += chunk.len();
        if seen > 1_000_000 {
            Flow::Stop
        } else {
            Flow::More
        }
    })
    .await?;
    // `yes` never ends by itself: returning at all means it was killed.
    assert!(!finished.status.success());
    assert!(seen < 2_000_000);
    Ok(())
}

#[tokio::test]
async fn a_missing_program_says_so() {
    let cmd = tokio::process::Command::new("suture-no-such-git-binary");
    match git::run(cmd, "x", Duration::from_secs(5), |_| Flow::More).await {
        Err(error @ RepoError::GitMissing { .. }) => {
            assert!(error.to_string().contains("install git"), "{error}");
        }
        other => panic!("expected GitMissing, got {other:?}"),
    }
}
