//! The doctor's judgements, free of I/O so they can be tested on their own: each takes what
//! was found and returns a [`Check`] with the exact command that fixes a failure.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::checks::Check;
use crate::engine::catalog::{BackupEntry, BackupStatus};
use crate::schedule::CrontabState;

/// A backup older than this many hours fails the "last backup" check.
pub const MAX_BACKUP_AGE_HOURS: i64 = 26;

/// A passed check.
pub fn pass(name: &str, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        ok: true,
        detail: detail.into(),
        fix: None,
    }
}

/// A failed check and its fix.
pub fn fail(name: &str, detail: impl Into<String>, fix: Option<String>) -> Check {
    Check {
        name: name.into(),
        ok: false,
        detail: detail.into(),
        fix,
    }
}

/// What the file system says about the backup directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirFacts {
    /// It exists and is a directory.
    pub is_dir: bool,
    /// This user may create files in it.
    pub writable: bool,
    /// Its owner's uid.
    pub owner: u32,
    /// Anyone may create files in it (and so plant symlinks).
    pub world_writable: bool,
}

/// The backup directory exists, is writable and belongs to this user (`uid`, `gid`).
pub fn backup_dir(dir: &Path, facts: Option<DirFacts>, uid: u32, gid: u32) -> Check {
    let name = "backup dir";
    let shown = dir.display();
    let chown =
        crate::engine::fsutil::backup_dir_ownership_fix(dir, &uid.to_string(), &gid.to_string());
    match facts {
        None => fail(
            name,
            format!("{shown} does not exist"),
            Some(format!("mkdir -p -m 700 {shown}")),
        ),
        Some(f) if !f.is_dir => fail(
            name,
            format!("{shown} is not a directory"),
            Some(format!("mv {shown} {shown}.old && mkdir -m 700 {shown}")),
        ),
        Some(f) if f.owner != uid => fail(
            name,
            format!(
                "{shown} belongs to uid {}, not to this user (uid {uid}){}",
                f.owner,
                if f.writable {
                    ""
                } else {
                    ", and is not writable"
                }
            ),
            Some(chown),
        ),
        Some(f) if f.world_writable => fail(
            name,
            format!("{shown} is world-writable: any user could plant files (symlinks) in it"),
            Some(chown),
        ),
        Some(f) if !f.writable => fail(
            name,
            format!("{shown} is not writable"),
            Some(format!("chmod u+rwx {shown}")),
        ),
        Some(_) => pass(name, format!("{shown} exists, is writable and yours")),
    }
}

/// What `pg_stat_archiver` and `archive_mode` say.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ArchiverFacts {
    /// `archive_mode`: on, off, always.
    pub mode: String,
    /// Segments archived.
    pub archived_count: i64,
    /// Failed attempts.
    pub failed_count: i64,
    /// When the last segment was archived.
    pub last_archived_time: Option<DateTime<Utc>>,
    /// The segment of the last failure.
    pub last_failed_wal: Option<String>,
    /// When the last attempt failed.
    pub last_failed_time: Option<DateTime<Utc>>,
}

/// WAL archiving is not failing: the last attempt, if any, succeeded.
pub fn wal_archiving(f: &ArchiverFacts, fix: Option<String>) -> Check {
    let name = "WAL archiving";
    if f.mode == "off" {
        return pass(name, "archive_mode is off: WAL archiving is not configured");
    }
    let failing = match (f.last_failed_time, f.last_archived_time) {
        (Some(failed), Some(archived)) => failed > archived,
        (Some(_), None) => true,
        _ => false,
    };
    if failing {
        return fail(
            name,
            format!(
                "archiving {} is failing ({} in all, {} archived); the server log says why",
                f.last_failed_wal.as_deref().unwrap_or("a segment"),
                crate::format::plural(f.failed_count.max(0) as u64, "failed attempt"),
                crate::format::count_i(f.archived_count)
            ),
            fix,
        );
    }
    match f.last_archived_time {
        Some(t) => pass(
            name,
            format!(
                "{} segments archived, the last at {}",
                crate::format::count_i(f.archived_count),
                t.format("%Y-%m-%d %H:%M:%S UTC")
            ),
        ),
        None => pass(name, "archive_mode is on; no segment was due yet"),
    }
}

