//! The doctor check of the point-in-time window: base backups, a hole in the archive, WAL the
//! server finished but did not archive (a stale or misdirected archive), a full archive disk.

use std::path::Path;

use chrono::{DateTime, Utc};
use tokio_postgres::Client;

use super::checks::Check;
use super::doctor_checks::{fail, pass};
use crate::config::Config;
use crate::engine::fsutil;
use crate::engine::physical::cluster::ClusterFacts;
use crate::engine::physical::window::RecoveryWindow;

/// The check's name.
pub const NAME: &str = "point-in-time window";
/// Below this much free space the archive disk counts as full.
const MIN_FREE: u64 = 1024 * 1024 * 1024;
/// Finished segments may wait this long for the archiver before the archive counts as stale.
const STALE_AFTER_SECS: i64 = crate::monitor::recovery_window::STALE_AFTER_SECS;

/// Reads the cluster's facts and judges its window.
pub async fn check(client: &Client, config: &Config) -> Check {
    let facts = match ClusterFacts::read(client).await {
        Ok(f) => f,
        Err(e) => return fail(NAME, format!("cannot read the cluster's facts: {e}"), None),
    };
    let wal = config.wal_dir();
    let w = match RecoveryWindow::compute(
        &config.backup_dir,
        &wal,
        &facts.system_identifier,
        Some(&facts),
    ) {
        Ok(w) => w,
        Err(e) => return fail(NAME, e.to_string(), None),
    };
    let free = fsutil::free_space(if wal.is_dir() { &wal } else { Path::new(".") }).ok();
    judge(&w, free, Utc::now())
}

/// The verdict for a computed window (pure, for tests).
pub fn judge(w: &RecoveryWindow, free: Option<u64>, now: DateTime<Utc>) -> Check {
    if let Some(gap) = &w.gap {
        return fail(
            NAME,
            format!("the WAL archive has a gap: {gap}; {}", w.summary(now)),
            Some("pgkeep basebackup   (the window starts again from a new base backup)".into()),
        );
    }
    if let Some(free) = free.filter(|f| *f < MIN_FREE) {
        return fail(
            NAME,
            format!(
                "the WAL archive disk has only {} MB free",
                free / (1024 * 1024)
            ),
            Some("free space on the archive disk, or `pgkeep prune` old backups".into()),
        );
    }
    let behind = w.not_yet_archived.unwrap_or(0);
    let stale =
        w.to.is_some_and(|t| (now - t).num_seconds() > STALE_AFTER_SECS);
    if behind > 0 && stale {
        return fail(
            NAME,
            format!(
                "{behind} finished WAL segment(s) are not in the archive {} and the newest there is old; {}",
                w.archive_dir.display(),
                w.summary(now)
            ),
            Some("set the server's archive_command to what `pgkeep wal archive-command` prints, then check the `WAL archiving` line".into()),
        );
    }
    if w.base_backups == 0 {
        return pass(
            NAME,
            "no base backup yet: `pgkeep basebackup` enables restores to any moment",
        );
    }
    match (w.from, w.to) {
        (Some(_), Some(_)) => pass(NAME, w.summary(now)),
        _ => fail(
            NAME,
            w.summary(now),
            Some("pgkeep basebackup   (with archiving working, the window starts from it)".into()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_stale_archives_and_full_disks_fail_with_a_fix() {
        let now = Utc::now();
        let mut w = RecoveryWindow {
            base_backups: 1,
            from: Some(now - chrono::Duration::hours(5)),
            to: Some(now - chrono::Duration::minutes(1)),
            ..Default::default()
        };
        let ok = judge(&w, Some(u64::MAX), now);
        assert!(
            ok.ok && ok.detail.starts_with("restorable to any moment from"),
            "{ok:?}"
        );
        assert!(!judge(&w, Some(10), now).ok);
        w.not_yet_archived = Some(3);
        assert!(judge(&w, None, now).ok, "recently archived: only late");
        w.to = Some(now - chrono::Duration::hours(1));
        let stale = judge(&w, None, now);
        assert!(!stale.ok && stale.fix.unwrap().contains("wal archive-command"));
        w.gap = Some("000000010000000000000005 missing".into());
        let gap = judge(&w, None, now);
        assert!(!gap.ok && gap.detail.contains("000000010000000000000005"));
        let none = judge(&RecoveryWindow::default(), None, now);
        assert!(none.ok && none.detail.contains("pgkeep basebackup"));
    }
}
