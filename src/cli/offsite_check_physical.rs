//! The base-backup and WAL part of `pgkeep offsite check`: one line per destination, one per
//! damaged object.

use color_eyre::eyre::Result;

use crate::offsite::physical_check;
use crate::offsite::Store;

/// Checks `store`'s base backups and WAL and prints the outcome; returns how many objects
/// are damaged.
pub async fn report(store: &Store) -> Result<usize> {
    let c = physical_check::check(store).await?;
    for (object, why) in &c.failures {
        println!("{}: {object} FAILED: {why}", store.label);
    }
    if c.bases + c.wal_files + c.unchecked + c.failures.len() == 0 {
        return Ok(0);
    }
    let mut line = format!(
        "{}: {} base backup(s) and {} WAL file(s) ok (sha256 matches their checksum files)",
        store.label, c.bases, c.wal_files
    );
    if c.unchecked > 0 {
        line.push_str(&format!(
            "; {} WAL file(s) without a checksum file (copied by an older pgkeep: `pgkeep offsite push` adds them)",
            c.unchecked
        ));
    }
    println!("{line}");
    Ok(c.failures.len())
}
