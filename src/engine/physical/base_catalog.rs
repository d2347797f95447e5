//! Base backups on disk: `<backup dir>/base/<system identifier>_<time>.tar.gz`, beside it
//! `<name>.json` (pgkeep's manifest) and `<name>.backup_manifest` (PostgreSQL's).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::walseg::{parse_lsn, Segment};
use crate::engine::fsutil;
use crate::error::{Error, IoContext, Result};

/// Suffix of a finished base backup.
pub const BASE_SUFFIX: &str = ".tar.gz";

/// The folder of base backups inside the backup dir.
pub fn base_dir(backup_dir: &Path) -> PathBuf {
    backup_dir.join("base")
}

/// Everything pgkeep knows about one base backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseManifest {
    /// Always "base".
    pub kind: String,
    /// The cluster's system identifier (as text: it does not fit JSON numbers safely).
    pub system_identifier: String,
    /// The server's version.
    pub server_version: String,
    /// The timeline the backup started on.
    pub timeline: u32,
    /// WAL location where the backup starts (`X/Y`).
    pub start_lsn: String,
    /// WAL location where the backup is consistent (`X/Y`).
    pub stop_lsn: String,
    /// The server's `wal_segment_size` in bytes.
    pub wal_segment_size: u64,
    /// When pg_basebackup started.
    pub started_at: DateTime<Utc>,
    /// When pg_basebackup had finished: a target time must be later than this.
    pub finished_at: DateTime<Utc>,
    /// Bytes of the `.tar.gz` file.
    pub compressed_bytes: u64,
    /// Bytes of the data directory copied.
    pub raw_bytes: u64,
    /// sha256 of the `.tar.gz` file.
    pub sha256: String,
    /// Whether pg_verifybackup checked the copy against PostgreSQL's backup_manifest.
    pub verified_by_pg_verifybackup: bool,
    /// "direct" or "compose".
    pub target: String,
    /// pgkeep's version.
    pub pgkeep_version: String,
}

impl BaseManifest {
    /// The first WAL segment recovery from this backup needs.
    pub fn start_segment(&self) -> Option<Segment> {
        Some(Segment::at_lsn(
            self.timeline,
            parse_lsn(&self.start_lsn)?,
            self.wal_segment_size,
        ))
    }
}

/// A finished base backup.
#[derive(Debug, Clone)]
pub struct BaseBackup {
    /// File name (`<sysid>_<time>.tar.gz`).
    pub name: String,
    /// Full path of the `.tar.gz`.
    pub path: PathBuf,
    /// Its manifest.
    pub manifest: BaseManifest,
}

/// Path of the pgkeep manifest of `backup`.
pub fn manifest_path(backup: &Path) -> PathBuf {
    let mut p = backup.as_os_str().to_owned();
    p.push(".json");
    PathBuf::from(p)
}

/// Writes `m` beside `backup`, atomically.
pub fn write_manifest(backup: &Path, m: &BaseManifest) -> Result<()> {
    let path = manifest_path(backup);
    let text = serde_json::to_vec_pretty(m).map_err(|e| Error::Other(e.to_string()))?;
    fsutil::write_atomic(&path, &text).ctx(|| format!("writing {}", path.display()), &path)
}

/// Every finished base backup with a readable manifest whose file size matches, oldest first.
pub fn scan(backup_dir: &Path) -> Result<Vec<BaseBackup>> {
    let dir = base_dir(backup_dir);
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::BackupDir {
                path: dir,
                reason: format!("cannot read it ({e})"),
            })
        }
    };
    let mut out = Vec::new();
    for ent in rd.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        if !name.ends_with(BASE_SUFFIX) {
            continue;
        }
        let path = ent.path();
        let Ok(text) = std::fs::read(manifest_path(&path)) else {
            continue;
        };
        let Ok(manifest) = serde_json::from_slice::<BaseManifest>(&text) else {
            continue;
        };
        if ent.metadata().map(|m| m.len()).ok() != Some(manifest.compressed_bytes) {
            continue;
        }
        out.push(BaseBackup {
            name,
            path,
            manifest,
        });
    }
    out.sort_by_key(|b| b.manifest.finished_at);
    Ok(out)
}

/// Whether point-in-time recovery is in use here: a base backup exists, or the server
/// archives WAL into `wal_dir` (a cluster folder with a file in it). Decides whether
/// `schedule install` adds the base backup line: without an archive it would only fail.
pub fn pitr_in_use(backup_dir: &Path, wal_dir: &Path) -> bool {
    let has_file = |dir: &Path| {
        std::fs::read_dir(dir).is_ok_and(|mut rd| rd.any(|e| e.is_ok_and(|e| e.path().is_file())))
    };
    let base = base_dir(backup_dir);
    let has_base = std::fs::read_dir(&base).is_ok_and(|rd| {
        rd.flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(BASE_SUFFIX))
    });
    has_base
        || std::fs::read_dir(wal_dir).is_ok_and(|rd| {
            rd.flatten()
                .any(|e| e.path().is_dir() && has_file(&e.path()))
        })
}
