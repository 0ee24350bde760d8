//! A new regression at the crash site of an open ticket that an earlier
//! deploy caused is triaged against the new deploy's diff, on a real git
//! repository: whether the analyzer sees the two deploys' candidates one
//! after the other (the open ticket exists) or in one batch (it was behind).

use suture_actors::clients::git::{Repo, RepoConfig};
use suture_actors::domain::gate::decide::Severity;
use suture_actors::domain::llm::parse::Decision;
use suture_actors::domain::tickets::{Disposition, Ticket};
use suture_actors::stages::analyzer::analyze_once;
use suture_actors::stages::triage::triage_once;

use crate::repo_git::TestRepo;
use crate::tickets_pipeline::{Fixture, T0, frame};

const DAY_MS: i64 = 86_400_000;

/// `src/cart.js`, 60 lines of one function `total`; `edits` replace lines.
fn cart_js(edits: &[(u32, &str)]) -> String {
    (1..=60)
        .map(|i| {
            edits.iter().find(|(line, _)| *line == i).map_or_else(
                || format!("  // total, line {i}"),
                |(_, text)| text.to_string(),
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The service: a first release, deploy one (changes line 41 of `total`),
/// deploy two a day later (changes line 20 of the same function).
struct Service {
    repo: TestRepo,
    f: Fixture,
    d1: String,
    d2: String,
    /// Crashes at cart.js:41 in total (deploy one's change).
    a: String,
    /// Crashes at cart.js:20 in total (deploy two's change): the same
    /// crash site, `src/cart.js in total`.
    b: String,
    c1: String,
    c2: String,
}

impl Service {
    fn new() -> Result<Self, Box<dyn std::error::Error>> {
        let repo = TestRepo::new()?;
        repo.write("src/cart.js", cart_js(&[]))?;
        repo.write("src/user.js", "export const load = () => null;\n")?;
        let c0 = repo.commit("first release")?;
        repo.write(
            "src/cart.js",
            cart_js(&[(
                41,
                "  const sum = items.reduce((s, i) => s + i.product.price, 0);",
            )]),
        )?;
        let c1 = repo.commit("cart: price from the product")?;
        repo.write(
            "src/cart.js",
            cart_js(&[
                (20, "  const rate = taxes[region].rate;"),
                (
                    41,
                    "  const sum = items.reduce((s, i) => s + i.product.price, 0);",
                ),
            ]),
        )?;
        let c2 = repo.commit("cart: tax by region")?;
        let mut f = Fixture::new();
        f.deploy_at(&c0, T0 - 7 * DAY_MS);
        let d1 = f.deploy_at(&c1, T0).id;
        let d2 = f.deploy_at(&c2, T0 + DAY_MS).id;
        let a = f.error(
            "TypeError",
            "Cannot read properties of undefined (reading 'price')",
            vec![frame("/srv/app/src/cart.js", "total", 41)],
        );
        let b = f.error(
            "RangeError",
            "Invalid tax rate for region",
            vec![frame("/srv/app/src/cart.js", "total", 20)],
        );
        assert_ne!(a, b, "two errors, two signatures");
        Ok(Service {
            repo,
            f,
            d1,
            d2,
            a,
            b,
            c1,
            c2,
        })
    }

    fn flag(&self, deploy: &str, signature: &str) -> Result<(), Box<dyn std::error::Error>> {
        let d = self.f.store.deploy(deploy)?.ok_or("deploy stored")?;
        self.f.flag(
            &format!("deploy:{deploy}"),
            Some(d),
            &[(signature, Severity::High)],
        );
        Ok(())
    }

    async fn repo(&self) -> Result<Repo, Box<dyn std::error::Error>> {
        Ok(Repo::open(&RepoConfig {
            path: self.repo.path().to_path_buf(),
            ..RepoConfig::default()
        })
        .await?
        .ok_or("a repository")?)
    }

    async fn analyze(&self) -> Result<(), Box<dyn std::error::Error>> {
        let llm = self
            .f
            .parts(suture_actors::clients::llm::LlmClient::disabled());
        let mut ctx = self.f.analyzer(llm);
        ctx.repo = Some(self.repo().await?);
        analyze_once(&ctx).await?;
        Ok(())
    }

    async fn triage(&self) -> Result<(), Box<dyn std::error::Error>> {
        let llm = self
            .f
            .parts(suture_actors::clients::llm::LlmClient::disabled());
        let mut ctx = self.f.triage(llm);
        ctx.repo = Some(self.repo().await?);
        triage_once(&ctx).await?;
        Ok(())
    }

    fn ticket_of(&self, signature: &str) -> Result<Ticket, Box<dyn std::error::Error>> {
        let mut found: Vec<Ticket> = self
            .f
            .store
            .tickets()?
            .into_iter()
            .filter(|t| t.signature_ids().any(|s| s == signature))
            .collect();
        if found.len() != 1 {
            return Err(format!("{} tickets hold {signature}", found.len()).into());
        }
        Ok(found.remove(0))
    }
}

/// The ticket was triaged against `deploy`'s diff, `from..to`, and blames
/// `line` of src/cart.js.
fn assert_triaged_against(t: &Ticket, deploy: &str, from: &str, to: &str, line: u64) {
    assert_eq!(t.deploy_id.as_deref(), Some(deploy), "{}", t.id);
    let triage = t.triage.as_ref().expect("triaged");
    let diff = triage.diff.as_ref().expect("the deploy's diff");
    assert_eq!(
        (diff.from.as_str(), diff.to.as_str()),
        (from, to),
        "{}",
        t.id
    );
    assert_eq!(
        triage.decision,
        Some(Decision::CausedByDeploy),
        "{}",
        triage.reasoning
    );
    assert_eq!(t.disposition, Some(Disposition::FixCandidate));
    let lines: Vec<(&str, Option<u64>)> = triage
        .suspect_lines
        .iter()
        .map(|s| (s.file.as_str(), s.line))
        .collect();
    assert_eq!(lines, vec![("src/cart.js", Some(line))], "{}", t.id);
}

#[tokio::test]
async fn a_later_deploys_regression_at_an_open_tickets_crash_site_is_triaged_against_its_own_diff()
-> Result<(), Box<dyn std::error::Error>> {
    let s = Service::new()?;
    // Deploy one breaks line 41: a ticket, triaged against c0..c1.
    s.flag(&s.d1, &s.a)?;
    s.analyze().await?;
    s.triage().await?;
    let t1 = s.ticket_of(&s.a)?;
    let c0 = s.repo.git(&["rev-parse", "HEAD~2"])?;
    assert_triaged_against(&t1, &s.d1, &c0, &s.c1, 41);
    assert!(!t1.state.is_closed(), "{:?}", t1.state);
    // Deploy two breaks line 20 of the same function, while that ticket is
    // open: not absorbed into it, triaged against c1..c2.
    s.flag(&s.d2, &s.b)?;
    s.analyze().await?;
    s.triage().await?;
    let t2 = s.ticket_of(&s.b)?;
    assert_ne!(t2.id, t1.id);
    assert_triaged_against(&t2, &s.d2, &s.c1, &s.c2, 20);
    let diff = t2
        .triage
        .as_ref()
        .and_then(|t| t.diff.as_ref())
        .ok_or("diff")?;
    assert!(
        diff.from_source.contains(&s.d1),
        "from the previous deploy: {}",
        diff.from_source
    );
    let separated = t2
        .audit
        .iter()
        .find(|e| e.action == "separated")
        .ok_or("the separation is audited")?;
    assert!(separated.detail.contains(&t1.id), "{}", separated.detail);
    // The first ticket still points at deploy one, with its own triage.
    let again = s.ticket_of(&s.a)?;
    assert_eq!(again.signatures.len(), 1);
    assert_triaged_against(&again, &s.d1, &c0, &s.c1, 41);
    Ok(())
}

#[tokio::test]
async fn two_deploys_regressions_at_one_crash_site_in_one_batch_get_a_ticket_each()
-> Result<(), Box<dyn std::error::Error>> {
    let s = Service::new()?;
    // The analyzer was behind: both deploys' candidates arrive together,
    // and the deterministic grouping puts them in one group (one crash site).
    s.flag(&s.d1, &s.a)?;
    s.flag(&s.d2, &s.b)?;
    s.analyze().await?;
    assert_eq!(s.f.store.tickets()?.len(), 2);
    s.triage().await?;
    let c0 = s.repo.git(&["rev-parse", "HEAD~2"])?;
    let t1 = s.ticket_of(&s.a)?;
    let t2 = s.ticket_of(&s.b)?;
    assert_triaged_against(&t1, &s.d1, &c0, &s.c1, 41);
    assert_triaged_against(&t2, &s.d2, &s.c1, &s.c2, 20);
    for t in [&t1, &t2] {
        let separated = t
            .audit
            .iter()
            .find(|e| e.action == "separated")
            .ok_or("the split is audited")?;
        assert!(
            separated.detail.contains("one batch"),
            "{}",
            separated.detail
        );
    }
    Ok(())
}
