//! The marker that finds a ticket's issue again, made unforgeable.
//!
//! The marker used to be `<!-- suture-ticket: T-3 -->`, matched anywhere in
//! any labelled issue's body. Exception text ends up in issue bodies, and
//! whoever triggers an exception writes its text: a message echoing
//! `<!-- suture-ticket: T-9 -->` planted the marker of a ticket not opened
//! yet, and T-9 was then "found" in the attacker's issue instead of opened.
//! Two sidecars on one repository also found each other's T-3.
//!
//! Now the marker carries a tag, an HMAC-SHA256 of the ticket id under a
//! key that each installation generates once and keeps in its store, so
//! nobody without the store can write a valid marker for a ticket, and one
//! installation's markers never match another's. The marker must also be a
//! whole line of the body (Suture writes it as the last line, after a blank
//! one), and the issue must have been opened by the token's own user.

use ring::hmac;

/// Bytes of the installation key.
pub const KEY_BYTES: usize = 32;
/// Bytes of the HMAC kept in the marker: 128 bits, beyond guessing.
const TAG_BYTES: usize = 16;

/// The installation's marker key.
#[derive(Clone)]
pub struct MarkerKey(hmac::Key);

impl std::fmt::Debug for MarkerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MarkerKey(..)")
    }
}

impl MarkerKey {
    /// The key from its stored bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// New random key bytes, from the operating system's generator.
    pub fn generate() -> Result<[u8; KEY_BYTES], ring::error::Unspecified> {
        let mut bytes = [0u8; KEY_BYTES];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)?;
        Ok(bytes)
    }

    /// The marker line for `ticket_id`.
    pub fn marker(&self, ticket_id: &str) -> String {
        let tag = hmac::sign(&self.0, format!("suture-ticket:{ticket_id}").as_bytes());
        let hex: String = tag
            .as_ref()
            .iter()
            .take(TAG_BYTES)
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("<!-- suture-ticket: {ticket_id} {hex} -->")
    }
}

/// Whether `body` has `marker` as one of its lines, exactly (a `\r` before
/// the newline aside): a marker quoted inside other text is not one.
pub fn body_has_marker(body: &str, marker: &str) -> bool {
    body.lines()
        .any(|line| line.trim_end_matches('\r') == marker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_depend_on_the_key_and_the_ticket() {
        let a = MarkerKey::from_bytes(&[1; KEY_BYTES]);
        let b = MarkerKey::from_bytes(&[2; KEY_BYTES]);
        assert_eq!(a.marker("T-3"), a.marker("T-3"));
        assert_ne!(a.marker("T-3"), b.marker("T-3"), "another installation");
        assert_ne!(a.marker("T-3"), a.marker("T-4"));
        let marker = a.marker("T-3");
        assert!(marker.starts_with("<!-- suture-ticket: T-3 "), "{marker}");
        assert!(marker.ends_with(" -->"), "{marker}");
        assert_eq!(
            marker.len(),
            "<!-- suture-ticket: T-3  -->".len() + 2 * TAG_BYTES
        );
        assert_ne!(MarkerKey::generate().ok(), MarkerKey::generate().ok());
    }

    #[test]
    fn only_a_whole_line_is_a_marker() {
        let marker = MarkerKey::from_bytes(&[1; KEY_BYTES]).marker("T-3");
        assert!(body_has_marker(&format!("text\n\n{marker}"), &marker));
        assert!(body_has_marker(
            &format!("text\r\n\r\n{marker}\r\n"),
            &marker
        ));
        assert!(!body_has_marker(&format!("error: {marker}"), &marker));
        assert!(!body_has_marker(&format!("`{marker}`"), &marker));
        assert!(!body_has_marker("<!-- suture-ticket: T-3 -->", &marker));
    }
}
