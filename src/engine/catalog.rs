//! The catalog: what is in the backup directory. Finished backups (`*.sql.gz`, with or
//! without manifest), interrupted ones (`*.sql.gz.partial`), newest first.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};
use serde::Serialize;

use crate::engine::manifest::Manifest;
use crate::error::{Error, Result};

/// Suffix of a finished backup.
pub const BACKUP_SUFFIX: &str = ".sql.gz";
/// Suffix of a backup being written (or interrupted).
pub const PARTIAL_SUFFIX: &str = ".sql.gz.partial";
/// Timestamp format inside file names (UTC).
pub const NAME_TIME_FORMAT: &str = "%Y-%m-%dT%H-%M-%SZ";

/// The state of one backup.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum BackupStatus {
    /// Finished, with a manifest, not yet verified.
    Complete,
    /// A test restore succeeded.
    Verified {
        /// When.
        at: DateTime<Utc>,
    },
    /// The latest test restore or check failed.
    VerifyFailed {
        /// When.
        at: DateTime<Utc>,
        /// Why.
        message: String,
    },
    /// The file's size differs from the manifest: damaged or replaced.
    ChecksumMismatch,
    /// A `.partial` file: the backup never finished.
    Interrupted,
    /// A `.sql.gz` without manifest (made by the old script or by hand).
    NoManifest,
}

impl BackupStatus {
    /// Short text for lists: "complete", "verified", "FAILED verification", ...
    pub fn label(&self) -> &'static str {
        match self {
            BackupStatus::Complete => "complete",
            BackupStatus::Verified { .. } => "verified",
            BackupStatus::VerifyFailed { .. } => "failed verification",
            BackupStatus::ChecksumMismatch => "checksum mismatch",
            BackupStatus::Interrupted => "interrupted",
            BackupStatus::NoManifest => "no manifest",
        }
    }

    /// True for a finished backup that can be restored.
    pub fn is_restorable(&self) -> bool {
        !matches!(
            self,
            BackupStatus::Interrupted | BackupStatus::ChecksumMismatch
        )
    }
}

/// One backup in the directory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupEntry {
    /// File name (`shop_2026-11-24T02-00-00Z.sql.gz`).
    pub name: String,
    /// Full path.
    pub path: PathBuf,
    /// Database name from the manifest or file name.
    pub database: String,
    /// When the backup was taken (UTC): from the name, else the file's mtime.
    pub time: DateTime<Utc>,
    /// File size in bytes.
    pub size: u64,
    /// Label from the manifest.
    pub label: Option<String>,
    /// Status.
    pub status: BackupStatus,
    /// The manifest, when there is one.
    #[serde(skip)]
    pub manifest: Option<Manifest>,
}

/// Splits `<db>_<YYYY-MM-DDTHH-MM-SSZ>.sql.gz` into database and UTC time.
pub fn parse_name(file_name: &str) -> Option<(String, DateTime<Utc>)> {
    let stem = file_name
        .strip_suffix(PARTIAL_SUFFIX)
        .or_else(|| file_name.strip_suffix(BACKUP_SUFFIX))?;
    let (db, ts) = stem.rsplit_once('_')?;
    let t = NaiveDateTime::parse_from_str(ts, NAME_TIME_FORMAT).ok()?;
    Some((db.to_string(), t.and_utc()))
}

/// The time in an old-style name such as `facturatie_20240102_030405.sql.gz` (the shell
/// script's `date +%Y%m%d_%H%M%S`, local time): the first 14 digits, ignoring separators,
/// that form a valid date and time.
pub fn legacy_name_time(file_name: &str) -> Option<DateTime<Utc>> {
    let digits: Vec<u8> = file_name.bytes().filter(u8::is_ascii_digit).collect();
    (0..digits.len().saturating_sub(13)).find_map(|start| {
        let s = std::str::from_utf8(&digits[start..start + 14]).ok()?;
        let t = NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S").ok()?;
        if !(1990..=2200).contains(&t.and_utc().year()) {
            return None;
        }
        t.and_local_timezone(chrono::Local)
            .earliest()
            .map(|l| l.with_timezone(&Utc))
    })
}

/// The file name of a backup of `database` taken at `time`.
pub fn backup_name(database: &str, time: DateTime<Utc>) -> String {
    format!(
        "{database}_{}{BACKUP_SUFFIX}",
        time.format(NAME_TIME_FORMAT)
    )
}

/// Suffix of a backup's globals file (roles, tablespaces, database properties).
pub const GLOBALS_SUFFIX: &str = ".globals.sql";

/// The globals file name of backup `name` (`shop_<ts>.sql.gz` → `shop_<ts>.sql.gz.globals.sql`:
/// a sidecar `<name>.<suffix>`, like every file of the unit).
pub fn globals_name(name: &str) -> String {
    format!("{name}{GLOBALS_SUFFIX}")
}

/// The globals file of the backup at `backup`.
pub fn globals_path(backup: &Path) -> PathBuf {
    let name = backup
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    backup.with_file_name(globals_name(&name))
}

/// Every file of the recovery unit of the backup at `backup`: the dump, its manifest and its
/// globals file (which may not exist). Whatever copies, moves or deletes a backup handles
/// all of them.
pub fn unit_files(backup: &Path) -> Vec<PathBuf> {
    vec![
        backup.to_path_buf(),
        Manifest::path_for(backup),
        globals_path(backup),
    ]
}

/// The backup name a globals file (or its `.partial`) belongs to.
pub fn backup_of_globals(file_name: &str) -> Option<String> {
    let name = file_name
        .strip_suffix(".partial")
        .unwrap_or(file_name)
        .strip_suffix(GLOBALS_SUFFIX)?;
    name.ends_with(BACKUP_SUFFIX).then(|| name.to_string())
}