/// The newest finished backup of `database` (any database when None).
pub fn newest_complete<'a>(
    entries: &'a [BackupEntry],
    database: Option<&str>,
) -> Option<&'a BackupEntry> {
    entries.iter().find(|e| {
        e.status.is_restorable()
            && !matches!(e.status, BackupStatus::VerifyFailed { .. })
            && database.is_none_or(|d| e.database == d)
            && !is_empty_safety_backup(e)
    })
}

/// A `pre-restore` safety backup of a database without rows: it proves nothing about the
/// data, so it never counts as "the last backup" for health.
pub fn is_empty_safety_backup(e: &BackupEntry) -> bool {
    e.label.as_deref() == Some(crate::engine::catalog::SAFETY_LABEL)
        && e.manifest.as_ref().is_none_or(|m| m.total_rows() == 0)
}

/// Enough free space for the next backup: 1.5 times the last one.
pub fn free_disk(dir: &Path, free: u64, last: Option<&BackupEntry>) -> Check {
    let name = "free disk";
    let Some(last) = last else {
        return pass(
            name,
            format!(
                "{} free; no backup yet to estimate the next one from",
                crate::format::size(free)
            ),
        );
    };
    let need = last.size.saturating_mul(3) / 2;
    let detail = format!(
        "{} free on the disk of {}, the next backup needs about {} (last: {})",
        crate::format::size(free),
        dir.display(),
        crate::format::size(need),
        crate::format::size(last.size)
    );
    if free >= need {
        pass(name, detail)
    } else {
        fail(name, detail, Some("pgkeep prune".into()))
    }
}

/// The last complete backup is at most [`MAX_BACKUP_AGE_HOURS`] old.
pub fn last_backup(dir: &Path, last: Option<&BackupEntry>, now: DateTime<Utc>) -> Check {
    let name = "last backup";
    let Some(last) = last else {
        return fail(
            name,
            format!("no complete backup in {} yet", dir.display()),
            Some("pgkeep backup".into()),
        );
    };
    let hours = (now - last.time).num_hours();
    let detail = format!(
        "{} is {} old ({})",
        last.name,
        crate::format::age((now - last.time).to_std().unwrap_or_default()),
        last.status.label()
    );
    if hours > MAX_BACKUP_AGE_HOURS {
        fail(
            name,
            format!("{detail}: older than {MAX_BACKUP_AGE_HOURS} h"),
            Some("pgkeep backup".into()),
        )
    } else {
        pass(name, detail)
    }
}

