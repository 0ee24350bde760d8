//! `suture replay` on small generated streams: the gate flags what was
//! injected and nothing else, the JSON report has the documented shape, and
//! bad input names its line.

use std::io::Cursor;

use suture::config::Config;
use suture::replay::generate::{Injected, StreamSpec, write_stream};
use suture::replay::{ReplayReport, replay};
use suture_actors::domain::gate::decide::Verdict;

fn generated(spec: &StreamSpec) -> (Vec<u8>, Vec<suture::replay::generate::DeployTruth>) {
    let mut out = Vec::new();
    let (truths, _) = write_stream(spec, &mut out).expect("stream written");
    (out, truths)
}

#[test]
fn replay_flags_the_injected_changes_and_nothing_else() {
    for seed in [1, 2] {
        let (stream, truths) = generated(&StreamSpec::small(seed));
        let report = replay(Cursor::new(stream), &Config::default()).expect("replays");
        assert_eq!(report.deploys.len(), truths.len(), "{report:#?}");
        for (deploy, truth) in report.deploys.iter().zip(&truths) {
            assert_eq!(deploy.revision, truth.revision);
            let flagged: Vec<(Verdict, &str)> = deploy
                .flagged
                .iter()
                .map(|f| (f.verdict, f.sample_message.as_str()))
                .collect();
            match &truth.injected {
                Injected::Nothing => assert!(flagged.is_empty(), "seed {seed}: {deploy:#?}"),
                Injected::NewError(message) => assert_eq!(
                    flagged,
                    vec![(Verdict::New, message.as_str())],
                    "seed {seed}: {deploy:#?}"
                ),
                Injected::Multiplied(message) => {
                    assert_eq!(flagged.len(), 1, "seed {seed}: {deploy:#?}");
                    assert_eq!(flagged[0].0, Verdict::Regression);
                    assert!(flagged[0].1.starts_with(message.as_str()), "{flagged:?}");
                }
            }
        }
        // The second look (six hours on, or up to the next deploy) runs in
        // replay too, and on these streams, where the first hour shows every
        // injected change, it adds nothing.
        let second_looks = report
            .deploys
            .iter()
            .filter_map(|d| d.second_look.as_ref())
            .inspect(|look| assert!(look.flagged.is_empty(), "seed {seed}: {look:#?}"))
            .count();
        assert!(second_looks >= truths.len() - 1, "seed {seed}: {report:#?}");
        // A deploy's regression is not flagged again as a spike by the
        // batches that follow it.
        for spike in &report.spikes {
            assert!(
                !report
                    .deploys
                    .iter()
                    .flat_map(|d| &d.flagged)
                    .any(|f| f.signature == spike.signature),
                "seed {seed}: {spike:?} repeats a deploy's flag"
            );
        }
        assert_eq!(report.stats.invalid_events, 0);
        assert!(report.stats.events > 150_000, "{:?}", report.stats);
    }
}

#[test]
fn json_report_has_the_documented_shape() {
    let lines = [
        r#"{"at": "2026-01-01T00:00:00Z", "event": {"type": "KeyError", "message": "missing 'a'"}}"#,
        r#"{"at": "2026-01-01T00:00:01Z", "traffic": {"requests": 1200}}"#,
        r#"{"at": "2026-01-01T00:00:02Z", "deploy": {"revision": "abc123", "environment": "production"}}"#,
        "",
        r#"{"at": "2026-01-01T00:00:03Z", "event": {"flavour": "no message or type"}}"#,
    ];
    let report = replay(Cursor::new(lines.join("\n")), &Config::default()).expect("replays");
    let json = serde_json::to_value(&report).expect("serializes");
    assert_eq!(json["deploys"][0]["revision"], "abc123");
    assert_eq!(json["deploys"][0]["at"], "2026-01-01T00:00:02.000Z");
    assert!(json["deploys"][0]["flagged"].as_array().is_some());
    assert!(
        json["deploys"][0]["note"]
            .as_str()
            .unwrap_or("")
            .contains("min_history"),
        "{json}"
    );
    assert!(json["spikes"].as_array().is_some());
    assert_eq!(json["stats"]["events"], 1);
    assert_eq!(json["stats"]["invalid_events"], 1);
    assert_eq!(json["stats"]["lines"], 5);
    let back: ReplayReport = serde_json::from_value(json).expect("round trip");
    assert_eq!(back, report);
}

#[test]
fn a_bad_line_is_an_error_naming_it() {
    let input = concat!(
        r#"{"at": "2026-01-01T00:00:00Z", "event": {"message": "fine"}}"#,
        "\n",
        r#"{"at": "yesterday", "event": {"message": "bad time"}}"#,
        "\n"
    );
    let error = replay(Cursor::new(input), &Config::default())
        .expect_err("refused")
        .to_string();
    assert!(error.contains("line 2"), "{error}");
    let error = replay(
        Cursor::new("{\"at\": 1, \"event\": {}, \"deploy\": {\"revision\": \"x\"}}\n"),
        &Config::default(),
    )
    .expect_err("refused");
    assert!(format!("{error:#}").contains("exactly one"), "{error:#}");
    let error = replay(Cursor::new("not json\n"), &Config::default()).expect_err("refused");
    assert!(format!("{error:#}").contains("line 1"), "{error:#}");
}
