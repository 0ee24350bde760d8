//! The dashboard's browser sessions and one-time login codes, in memory.
//!
//! A session is made by logging in with an admin token (or a one-time code
//! `suture dashboard` asked for) and carries that token's name, so what a
//! person does from the page is audited under the same name as their
//! token. Ids and codes are 256 random bits from the OS; only their
//! SHA-256 is kept, so the map's lookups reveal nothing about a valid id
//! by their timing, and a memory dump holds no usable secret. A restart
//! logs everyone out, which is the safe side for an admin surface.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};

/// How long a one-time login code may wait to be used: the time to click
/// the link `suture dashboard` printed.
pub const CODE_TTL: Duration = Duration::from_secs(120);
/// Most sessions kept at once; past it the least recently used goes. A
/// bound so a client logging in in a loop cannot grow memory forever.
const MAX_SESSIONS: usize = 256;
/// Most login codes waiting at once (same reason).
const MAX_CODES: usize = 64;

/// The sessions and codes, shared by the login routes and the admin check.
#[derive(Debug)]
pub struct Sessions {
    idle: Duration,
    random: SystemRandom,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Hash of the id → the session.
    sessions: HashMap<[u8; 32], Session>,
    /// Hash of the code → the code.
    codes: HashMap<[u8; 32], Code>,
}

#[derive(Debug)]
struct Session {
    name: Arc<str>,
    last_seen: Instant,
}

#[derive(Debug)]
struct Code {
    name: Arc<str>,
    expires: Instant,
}

impl Sessions {
    /// Sessions that end after `idle` without a request.
    pub fn new(idle: Duration) -> Self {
        Self {
            idle,
            random: SystemRandom::new(),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// A new session for the token named `name`; returns its id (the
    /// cookie's value), or `None` when the OS generator failed.
    pub fn create(&self, name: &str) -> Option<String> {
        let id = self.secret()?;
        let now = Instant::now();
        let mut inner = self.lock();
        let idle = self.idle;
        inner
            .sessions
            .retain(|_, s| now.duration_since(s.last_seen) < idle);
        if inner.sessions.len() >= MAX_SESSIONS {
            let oldest = inner
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| *k);
            if let Some(key) = oldest {
                inner.sessions.remove(&key);
            }
        }
        inner.sessions.insert(
            digest(&id),
            Session {
                name: Arc::from(name),
                last_seen: now,
            },
        );
        Some(id)
    }

    /// The token name of a live session, which this request keeps alive.
    pub fn lookup(&self, id: &str) -> Option<Arc<str>> {
        let now = Instant::now();
        let key = digest(id);
        let mut inner = self.lock();
        let session = inner.sessions.get_mut(&key)?;
        if now.duration_since(session.last_seen) >= self.idle {
            inner.sessions.remove(&key);
            return None;
        }
        session.last_seen = now;
        Some(session.name.clone())
    }

    /// Ends a session (logout). Unknown ids are ignored.
    pub fn end(&self, id: &str) {
        self.lock().sessions.remove(&digest(id));
    }

    /// A one-time login code for the token named `name`, valid for
    /// [`CODE_TTL`]; `None` when the OS generator failed.
    pub fn issue_code(&self, name: &str) -> Option<String> {
        let code = self.secret()?;
        let now = Instant::now();
        let mut inner = self.lock();
        inner.codes.retain(|_, c| c.expires > now);
        if inner.codes.len() >= MAX_CODES {
            return None;
        }
        inner.codes.insert(
            digest(&code),
            Code {
                name: Arc::from(name),
                expires: now + CODE_TTL,
            },
        );
        Some(code)
    }

    /// The name a code was issued for, if it is known and not expired; the
    /// code is spent either way.
    pub fn redeem_code(&self, code: &str) -> Option<Arc<str>> {
        let spent = self.lock().codes.remove(&digest(code))?;
        (spent.expires > Instant::now()).then_some(spent.name)
    }

    fn secret(&self) -> Option<String> {
        let mut bytes = [0u8; 32];
        self.random.fill(&mut bytes).ok()?;
        Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves maps that are still valid.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn digest(secret: &str) -> [u8; 32] {
    let hash = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(hash.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_carries_its_token_name_until_it_ends() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let id = sessions.create("alice").expect("id");
        assert_eq!(id.len(), 64, "256 bits, hex");
        assert_eq!(sessions.lookup(&id).as_deref(), Some("alice"));
        assert_eq!(sessions.lookup("not-a-session"), None);
        sessions.end(&id);
        assert_eq!(sessions.lookup(&id), None);
    }

    #[test]
    fn an_idle_session_expires() {
        let sessions = Sessions::new(Duration::ZERO);
        let id = sessions.create("alice").expect("id");
        assert_eq!(sessions.lookup(&id), None);
    }

    #[test]
    fn a_code_is_spent_on_first_use() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let code = sessions.issue_code("admin").expect("code");
        let other = sessions.issue_code("admin").expect("code");
        assert_ne!(code, other, "random, not a counter");
        assert_eq!(sessions.redeem_code(&code).as_deref(), Some("admin"));
        assert_eq!(sessions.redeem_code(&code), None, "single use");
        assert_eq!(sessions.redeem_code("guess"), None);
    }

    #[test]
    fn sessions_are_bounded() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let first = sessions.create("a").expect("id");
        for _ in 0..MAX_SESSIONS {
            sessions.create("b").expect("id");
        }
        assert_eq!(
            sessions.lookup(&first),
            None,
            "the least recently used went"
        );
    }
}
