//! The recoverable window of the target's cluster, computed one way for every place that
//! shows it: `pgkeep status`, `pgkeep wal window`, the metrics and the console's status pane.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::engine::physical::cluster::{self, ClusterFacts};
use crate::engine::physical::window::RecoveryWindow;
use crate::target::Target;

/// Finished segments may wait this long for the archiver before the archive counts as stale.
pub const STALE_AFTER_SECS: i64 = 600;

/// Reads the cluster's facts from the server and computes its window from the base backups
/// in `backup_dir` and the archive under `wal_dir` (reading the archive off the async runtime).
pub async fn compute(
    target: &dyn Target,
    backup_dir: &Path,
    wal_dir: &Path,
) -> crate::Result<(RecoveryWindow, ClusterFacts)> {
    let client = cluster::connect_any(target).await?;
    let facts = ClusterFacts::read(&client).await?;
    let (dir, wal, f) = (
        backup_dir.to_path_buf(),
        wal_dir.to_path_buf(),
        facts.clone(),
    );
    let w = tokio::task::spawn_blocking(move || {
        RecoveryWindow::compute(&dir, &wal, &f.system_identifier, Some(&f))
    })
    .await
    .map_err(|e| crate::Error::Other(format!("computing the recovery window: {e}")))??;
    Ok((w, facts))
}

/// The window of the configured target's cluster, or None when the server cannot be read.
pub async fn of_config(config: &Config, target: &dyn Target) -> Option<RecoveryWindow> {
    compute(target, &config.backup_dir, &config.wal_dir())
        .await
        .ok()
        .map(|(w, _)| w)
}

/// Whether finished WAL waits for the archiver while the newest archived change is older than
/// [`STALE_AFTER_SECS`]: the window does not grow any more.
pub fn is_stale(w: &RecoveryWindow, now: DateTime<Utc>) -> bool {
    w.not_yet_archived.unwrap_or(0) > 0
        && w.to
            .is_some_and(|t| (now - t).num_seconds() > STALE_AFTER_SECS)
}
