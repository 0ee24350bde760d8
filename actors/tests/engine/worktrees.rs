//! The coding agent's worktrees, on real git repositories: an attempt gets
//! its own checkout and branch, the service's working tree is never
//! touched, the diff covers new files and the agent's own commits, hooks
//! never run, and orphans of a killed sidecar are pruned.

use suture_actors::clients::git::{CommitAuthor, fix_branch};

use crate::repo_git::{TestRepo, TestResult};

fn author() -> CommitAuthor {
    CommitAuthor {
        name: "Suture".into(),
        email: "suture@example.com".into(),
    }
}

#[tokio::test]
async fn an_attempt_works_in_its_own_checkout_and_leaves_the_service_alone() -> TestResult {
    let service = TestRepo::new()?;
    service.write(
        "app/orders.py",
        "def total(order):\n    return order['sum']\n",
    )?;
    let base = service.commit("first")?;
    // The service has uncommitted work of its own, which must survive.
    service.write("notes.txt", "operator's scratch file\n")?;
    let repo = service.open().await?;
    let parent = tempfile::tempdir()?;

    let tree = repo.add_worktree(parent.path(), "T-7", 1, &base).await?;
    assert_eq!(tree.branch, "suture/fix-T-7-1");
    assert!(tree.path.starts_with(parent.path()));
    assert!(tree.path.join("app/orders.py").exists());

    std::fs::write(
        tree.path.join("app/orders.py"),
        "def total(order):\n    return order.get('sum', 0)\n",
    )?;
    std::fs::write(
        tree.path.join("app/new_test.py"),
        "def test_x():\n    assert True\n",
    )?;
    let diff = tree.diff().await?;
    assert!(diff.contains("+    return order.get('sum', 0)"), "{diff}");
    assert!(
        diff.contains("b/app/new_test.py"),
        "new files are in the diff: {diff}"
    );

    // A hook in the service's repository must not run for the agent's commit.
    service.write(
        ".git/hooks/pre-commit",
        "#!/bin/sh\ntouch HOOK_RAN\nexit 1\n",
    )?;
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(service.path().join(".git/hooks/pre-commit"))
        .status()?;
    let commit = tree
        .commit(
            "Fix: total of an order without a sum\n\nSuture-Ticket: T-7",
            &author(),
        )
        .await?;
    assert_eq!(commit.len(), 40);
    assert!(
        !tree.path.join("HOOK_RAN").exists(),
        "a repository hook ran"
    );
    assert_eq!(
        service.git(&["log", "-1", "--format=%an <%ae>%n%B", &tree.branch])?,
        "Suture <suture@example.com>\nFix: total of an order without a sum\n\nSuture-Ticket: T-7"
    );
    // After a commit, the diff against the base still shows the fix.
    assert!(tree.diff().await?.contains("order.get('sum', 0)"));

    // The service's checkout: same HEAD, same branch, its own change intact.
    assert_eq!(service.git(&["rev-parse", "HEAD"])?, base);
    assert_eq!(service.git(&["rev-parse", "--abbrev-ref", "HEAD"])?, "main");
    assert_eq!(
        std::fs::read_to_string(service.path().join("app/orders.py"))?,
        "def total(order):\n    return order['sum']\n"
    );
    assert!(service.path().join("notes.txt").exists());

    // Removed, keeping the branch for the review.
    repo.remove_worktree(&tree, true).await?;
    assert!(!tree.path.exists());
    assert_eq!(service.git(&["rev-parse", &tree.branch])?, commit);
    Ok(())
}

#[tokio::test]
async fn orphans_of_a_killed_sidecar_are_pruned_and_only_those() -> TestResult {
    let service = TestRepo::new()?;
    service.write("a.txt", "a\n")?;
    let base = service.commit("first")?;
    let repo = service.open().await?;
    let ours = tempfile::tempdir()?;
    let elsewhere = tempfile::tempdir()?;

    let orphan = repo.add_worktree(ours.path(), "T-1", 1, &base).await?;
    let gone = repo.add_worktree(ours.path(), "T-2", 1, &base).await?;
    std::fs::remove_dir_all(&gone.path)?;
    // Someone else's worktree of the same repository, outside Suture's folder.
    let theirs = elsewhere.path().join("theirs");
    let theirs_text = theirs.to_string_lossy().into_owned();
    service.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "their-branch",
        &theirs_text,
        &base,
    ])?;

    let removed = repo.prune_worktrees(ours.path()).await?;
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert!(!orphan.path.exists());
    assert!(
        theirs.exists(),
        "a worktree outside Suture's folder is left alone"
    );
    let listing = service.git(&["worktree", "list", "--porcelain"])?;
    assert!(
        !listing.contains("T-2-1"),
        "a worktree whose folder is gone is forgotten: {listing}"
    );

    // The same attempt can start again after a crash (its branch is reset).
    let again = repo.add_worktree(ours.path(), "T-1", 1, &base).await?;
    assert!(again.path.exists());
    repo.remove_worktree(&again, false).await?;
    assert!(
        service
            .git(&["rev-parse", "--verify", "--quiet", "suture/fix-T-1-1"])
            .is_err()
    );
    Ok(())
}

#[tokio::test]
async fn ancestry_and_refused_names() -> TestResult {
    let service = TestRepo::new()?;
    service.write("a.txt", "a\n")?;
    let first = service.commit("first")?;
    service.write("a.txt", "b\n")?;
    let second = service.commit("second")?;
    let repo = service.open().await?;
    assert!(repo.is_ancestor(&first, &second).await?);
    assert!(!repo.is_ancestor(&second, &first).await?);

    assert!(fix_branch("T-3", 2).is_ok());
    assert!(fix_branch("../../etc", 1).is_err());
    assert!(fix_branch("T 3", 1).is_err());
    let parent = tempfile::tempdir()?;
    assert!(
        repo.add_worktree(parent.path(), "T-3", 1, "main")
            .await
            .is_err(),
        "a branch name is not a base"
    );
    assert!(
        repo.add_worktree(parent.path(), "T-3", 1, "--orphan")
            .await
            .is_err()
    );
    Ok(())
}
