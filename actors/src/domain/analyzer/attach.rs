//! Whether a new group grows the open ticket it matches or becomes a ticket
//! of its own.
//!
//! The analyzer finds the open ticket that shares a signature or a crash site
//! with a new group. Growing it is right for more of the same incident (a
//! spike that keeps firing, a second signature of one root cause), but not
//! for a regression that a *later* deploy brought: the open ticket was
//! triaged against the deploy that raised it, and absorbing the new one would
//! never look at the new deploy's diff. A crash site that was fine after one
//! fix can break again with the next change to the same function.
//!
//! The same holds inside one batch: when the analyzer was behind (down, or
//! the LLM slow) and two deploys' regressions at one crash site arrive
//! together, the grouping (deterministic by crash site, or the model's)
//! would make them one ticket blamed on the later deploy. [`split_by_deploy`]
//! makes one ticket per deploy instead.

use crate::domain::analyzer::{Group, Item, describe};
use crate::domain::tickets::{Method, Ticket};

/// One part of a group after [`split_by_deploy`]: the group, and why it was
/// separated from the rest (`None` when nothing was split off).
pub type Part = (Group, Option<String>);

/// Splits a group whose members the gate attributed to different deploys
/// into one group per deploy, each triaged against its own deploy's diff.
/// Members with no deploy (spikes) stay with the latest deploy's part, as
/// [`crate::domain::analyzer::ticket_for`] would attribute them. Parts are
/// ordered by deploy, earliest decision first. Deterministic parts are
/// described again from their own members; a model's part keeps its root
/// cause, fix and files (they were written for the whole group).
pub fn split_by_deploy(group: Group, items: &[Item]) -> Vec<Part> {
    let decided = |i: usize| {
        items
            .get(i)
            .and_then(|m| m.evidence.gate.last().map(|g| g.decided_at_ms))
            .unwrap_or(i64::MIN)
    };
    // Deploys in order of their latest decision among the members.
    let mut deploys: Vec<(i64, String)> = Vec::new();
    for &i in &group.members {
        let Some(d) = items.get(i).and_then(|m| m.deploy_id.clone()) else {
            continue;
        };
        match deploys.iter_mut().find(|(_, id)| *id == d) {
            Some(entry) => entry.0 = entry.0.max(decided(i)),
            None => deploys.push((decided(i), d)),
        }
    }
    if deploys.len() < 2 {
        return vec![(group, None)];
    }
    deploys.sort();
    let latest = deploys.len() - 1;
    let mut parts: Vec<Vec<usize>> = vec![Vec::new(); deploys.len()];
    for &i in &group.members {
        let k = items
            .get(i)
            .and_then(|m| m.deploy_id.as_deref())
            .and_then(|d| deploys.iter().position(|(_, id)| id == d))
            .unwrap_or(latest);
        parts[k].push(i);
    }
    let all: Vec<&str> = deploys.iter().map(|(_, d)| d.as_str()).collect();
    parts
        .into_iter()
        .zip(&deploys)
        .map(|(members, (_, deploy))| {
            let why = format!(
                "grouped in one batch with errors the gate attributed to other deploys ({}), at the same crash site or by the model:                  a ticket of its own for deploy {deploy}, triaged against that deploy's diff, not absorbed",
                all.iter()
                    .filter(|d| *d != deploy)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let part = match group.method {
                Method::Deterministic => describe(items, members),
                _ => Group {
                    members,
                    ..group.clone()
                },
            };
            (part, Some(why))
        })
        .collect()
}

/// Why `addition` must not grow `open`, or `None` when it may.
///
/// A group attributed to a deploy (a `regression` or `new` verdict) that is
/// not the open ticket's deploy is its own suspect: it gets its own ticket,
/// triaged against its own diff, and the open ticket keeps pointing at the
/// deploy that raised it. Spikes (no deploy) and further candidates of the
/// same deploy grow the open ticket.
pub fn separate_from(open: &Ticket, addition: &Ticket) -> Option<String> {
    let new_deploy = addition.deploy_id.as_deref()?;
    if open.deploy_id.as_deref() == Some(new_deploy) {
        return None;
    }
    let shared_signature = addition
        .signature_ids()
        .any(|s| open.signature_ids().any(|o| o == s));
    let how = if shared_signature {
        "a signature"
    } else {
        "a crash site"
    };
    Some(match open.deploy_id.as_deref() {
        Some(earlier) => format!(
            "shares {how} with open ticket {} (raised by deploy {earlier}), but the gate attributed it to deploy {new_deploy}: triaged against that deploy's diff, not absorbed",
            open.id
        ),
        None => format!(
            "shares {how} with open ticket {} (a spike, no deploy), but the gate attributed it to deploy {new_deploy}: triaged against that deploy's diff, not absorbed",
            open.id
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tickets::test_support::ticket;
    use crate::domain::tickets::{Method, SignatureEvidence};

    fn with(id: &str, deploy: Option<&str>, signature: &str, crash_site: &str) -> Ticket {
        let mut t = ticket(id, None, None, Method::Deterministic);
        t.deploy_id = deploy.map(str::to_string);
        t.signatures = vec![SignatureEvidence {
            signature: signature.into(),
            title: "E".into(),
            exception_type: None,
            message: "boom".into(),
            frames: Vec::new(),
            breadcrumbs: Vec::new(),
            crash_site: Some(crash_site.into()),
            release: None,
            environment: None,
            total_events: 1,
            first_seen_ms: 0,
            last_seen_ms: 0,
            gate: Vec::new(),
        }];
        t
    }

    #[test]
    fn a_later_deploys_regression_at_the_same_crash_site_is_its_own_ticket() {
        let open = with("T-1", Some("d1"), "sig-a", "app/pay.py in charge");
        let later = with("", Some("d2"), "sig-b", "app/pay.py in charge");
        let why = separate_from(&open, &later).expect("separated");
        assert!(why.contains("a crash site with open ticket T-1"), "{why}");
        assert!(why.contains("raised by deploy d1"), "{why}");
        assert!(why.contains("deploy d2"), "{why}");
        // The same signature flagged again by a later deploy, too.
        let again = with("", Some("d2"), "sig-a", "app/pay.py in charge");
        assert!(separate_from(&open, &again).is_some_and(|w| w.contains("a signature")));
    }

    #[test]
    fn more_of_the_same_incident_grows_the_open_ticket() {
        let open = with("T-1", Some("d1"), "sig-a", "app/pay.py in charge");
        // Another signature of the same deploy.
        assert_eq!(
            separate_from(
                &open,
                &with("", Some("d1"), "sig-b", "app/pay.py in charge")
            ),
            None
        );
        // A spike between deploys: nothing to triage against.
        assert_eq!(
            separate_from(&open, &with("", None, "sig-a", "app/pay.py in charge")),
            None
        );
        // An open spike ticket and a deploy's regression: the deploy is a suspect.
        let spike = with("T-2", None, "sig-c", "app/cart.py in add");
        assert!(
            separate_from(&spike, &with("", Some("d3"), "sig-d", "app/cart.py in add")).is_some()
        );
    }
}
