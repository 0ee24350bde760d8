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

use crate::domain::tickets::Ticket;

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
