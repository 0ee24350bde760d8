//! What each tree holds: entries and bytes, for an operator asking what
//! makes a store grow (`GET /v1/admin/store`, `suture store-stats`).
//!
//! A full scan of every tree: cheap on a sidecar's store (megabytes), but
//! not something to call on every status request.

use serde::Serialize;

use super::{Store, StoreError};

/// One tree's size.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TreeStats {
    pub name: String,
    pub entries: u64,
    pub key_bytes: u64,
    pub value_bytes: u64,
}

impl Store {
    /// Every tree's entries and bytes, largest first, and the size of
    /// sled's files on disk (`size_on_disk`, which counts space sled has
    /// not reclaimed yet).
    pub fn tree_stats(&self) -> Result<(Vec<TreeStats>, u64), StoreError> {
        let mut trees = Vec::new();
        for name in self.db.tree_names() {
            let tree = self.db.open_tree(&name)?;
            let mut stats = TreeStats {
                name: String::from_utf8_lossy(&name).into_owned(),
                entries: 0,
                key_bytes: 0,
                value_bytes: 0,
            };
            for item in tree.iter() {
                let (key, value) = item?;
                stats.entries += 1;
                stats.key_bytes += key.len() as u64;
                stats.value_bytes += value.len() as u64;
            }
            trees.push(stats);
        }
        trees.sort_by(|a, b| {
            (b.key_bytes + b.value_bytes)
                .cmp(&(a.key_bytes + a.value_bytes))
                .then_with(|| a.name.cmp(&b.name))
        });
        Ok((trees, self.db.size_on_disk()?))
    }
}
