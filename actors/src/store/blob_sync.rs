//! Making sled's blob files as durable as its log.
//!
//! sled 0.34.7 writes a page whose serialized size is over a quarter of a
//! segment (512 KiB / 4 = 128 KiB, less a header) to a file of its own,
//! `blobs/<lsn>`, and logs only a pointer to it. The pointer is in the main
//! file that the group commit syncs; the blob file and the `blobs/` folder
//! entry that names it are written and never synced. After a power cut the
//! log can point at a blob that is empty or missing: the page is lost, and
//! every later read of it fails.
//!
//! Keeping records small does not avoid this: the threshold applies to a
//! page, a leaf of many keys, not to one value (a sample leaf holds up to 16
//! whole events of up to 1 MiB). So after each flush every blob file not yet
//! synced is synced, then the folder, before any request is answered: "a
//! 200 means on disk" holds for blobs too. Blob files are never rewritten
//! in place (each has a new log sequence number as its name), so a file
//! synced once stays synced, and the set of synced names only needs
//! pruning when sled removes old blobs.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::Mutex;

/// The blob folder and which of its files are known to be on disk.
#[derive(Debug)]
pub struct BlobSync {
    dir: PathBuf,
    synced: Mutex<HashSet<OsString>>,
}

impl BlobSync {
    /// For the store at `store_path` (sled keeps blobs in `<path>/blobs`).
    pub fn new(store_path: &std::path::Path) -> Self {
        Self {
            dir: store_path.join("blobs"),
            synced: Mutex::new(HashSet::new()),
        }
    }

    /// Syncs every blob file not synced yet, then the folder when there was
    /// one. Returns how many files were synced. Blocking: call it where the
    /// main file's `fdatasync` runs.
    pub fn sync_new(&self) -> io::Result<usize> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            // No blob written yet (sled makes the folder at open).
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut synced = self
            .synced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut present = HashSet::new();
        let mut newly = 0;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if !synced.contains(&name) {
                match File::open(entry.path()) {
                    Ok(file) => file.sync_all()?,
                    // sled removed it between the listing and now.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                newly += 1;
            }
            present.insert(name);
        }
        if newly > 0 {
            // The folder entry is what makes a new file findable after a crash.
            File::open(&self.dir)?.sync_all()?;
        }
        *synced = present;
        Ok(newly)
    }

    /// How many blob files are known to be synced (for tests and status).
    pub fn synced_count(&self) -> usize {
        self.synced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// The folder watched.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_files_are_synced_once_and_removed_ones_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sync = BlobSync::new(dir.path());
        assert_eq!(sync.sync_new().expect("no folder yet"), 0);
        std::fs::create_dir(dir.path().join("blobs")).expect("mkdir");
        std::fs::write(dir.path().join("blobs/17"), b"x").expect("write");
        std::fs::write(dir.path().join("blobs/18"), b"y").expect("write");
        assert_eq!(sync.sync_new().expect("sync"), 2);
        assert_eq!(sync.sync_new().expect("sync"), 0, "already synced");
        std::fs::remove_file(dir.path().join("blobs/17")).expect("rm");
        std::fs::write(dir.path().join("blobs/19"), b"z").expect("write");
        assert_eq!(sync.sync_new().expect("sync"), 1);
        assert_eq!(sync.synced_count(), 2);
    }
}
