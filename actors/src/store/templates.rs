//! The `templates` tree: the log templates message-only events are signed
//! by, one record per leaf of the template tree.
//!
//! Key: the leaf's encoded key ([`crate::domain::template::leaf::encode_key`]:
//! token count and routing tokens). Value: `{"templates": [[word, ...], ...]}`
//! in ordinal order, `<*>` for a wildcard. A leaf is rewritten whole when
//! it changes (a template founded or widened): leaves are small, and a
//! whole record can never be half old, half new.
//!
//! The ingest actor writes the unsaved leaves in each group commit, before
//! the group's events and under the same flush, so an acknowledged event's
//! template is durable with it (`docs/grouping.md` has the argument).

use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::domain::template::SavedLeaf;

#[derive(Deserialize)]
struct LeafValue {
    templates: Vec<Vec<String>>,
}

#[derive(Serialize)]
struct LeafValueRef<'a> {
    templates: &'a [Vec<String>],
}

impl Store {
    /// Every saved leaf, for [`crate::domain::template::TemplateSet::restore`].
    pub fn templates(&self) -> Result<Vec<SavedLeaf>, StoreError> {
        let mut out = Vec::new();
        for item in self.templates.iter() {
            let (key, value) = item?;
            let value: LeafValue = serde_json::from_slice(&value)?;
            out.push(SavedLeaf {
                key: key.to_vec(),
                templates: value.templates,
                version: 0,
            });
        }
        Ok(out)
    }

    /// Writes `leaves` in one atomic batch (not yet durable: the group
    /// commit's flush makes it so).
    pub fn write_templates(&self, leaves: &[SavedLeaf]) -> Result<(), StoreError> {
        if leaves.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for leaf in leaves {
            let value = LeafValueRef {
                templates: &leaf.templates,
            };
            batch.insert(leaf.key.as_slice(), serde_json::to_vec(&value)?);
        }
        self.templates.apply_batch(batch)?;
        Ok(())
    }
}
