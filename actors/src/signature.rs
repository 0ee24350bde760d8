//! PLACEHOLDER until the real module lands.
use crate::event::Event;
use serde::{Deserialize, Serialize};
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SignatureConfig {
    pub max_title_chars: usize,
}
#[derive(Debug)]
pub struct SignatureConfigError;
impl std::fmt::Display for SignatureConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "x")
    }
}
impl std::error::Error for SignatureConfigError {}
pub struct Signer;
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureBasis {
    Fingerprint,
    Frames,
    Message,
}
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub id: String,
    pub title: String,
    pub culprit: Option<String>,
    pub basis: SignatureBasis,
}
impl Signer {
    pub fn new(_c: &SignatureConfig) -> Result<Self, SignatureConfigError> {
        Ok(Signer)
    }
    pub fn sign(&self, e: &Event) -> Signature {
        let h = xxhash_rust::xxh3::xxh3_64(e.message.as_bytes());
        Signature {
            id: format!("{h:016x}"),
            title: e.message.clone(),
            culprit: None,
            basis: SignatureBasis::Message,
        }
    }
}
pub fn infer_exception_type(m: &str) -> Option<&str> {
    m.split_once(':')
        .map(|(a, _)| a)
        .filter(|a| a.ends_with("Error"))
}
