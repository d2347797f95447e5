//! A snapshot of the server's health for the status pane and `pgkeep status`: reachability,
//! version, uptime, sizes, WAL archiving, free space, backup age and leftover databases.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::engine::{catalog, fsutil, verify};
use crate::monitor::checks::Check;
use crate::monitor::container::ContainerStatus;
use crate::target::{self, Target};

/// A backup older than this many hours is shown in yellow.
pub const BACKUP_AGE_WARN_HOURS: i64 = 26;
/// A backup older than this many hours is shown in red.
pub const BACKUP_AGE_FAIL_HOURS: i64 = 50;

/// How worrying a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Fine.
    Ok,
    /// Look at it soon.
    Warn,
    /// Act now.
    Fail,
}

/// WAL archiving counters from `pg_stat_archiver`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Archiver {
    /// `archive_mode` setting (`off`, `on`, `always`).
    pub archive_mode: String,
    /// Segments archived since the statistics reset.
    pub archived_count: i64,
    /// When the last segment was archived.
    pub last_archived_at: Option<DateTime<Utc>>,
    /// Failed archive attempts.
    pub failed_count: i64,
    /// When the last attempt failed.
    pub last_failed_at: Option<DateTime<Utc>>,
}

impl Archiver {
    /// Red when the latest attempt failed, yellow when some failed earlier.
    pub fn level(&self) -> Level {
        match (
            self.failed_count,
            self.last_failed_at,
            self.last_archived_at,
        ) {
            (0, _, _) => Level::Ok,
            (_, Some(f), Some(a)) if a > f => Level::Warn,
            _ => Level::Fail,
        }
    }
}

/// Facts read from a reachable server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerFacts {
    /// `server_version`, e.g. "15.8 (Debian 15.8-0+deb12u1)".
    pub version: String,
    /// When the postmaster started.
    pub started_at: DateTime<Utc>,
    /// Size of the protected database in bytes.
    pub database_size: Option<u64>,
    /// Client connections to the server.
    pub connections: i64,
    /// `max_connections`.
    pub max_connections: i64,
    /// `wal_level`.
    pub wal_level: String,
    /// WAL archiving.
    pub archiver: Archiver,
}

/// What [`ServerStatus::liveness`] compares: server answered; container state, health, start.
pub type Liveness = (
    bool,
    Option<(String, Option<String>, Option<DateTime<Utc>>)>,
);

/// Everything the status pane shows, taken at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerStatus {
    /// When the snapshot was taken.
    pub checked_at: DateTime<Utc>,
    /// Where the server is (no secrets).
    pub target: String,
    /// The protected database.
    pub database: String,
    /// Server facts, when it was reachable.
    pub server: Option<ServerFacts>,
    /// Why the server could not be reached or read.
    pub problem: Option<String>,
    /// The backup directory.
    pub backup_dir: PathBuf,
    /// Free bytes on its file system (of its nearest existing ancestor).
    pub free_bytes: Option<u64>,
    /// When the newest complete backup was taken.
    pub last_backup_at: Option<DateTime<Utc>>,
    /// Databases left behind by restores.
    pub leftovers: Vec<String>,
    /// The compose service's container, for the compose target.
    pub container: Option<ContainerStatus>,
    /// Troubleshooting checks (only failing ones are shown).
    pub checks: Vec<Check>,
    /// The point-in-time window, when the caller computed it (the console does, off its UI
    /// thread; `status --json` prints its own `recovery_window`).
    #[serde(skip)]
    pub recovery_window: Option<crate::engine::physical::window::RecoveryWindow>,
}

impl ServerStatus {
    /// True when the server answered.
    pub fn reachable(&self) -> bool {
        self.server.is_some()
    }

    /// What the doctor checks' verdicts depend on that this snapshot sees live: whether the
    /// server answered and the container's state, health and start. When it changes, the
    /// checks taken earlier are stale and must be run again.
    pub fn liveness(&self) -> Liveness {
        (
            self.reachable(),
            self.container
                .as_ref()
                .map(|c| (c.state.clone(), c.health.clone(), c.started_at)),
        )
    }

    /// Age of the newest complete backup at `now`.
    pub fn last_backup_age(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.last_backup_at
            .map(|t| (now - t).to_std().unwrap_or_default())
    }
}

/// Yellow after 26 h, red after 50 h or when there is no backup at all.
pub fn backup_age_level(age: Option<Duration>) -> Level {
    match age {
        None => Level::Fail,
        Some(a) if a.as_secs() > BACKUP_AGE_FAIL_HOURS as u64 * 3600 => Level::Fail,
        Some(a) if a.as_secs() > BACKUP_AGE_WARN_HOURS as u64 * 3600 => Level::Warn,
        Some(_) => Level::Ok,
    }
}