/// Lists every backup in `dir`, newest first. A missing directory is an empty list.
pub fn scan(dir: &Path) -> Result<Vec<BackupEntry>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::BackupDir {
                path: dir.to_path_buf(),
                reason: format!("cannot read it ({e})"),
            })
        }
    };
    let mut out = Vec::new();
    for ent in rd.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        if !(name.ends_with(BACKUP_SUFFIX) || name.ends_with(PARTIAL_SUFFIX)) {
            continue;
        }
        let Ok(meta) = ent.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        out.push(entry_for(&ent.path(), &name, &meta));
    }
    out.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.name.cmp(&a.name)));
    Ok(out)
}

fn entry_for(path: &Path, name: &str, meta: &std::fs::Metadata) -> BackupEntry {
    let parsed = parse_name(name);
    let mtime: DateTime<Utc> = meta
        .modified()
        .map(Into::into)
        .unwrap_or_else(|_| Utc::now());
    let (db_from_name, time) = match &parsed {
        Some((db, t)) => (db.clone(), *t),
        None => (
            name.split(['_', '.']).next().unwrap_or(name).to_string(),
            legacy_name_time(name).unwrap_or(mtime),
        ),
    };
    let partial = name.ends_with(PARTIAL_SUFFIX);
    let manifest = if partial {
        None
    } else {
        Manifest::read_for(path).ok().flatten()
    };
    let status = if partial {
        BackupStatus::Interrupted
    } else {
        match &manifest {
            None => BackupStatus::NoManifest,
            Some(m) if m.compressed_bytes != meta.len() => BackupStatus::ChecksumMismatch,
            Some(m) => match &m.verification {
                Some(v) if v.ok => BackupStatus::Verified { at: v.at },
                Some(v) => BackupStatus::VerifyFailed {
                    at: v.at,
                    message: v.message.clone(),
                },
                None => BackupStatus::Complete,
            },
        }
    };
    BackupEntry {
        name: name.to_string(),
        path: path.to_path_buf(),
        database: manifest
            .as_ref()
            .map(|m| m.database.clone())
            .unwrap_or(db_from_name),
        time: manifest.as_ref().map(|m| m.started_at).unwrap_or(time),
        size: meta.len(),
        label: manifest.as_ref().and_then(|m| m.label.clone()),
        status,
        manifest,
    }
}

/// Finds a backup by `latest` (newest restorable backup, of `database` when given), a file
/// name in `dir`, or a path.
pub fn resolve(dir: &Path, spec: &str, database: Option<&str>) -> Result<BackupEntry> {
    if spec == "latest" {
        return scan(dir)?
            .into_iter()
            .find(|e| e.status.is_restorable() && database.is_none_or(|d| d == e.database))
            .ok_or_else(|| {
                Error::NoSuchBackup(format!(
                    "latest (there is no finished backup in {})",
                    dir.display()
                ))
            });
    }
    let direct = PathBuf::from(spec);
    let path = if direct.is_file() {
        direct
    } else {
        dir.join(spec)
    };
    let meta = std::fs::metadata(&path).map_err(|_| Error::NoSuchBackup(spec.to_string()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(entry_for(&path, &name, &meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn names_round_trip() {
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 5).unwrap();
        let n = backup_name("my_shop", t);
        assert_eq!(n, "my_shop_2026-11-24T02-00-05Z.sql.gz");
        assert_eq!(parse_name(&n), Some(("my_shop".to_string(), t)));
        assert_eq!(parse_name(&format!("{n}.partial")).unwrap().0, "my_shop");
        assert_eq!(parse_name("random.sql.gz"), None);
    }

    #[test]
    fn globals_files_belong_to_their_backup() {
        let n = "my_shop_2026-11-24T02-00-05Z.sql.gz";
        let g = globals_name(n);
        assert_eq!(g, "my_shop_2026-11-24T02-00-05Z.sql.gz.globals.sql");
        assert_eq!(backup_of_globals(&g).as_deref(), Some(n));
        assert_eq!(
            backup_of_globals(&format!("{g}.partial")).as_deref(),
            Some(n)
        );
        let files = unit_files(Path::new("/b").join(n).as_path());
        assert_eq!(files[2], Path::new("/b").join(g));
        assert_eq!(files[1], Path::new("/b").join(format!("{n}.json")));
    }

    #[test]
    fn old_script_names_give_their_time() {
        let t = legacy_name_time("shop2_backup_20240102_030405.sql.gz").unwrap();
        let local = t.with_timezone(&chrono::Local);
        assert_eq!(
            local.format("%Y-%m-%d %H:%M:%S").to_string(),
            "2024-01-02 03:04:05"
        );
        assert_eq!(
            legacy_name_time("backup-2024-01-02_03-04-05.sql.gz"),
            Some(t)
        );
        assert_eq!(legacy_name_time("shop.sql.gz"), None);
        assert_eq!(legacy_name_time("x_99999999999999.sql.gz"), None);
    }

    #[test]
    fn scan_sorts_and_classifies() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a_2026-01-01T00-00-00Z.sql.gz"), b"x").unwrap();
        std::fs::write(d.path().join("a_2026-02-01T00-00-00Z.sql.gz.partial"), b"x").unwrap();
        std::fs::write(d.path().join("notes.txt"), b"x").unwrap();
        let list = scan(d.path()).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].status, BackupStatus::Interrupted);
        assert_eq!(list[1].status, BackupStatus::NoManifest);
        let latest = resolve(d.path(), "latest", None).unwrap();
        assert_eq!(latest.name, "a_2026-01-01T00-00-00Z.sql.gz");
        assert!(resolve(d.path(), "nope.sql.gz", None).is_err());
    }
}
