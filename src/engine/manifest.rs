//! The manifest written beside every backup: `<name>.sql.gz.json`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::fsutil;
use crate::error::{Error, IoContext, Result};

/// Current manifest format version.
pub const FORMAT_VERSION: u32 = 1;

/// Everything known about one backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format version.
    pub format_version: u32,
    /// The database that was dumped.
    pub database: String,
    /// The server's version (`SHOW server_version`).
    pub server_version: String,
    /// pg_dump's version (`pg_dump --version`).
    pub pg_dump_version: String,
    /// When the dump started (UTC).
    pub started_at: DateTime<Utc>,
    /// When the file was complete (UTC).
    pub finished_at: DateTime<Utc>,
    /// Wall time of the backup in seconds.
    pub duration_secs: f64,
    /// Bytes of SQL pg_dump produced.
    pub raw_bytes: u64,
    /// Bytes of the `.sql.gz` file.
    pub compressed_bytes: u64,
    /// sha256 of the `.sql.gz` file, lowercase hex.
    pub sha256: String,
    /// gzip level used.
    pub compression_level: u32,
    /// Free-text label (`pre-restore` for safety backups).
    pub label: Option<String>,
    /// pgkeep's version.
    pub pgkeep_version: String,
    /// "direct" or "compose".
    #[serde(default)]
    pub target: String,
    /// `pg_database_size` at backup time.
    #[serde(default)]
    pub database_size_bytes: Option<u64>,
    /// Tables in the dump.
    pub tables: Vec<TableEntry>,
    /// The latest verification, if any.
    #[serde(default)]
    pub verification: Option<Verification>,
    /// The globals file beside the dump (roles, tablespaces, database properties); None in
    /// backups made before pgkeep captured them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub globals: Option<GlobalsEntry>,
    /// Large objects in the database at backup time (a load of many cannot run in one
    /// transaction: each holds a lock until the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large_objects: Option<u64>,
    /// What the dump is known to lose (INVALID indexes pg_dump leaves out), one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Set when the dump and globals file are encrypted with age (top-level `encrypt_to`):
    /// `compressed_bytes` and `sha256` are then those of the stored (encrypted) file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
}

/// How an encrypted backup was encrypted, and its plaintext's checksum (checked after
/// decrypting). The manifest itself stays readable: it holds no secret (table names, row
/// counts, sizes); the globals file, which holds password verifiers, is encrypted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encryption {
    /// The age recipients (public keys) the files are encrypted to.
    pub encrypted_to: Vec<String>,
    /// sha256 of the decrypted dump (the gzip stream), lowercase hex.
    pub plain_sha256: String,
    /// Bytes of the decrypted dump.
    pub plain_bytes: u64,
}

/// What to do about partial globals (appended to [`Manifest::globals_warning`]'s line).
pub const GLOBALS_HINT: &str = ": run backups as a superuser to capture every role's password";

/// The globals file of a backup (`<name>.sql.gz.globals.sql`), see [`crate::engine::globals`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalsEntry {
    /// Its file name, in the backup's directory; empty when it could not be captured at all.
    pub file: String,
    /// sha256 of the file, lowercase hex.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// `complete`, `partial` (something could not be read) or `failed` (no file).
    pub status: String,
    /// Why it is not complete, one line.
    #[serde(default)]
    pub reason: Option<String>,
    /// sha256 of the decrypted text when the file is encrypted (`sha256` is the stored file's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain_sha256: Option<String>,
}

impl GlobalsEntry {
    /// True when everything was captured.
    pub fn is_complete(&self) -> bool {
        self.status == "complete"
    }
}

/// One table of the dump.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableEntry {
    /// Qualified name exactly as in the dump's COPY statement (`public."Invoice"`).
    pub name: String,
    /// `pg_class.reltuples` at backup time (-1 when never analysed).
    pub estimated_rows: i64,
    /// Rows actually in the dump (counted from the COPY data as it streamed by).
    pub rows: Option<u64>,
}

/// The result of a verification (test restore).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// When it ran (UTC).
    pub at: DateTime<Utc>,
    /// Whether every check passed.
    pub ok: bool,
    /// What was found ("12 tables, 1,234,567 rows match" or the failure).
    pub message: String,
}

impl Manifest {
    /// The manifest's path for a backup file.
    pub fn path_for(backup: &Path) -> PathBuf {
        let mut s = backup.as_os_str().to_owned();
        s.push(".json");
        PathBuf::from(s)
    }

    /// Reads the manifest of `backup`, None when there is none.
    pub fn read_for(backup: &Path) -> Result<Option<Manifest>> {
        let path = Manifest::path_for(backup);
        let corrupt = |reason: String| Error::Corrupt {
            name: path.display().to_string(),
            reason,
        };
        match std::fs::read(&path) {
            Ok(bytes) => {
                let m: Manifest = serde_json::from_slice(&bytes)
                    .map_err(|e| corrupt(format!("the manifest cannot be read ({e})")))?;
                Ok(Some(m))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e, &path)),
        }
    }

    /// Writes the manifest of `backup` atomically (temp file, fsync, rename), mode 0600.
    pub fn write_for(&self, backup: &Path) -> Result<()> {
        let path = Manifest::path_for(backup);
        let json = serde_json::to_vec_pretty(self).expect("manifest serializes");
        fsutil::write_atomic(&path, &json).ctx(|| format!("writing {}", path.display()), &path)
    }

    /// One line when the backup's globals are not complete ("globals partial: no password
    /// verifiers (not superuser)"), None when they are or the backup predates them.
    pub fn globals_warning(&self) -> Option<String> {
        let g = self.globals.as_ref()?;
        (!g.is_complete()).then(|| {
            format!(
                "globals {}: {}",
                g.status,
                g.reason.as_deref().unwrap_or("unknown reason")
            )
        })
    }

    /// Total rows in the dump (counted), or the estimate when no counts exist.
    pub fn total_rows(&self) -> u64 {
        self.tables
            .iter()
            .map(|t| t.rows.unwrap_or(t.estimated_rows.max(0) as u64))
            .sum()
    }
}
