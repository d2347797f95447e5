//! The outcome of the last scheduled run (`pgkeep backup --scheduled`), kept in a small file
//! in the backup directory so `doctor`, `status` and the console can say whether the night's
//! backup worked without reading the cron log.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// File name of the record, in the backup directory.
pub const FILE_NAME: &str = ".pgkeep-last-scheduled.json";

/// One scheduled run's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastRun {
    /// When it ended.
    pub at: DateTime<Utc>,
    /// Whether the backup and every step after it succeeded.
    pub ok: bool,
    /// The backup file, or what failed.
    pub message: String,
}

/// File name of the scheduled base backup's record (`pgkeep basebackup --scheduled`).
pub const BASE_FILE_NAME: &str = ".pgkeep-last-scheduled-base.json";

/// The record's path for `backup_dir`.
pub fn path(backup_dir: &Path) -> PathBuf {
    backup_dir.join(FILE_NAME)
}

/// Records the outcome (atomically, 0600). Failing to record is reported, never fatal.
pub fn record(backup_dir: &Path, ok: bool, message: &str) {
    record_at(&path(backup_dir), ok, message)
}

/// Records the scheduled base backup's outcome, beside the dump's record.
pub fn record_base(backup_dir: &Path, ok: bool, message: &str) {
    record_at(&backup_dir.join(BASE_FILE_NAME), ok, message)
}

/// The last scheduled base backup's outcome, None when there is none.
pub fn read_base(backup_dir: &Path) -> Option<LastRun> {
    serde_json::from_slice(&std::fs::read(backup_dir.join(BASE_FILE_NAME)).ok()?).ok()
}

fn record_at(file: &Path, ok: bool, message: &str) {
    let run = LastRun {
        at: Utc::now(),
        ok,
        message: message.to_string(),
    };
    let json = serde_json::to_vec_pretty(&run).expect("serializes");
    if let Err(e) = crate::engine::fsutil::write_atomic(file, &json) {
        eprintln!("pgkeep: warning: cannot record the scheduled run's outcome: {e}");
    }
}

/// The last recorded outcome, None when there is none (or it cannot be read).
pub fn read(backup_dir: &Path) -> Option<LastRun> {
    serde_json::from_slice(&std::fs::read(path(backup_dir)).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read(d.path()), None);
        record(d.path(), false, "backup FAILED: server down");
        let r = read(d.path()).unwrap();
        assert!(!r.ok);
        assert_eq!(r.message, "backup FAILED: server down");
    }
}