/// The schedule is installed in the crontab as configured.
pub fn schedule(expression: &str, state: &CrontabState) -> Check {
    let name = "schedule installed";
    let fix = Some("pgkeep schedule install".to_string());
    match state {
        CrontabState::Matches => pass(
            name,
            format!("crontab runs `pgkeep backup` at `{expression}`"),
        ),
        CrontabState::NotInstalled => fail(
            name,
            "no pgkeep entry in the crontab: backups are not scheduled",
            fix,
        ),
        CrontabState::Differs(line) => fail(
            name,
            format!("the crontab has `{line}` but the configuration says `{expression}`"),
            fix,
        ),
        CrontabState::Unavailable(why) => {
            fail(name, format!("cannot read the schedule: {why}"), fix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::path::PathBuf;

    fn entry(name: &str, hours_ago: i64, size: u64, status: BackupStatus) -> BackupEntry {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        BackupEntry {
            name: name.into(),
            path: PathBuf::from(name),
            database: "shop".into(),
            time: now - chrono::Duration::hours(hours_ago),
            size,
            label: None,
            status,
            manifest: None,
        }
    }

    #[test]
    fn backup_dir_owned_by_someone_else_prints_chown() {
        let f = DirFacts {
            is_dir: true,
            writable: false,
            owner: 999,
            world_writable: false,
        };
        let c = backup_dir(Path::new("/srv/app/db_backups"), Some(f), 1000, 1000);
        assert!(!c.ok);
        assert_eq!(
            c.fix.as_deref(),
            Some("sudo chown 1000:1000 /srv/app/db_backups && sudo chmod go-w /srv/app/db_backups")
        );
        let c = backup_dir(Path::new("/x"), None, 0, 0);
        assert_eq!(c.fix.as_deref(), Some("mkdir -p -m 700 /x"));
        let ok = DirFacts {
            is_dir: true,
            writable: true,
            owner: 1000,
            world_writable: false,
        };
        assert!(backup_dir(Path::new("/x"), Some(ok), 1000, 1000).ok);
        let open = DirFacts {
            world_writable: true,
            ..ok
        };
        let c = backup_dir(Path::new("/x"), Some(open), 1000, 1000);
        assert!(!c.ok && c.fix.unwrap().contains("chmod go-w /x"));
    }

    #[test]
    fn archiver_failing_after_last_success() {
        let t = |h| Some(Utc.with_ymd_and_hms(2026, 11, 24, h, 0, 0).unwrap());
        let mut f = ArchiverFacts {
            mode: "on".into(),
            archived_count: 3,
            failed_count: 5,
            ..Default::default()
        };
        f.last_archived_time = t(10);
        f.last_failed_time = t(11);
        f.last_failed_wal = Some("000000010000000000000004".into());
        let c = wal_archiving(&f, Some("fix-it".into()));
        assert!(
            !c.ok && c.detail.contains("000000010000000000000004"),
            "{c:?}"
        );
        assert_eq!(c.fix.as_deref(), Some("fix-it"));
        f.last_archived_time = t(12);
        assert!(wal_archiving(&f, None).ok);
        f.last_archived_time = None;
        assert!(!wal_archiving(&f, None).ok);
        f.mode = "off".into();
        assert!(wal_archiving(&f, None).ok);
    }

    #[test]
    fn disk_and_age_use_the_newest_complete_backup() {
        let entries = vec![
            entry("shop_c.sql.gz", 1, 50, BackupStatus::Interrupted),
            entry("shop_b.sql.gz", 30, 1000, BackupStatus::Complete),
            entry("shop_a.sql.gz", 40, 10, BackupStatus::Complete),
        ];
        let last = newest_complete(&entries, Some("shop"));
        assert_eq!(last.unwrap().name, "shop_b.sql.gz");
        assert!(newest_complete(&entries, Some("other")).is_none());
        assert!(free_disk(Path::new("/b"), 1500, last).ok);
        assert!(!free_disk(Path::new("/b"), 1499, last).ok);
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let c = last_backup(Path::new("/b"), last, now);
        assert!(!c.ok && c.detail.contains("30h00m old"), "{c:?}");
        assert_eq!(c.fix.as_deref(), Some("pgkeep backup"));
        let fresh = entry("shop_d.sql.gz", 2, 5, BackupStatus::Complete);
        assert!(last_backup(Path::new("/b"), Some(&fresh), now).ok);
        assert!(!last_backup(Path::new("/b"), None, now).ok);
    }

    #[test]
    fn schedule_states() {
        assert!(schedule("0 2 * * *", &CrontabState::Matches).ok);
        let c = schedule("0 2 * * *", &CrontabState::NotInstalled);
        assert_eq!(
            (c.ok, c.fix.as_deref()),
            (false, Some("pgkeep schedule install"))
        );
        assert!(!schedule("0 2 * * *", &CrontabState::Differs("0 3 * * *".into())).ok);
    }
}
