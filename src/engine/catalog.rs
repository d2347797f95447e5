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
/// Suffix of a finished backup encrypted with age (top-level `encrypt_to`).
pub const ENCRYPTED_SUFFIX: &str = ".sql.gz.age";
/// Suffix of an encrypted backup being written (or interrupted).
pub const ENCRYPTED_PARTIAL_SUFFIX: &str = ".sql.gz.age.partial";

/// True for the name of a finished backup, plain (`.sql.gz`) or encrypted (`.sql.gz.age`).
pub fn is_backup_name(name: &str) -> bool {
    name.ends_with(BACKUP_SUFFIX) || name.ends_with(ENCRYPTED_SUFFIX)
}

/// True for the name of a backup being written or interrupted (`.partial`).
pub fn is_partial_name(name: &str) -> bool {
    name.ends_with(PARTIAL_SUFFIX) || name.ends_with(ENCRYPTED_PARTIAL_SUFFIX)
}
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
    /// The manifest exists but cannot be read (truncated, garbage, wrong types): the file
    /// cannot be checked, so it is refused unless explicitly accepted without a checksum.
    DamagedManifest {
        /// What is wrong with the manifest.
        reason: String,
    },
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
            BackupStatus::DamagedManifest { .. } => "damaged manifest",
        }
    }

    /// True for a finished backup that can be restored.
    pub fn is_restorable(&self) -> bool {
        !matches!(
            self,
            BackupStatus::Interrupted
                | BackupStatus::ChecksumMismatch
                | BackupStatus::DamagedManifest { .. }
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

/// Splits `<db>_<YYYY-MM-DDTHH-MM-SSZ>.sql.gz` (or `.sql.gz.age`) into database and UTC time.
pub fn parse_name(file_name: &str) -> Option<(String, DateTime<Utc>)> {
    let stem = file_name
        .strip_suffix(PARTIAL_SUFFIX)
        .or_else(|| file_name.strip_suffix(BACKUP_SUFFIX))
        .or_else(|| file_name.strip_suffix(ENCRYPTED_PARTIAL_SUFFIX))
        .or_else(|| file_name.strip_suffix(ENCRYPTED_SUFFIX))?;
    let (db, ts) = stem.rsplit_once('_')?;
    let t = NaiveDateTime::parse_from_str(ts, NAME_TIME_FORMAT).ok()?;
    Some((crate::engine::filename::decode(db), t.and_utc()))
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

/// The file name of a backup of `database` taken at `time`; the database name is encoded
/// ([`crate::engine::filename::encode`]) so the file stays inside the backup directory.
pub fn backup_name(database: &str, time: DateTime<Utc>) -> String {
    format!(
        "{}_{}{BACKUP_SUFFIX}",
        crate::engine::filename::encode(database),
        time.format(NAME_TIME_FORMAT)
    )
}

/// [`backup_name`] of an encrypted backup (`.sql.gz.age`) when `encrypted`.
pub fn backup_name_for(database: &str, time: DateTime<Utc>, encrypted: bool) -> String {
    let plain = backup_name(database, time);
    if encrypted {
        format!("{plain}.age")
    } else {
        plain
    }
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
    is_backup_name(name).then(|| name.to_string())
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
        if !(is_backup_name(&name) || is_partial_name(&name)) {
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
    let partial = is_partial_name(name);
    let (manifest, damaged) = if partial {
        (None, None)
    } else {
        match Manifest::read_for(path) {
            Ok(m) => (m, None),
            Err(e) => (None, Some(damage_reason(e))),
        }
    };
    let status = if partial {
        BackupStatus::Interrupted
    } else if let Some(reason) = damaged {
        BackupStatus::DamagedManifest { reason }
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

fn resolve_latest(dir: &Path, database: Option<&str>) -> Result<BackupEntry> {
    let candidates: Vec<BackupEntry> = scan(dir)?
        .into_iter()
        .filter(|e| e.status != BackupStatus::Interrupted)
        .filter(|e| database.is_none_or(|d| d == e.database))
        .filter(|e| e.label.as_deref() != Some(SAFETY_LABEL))
        .collect();
    let Some(newest) = candidates.first() else {
        let of = database.map(|d| format!(" of {d}")).unwrap_or_default();
        return Err(Error::NoSuchBackup(format!(
            "latest (there is no finished backup{of} in {}; `pgkeep backup` takes one)",
            dir.display()
        )));
    };
    if newest.status.is_restorable() {
        return Ok(newest.clone());
    }
    let why = match &newest.status {
        BackupStatus::DamagedManifest { reason } => format!("its manifest is damaged: {reason}"),
        BackupStatus::ChecksumMismatch => {
            "its size differs from its manifest: the file was changed or damaged".to_string()
        }
        other => other.label().to_string(),
    };
    let older = candidates
        .iter()
        .find(|e| e.status.is_restorable())
        .map(|e| {
            format!(
                "the newest usable one is {}: name it instead of `latest`",
                e.name
            )
        })
        .unwrap_or_else(|| "there is no older usable backup".into());
    Err(Error::Refused(format!(
        "`latest` is {}, and {why}; not falling back to an older backup silently: {older}",
        newest.name
    )))
}

/// Refuses a backup whose manifest is damaged: its checksum cannot be checked, so restoring
/// or verifying it could use bytes that are not the backup's. `verb` is "restore" or "verify".
pub fn refuse_damaged(entry: &BackupEntry, verb: &str) -> Result<()> {
    match &entry.status {
        BackupStatus::DamagedManifest { reason } => Err(Error::Refused(format!(
            "{} has a damaged manifest ({reason}), so its checksum cannot be checked: {verb} another backup from `pgkeep list`, or pass --accept-unchecked to {verb} it without a checksum",
            entry.name
        ))),
        _ => Ok(()),
    }
}

/// The entry of a backup with a damaged manifest, accepted by the operator without a
/// checksum (`--accept-unchecked`): treated like a backup without manifest. Returns the line
/// for the job log, None when the backup was not damaged.
pub fn accept_unchecked(entry: &mut BackupEntry) -> Option<String> {
    let BackupStatus::DamagedManifest { reason } = &entry.status else {
        return None;
    };
    let line = format!(
        "--accept-unchecked: using {} WITHOUT a checksum check; its manifest is damaged ({reason})",
        entry.name
    );
    entry.status = BackupStatus::NoManifest;
    entry.manifest = None;
    Some(line)
}

/// What is wrong with a manifest that could not be read.
fn damage_reason(e: Error) -> String {
    match e {
        Error::Corrupt { reason, .. } => reason,
        e => format!("the manifest cannot be read ({e})"),
    }
}

/// The label of the safety backups a restore takes first.
pub const SAFETY_LABEL: &str = "pre-restore";

/// Finds a backup by `latest`, a file name in `dir`, or a path.
///
/// `latest` is the newest finished backup (of `database` when given) that is not a
/// `pre-restore` safety backup, so restoring `latest` twice does not bring back what the first
/// restore replaced. It never falls back silently: when the newest such backup is damaged
/// (checksum mismatch, damaged manifest), it is refused with what was skipped and why, and
/// the newest usable one is named.
pub fn resolve(dir: &Path, spec: &str, database: Option<&str>) -> Result<BackupEntry> {
    if spec == "latest" {
        return resolve_latest(dir, database);
    }
    let direct = PathBuf::from(spec);
    let with_suffix = [BACKUP_SUFFIX, ENCRYPTED_SUFFIX]
        .iter()
        .map(|s| dir.join(format!("{spec}{s}")))
        .find(|p| p.is_file());
    let path = if direct.is_file() {
        direct
    } else if let Some(with_suffix) =
        with_suffix.filter(|_| !dir.join(spec).exists() && !is_backup_name(spec))
    {
        // `shop_2026-11-24T02-00-00Z` names `shop_2026-11-24T02-00-00Z.sql.gz` (or `.sql.gz.age`).
        with_suffix
    } else {
        dir.join(spec)
    };
    let meta = std::fs::metadata(&path).map_err(|_| Error::NoSuchBackup(spec.to_string()))?;
    if !meta.is_file() {
        return Err(Error::Refused(format!(
            "{} is not a regular file (a device, pipe or directory never ends or is no backup): give a backup file from `pgkeep list`",
            path.display()
        )));
    }
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
        let sealed = backup_name_for("my_shop", t, true);
        assert_eq!(sealed, "my_shop_2026-11-24T02-00-05Z.sql.gz.age");
        assert!(is_backup_name(&sealed) && !is_partial_name(&sealed));
        assert_eq!(parse_name(&sealed), Some(("my_shop".to_string(), t)));
        assert!(is_partial_name(&format!("{sealed}.partial")));
        assert_eq!(
            backup_of_globals(&globals_name(&sealed)).as_deref(),
            Some(sealed.as_str())
        );
        let evil = backup_name("/../../../../tmp/x/evil", t);
        assert!(!evil.contains('/') && !evil.starts_with('.'), "{evil}");
        assert_eq!(parse_name(&evil).unwrap().0, "/../../../../tmp/x/evil");
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

    #[test]
    fn endless_inputs_are_refused() {
        let d = tempfile::tempdir().unwrap();
        for spec in ["/dev/zero", "/dev/urandom", "/tmp"] {
            assert!(
                matches!(resolve(d.path(), spec, None), Err(Error::Refused(_))),
                "{spec}"
            );
        }
    }

    #[test]
    fn damaged_manifests_are_damage_and_latest_does_not_fall_back() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a_2026-01-01T00-00-00Z.sql.gz"), b"x").unwrap();
        let newest = d.path().join("a_2026-02-01T00-00-00Z.sql.gz");
        std::fs::write(&newest, b"x").unwrap();
        for bad in [
            &b"{"[..],
            &b""[..],
            &b"{}"[..],
            &b"garbage\x00"[..],
            &br#"{"format_version":"one"}"#[..],
        ] {
            std::fs::write(Manifest::path_for(&newest), bad).unwrap();
            let list = scan(d.path()).unwrap();
            assert_eq!(list[0].status.label(), "damaged manifest");
            assert!(!list[0].status.is_restorable());
            match resolve(d.path(), "latest", Some("a")) {
                Err(Error::Refused(m)) => {
                    assert!(m.contains("a_2026-02-01T00-00-00Z.sql.gz"), "{m}");
                    assert!(m.contains("damaged"), "{m}");
                    assert!(m.contains("a_2026-01-01T00-00-00Z.sql.gz"), "{m}");
                }
                other => panic!("{other:?}"),
            }
            let named = resolve(d.path(), "a_2026-02-01T00-00-00Z.sql.gz", None).unwrap();
            assert!(refuse_damaged(&named, "restore").is_err());
            let mut accepted = named.clone();
            assert!(accept_unchecked(&mut accepted).is_some());
            assert!(refuse_damaged(&accepted, "restore").is_ok());
        }
    }
}