/// Takes a snapshot: queries the server (10 s connect timeout) and looks at the backup dir.
pub async fn collect(target: &dyn Target, backup_dir: &Path) -> ServerStatus {
    let (server, problem) = match server_facts(target).await {
        Ok(f) => (Some(f), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let leftovers = if server.is_some() {
        verify::leftover_databases(target).await.unwrap_or_default()
    } else {
        Vec::new()
    };
    let dir = backup_dir.to_path_buf();
    let (free_bytes, last_backup_at) =
        tokio::task::spawn_blocking(move || (free_space_near(&dir), last_complete_backup(&dir)))
            .await
            .unwrap_or((None, None));
    ServerStatus {
        checked_at: Utc::now(),
        target: target.describe(),
        database: target.database().to_string(),
        server,
        problem,
        backup_dir: backup_dir.to_path_buf(),
        free_bytes,
        last_backup_at,
        leftovers,
        container: match target.container() {
            Some(c) => crate::monitor::container::fetch(&c).await.ok(),
            None => None,
        },
        checks: Vec::new(),
        recovery_window: None,
    }
}

/// Doctor checks the console already shows live from its own sources (the backup list, the
/// schedule pane); repeating them from a slower refresh would show stale verdicts.
const SHOWN_LIVE_ELSEWHERE: &[&str] = &["last backup", "backup health", "schedule installed"];

/// The failing troubleshooting checks of `pgkeep doctor`, for the status pane. Slower than
/// [`collect`] (it asks docker and starts pg_dump), so callers run it less often.
pub async fn failing_checks(config: &crate::config::Config) -> Vec<Check> {
    crate::monitor::doctor::run_checks(config)
        .await
        .into_iter()
        .filter(|c| !c.ok && !SHOWN_LIVE_ELSEWHERE.contains(&c.name.as_str()))
        .collect()
}

/// Free space of the file system holding `dir`, or of its nearest existing ancestor.
pub fn free_space_near(dir: &Path) -> Option<u64> {
    let mut p = Some(dir);
    while let Some(d) = p {
        let probe = if d.as_os_str().is_empty() {
            Path::new(".")
        } else {
            d
        };
        if probe.exists() {
            return fsutil::free_space(probe).ok();
        }
        p = d.parent();
    }
    None
}

/// Time of the newest finished, restorable backup in `dir`.
pub fn last_complete_backup(dir: &Path) -> Option<DateTime<Utc>> {
    latest_complete(&catalog::scan(dir).ok()?)
}

/// Time of the newest finished, restorable backup in a catalog listing.
pub fn latest_complete(entries: &[catalog::BackupEntry]) -> Option<DateTime<Utc>> {
    entries
        .iter()
        .filter(|e| e.status.is_restorable())
        .filter(|e| !crate::monitor::doctor_checks::is_empty_safety_backup(e))
        .map(|e| e.time)
        .max()
}

async fn server_facts(target: &dyn Target) -> crate::Result<ServerFacts> {
    let client = target::connect(target, target.database()).await?;
    let row = client
        .query_one(
            "SELECT current_setting('server_version'),
                    pg_postmaster_start_time(),
                    pg_database_size(current_database())::bigint,
                    (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
                    current_setting('max_connections')::bigint,
                    current_setting('wal_level'),
                    current_setting('archive_mode'),
                    a.archived_count, a.last_archived_time, a.failed_count, a.last_failed_time
             FROM pg_stat_archiver a",
            &[],
        )
        .await
        .map_err(target::sql_error)?;
    Ok(ServerFacts {
        version: row.get(0),
        started_at: row.get(1),
        database_size: row.get::<_, Option<i64>>(2).map(|v| v.max(0) as u64),
        connections: row.get(3),
        max_connections: row.get(4),
        wal_level: row.get(5),
        archiver: Archiver {
            archive_mode: row.get(6),
            archived_count: row.get(7),
            last_archived_at: row.get(8),
            failed_count: row.get(9),
            last_failed_at: row.get(10),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_age_thresholds() {
        let h = |n: u64| Some(Duration::from_secs(n * 3600));
        assert_eq!(backup_age_level(h(1)), Level::Ok);
        assert_eq!(backup_age_level(h(27)), Level::Warn);
        assert_eq!(backup_age_level(h(51)), Level::Fail);
        assert_eq!(backup_age_level(None), Level::Fail);
    }

    #[test]
    fn archiver_levels() {
        let t = |s: i64| Some(DateTime::<Utc>::from_timestamp(s, 0).unwrap());
        let mut a = Archiver::default();
        assert_eq!(a.level(), Level::Ok);
        a.failed_count = 2;
        a.last_failed_at = t(100);
        a.last_archived_at = t(200);
        assert_eq!(a.level(), Level::Warn);
        a.last_archived_at = t(50);
        assert_eq!(a.level(), Level::Fail);
    }

    #[test]
    fn liveness_changes_with_a_container_restart_but_not_with_time() {
        let mut s = ServerStatus {
            checked_at: Utc::now(),
            target: "t".into(),
            database: "d".into(),
            server: None,
            problem: Some("down".into()),
            backup_dir: PathBuf::from("db_backups"),
            free_bytes: Some(1),
            last_backup_at: None,
            leftovers: Vec::new(),
            container: Some(ContainerStatus {
                state: "running".into(),
                health: Some("starting".into()),
                ..ContainerStatus::default()
            }),
            recovery_window: None,
            checks: Vec::new(),
        };
        let before = s.liveness();
        s.checked_at += chrono::Duration::seconds(5);
        s.free_bytes = Some(2);
        assert_eq!(s.liveness(), before);
        s.container.as_mut().unwrap().health = Some("healthy".into());
        assert_ne!(s.liveness(), before);
        let healthy = s.liveness();
        s.container.as_mut().unwrap().started_at = DateTime::from_timestamp(100, 0);
        assert_ne!(s.liveness(), healthy);
    }
}
