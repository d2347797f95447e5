//! What runs after a scheduled base backup (`pgkeep basebackup --scheduled`, `pgkeep daemon`):
//! copy base backups and archived WAL offsite, prune old base backups here and at every
//! offsite destination by `[retention] keep_base` (never WAL a kept base backup needs), call
//! the webhooks. After a
//! failed base backup or a failed offsite copy nothing is pruned.

use std::path::Path;

use super::pipeline::{alert_outcome, push_physical_offsite, send, Report};
use crate::alerts::Alert;
use crate::config::Config;
use crate::engine::physical::prune;
use crate::error::Error;

/// After a failed base backup: only the failure alert; nothing is pruned.
pub async fn after_failure(config: &Config, error: &Error) -> Report {
    let mut report = Report::default();
    report.push(
        "prune",
        true,
        "skipped: the base backup failed, nothing is pruned",
    );
    let alert = Alert::new(
        "failure",
        format!("base backup failed: {error}"),
        None,
        None,
    );
    send(config, &alert, &mut report).await;
    report
}

/// After a finished base backup at `path`: offsite (base backups and WAL), prune, alerts.
pub async fn after_base(config: &Config, path: &Path) -> Report {
    let mut report = Report::default();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    push_physical_offsite(config, &mut report).await;
    if report.ok() {
        prune_here(config, &mut report);
        if report.ok() {
            prune_offsite(config, &mut report).await;
        }
    } else {
        report.prune_skipped();
    }
    let done = format!("base backup done: {name}");
    let but = format!("base backup {name} written, but a later step failed: ");
    alert_outcome(config, &mut report, None, &name, done, &but).await;
    report
}

/// `wal prune` by `[retention] keep_base`: old base backups and the WAL only they need.
fn prune_here(config: &Config, report: &mut Report) {
    let keep = config.retention.keep_base.max(1) as usize;
    let plan = match prune::plan(&config.backup_dir, &config.wal_dir(), keep) {
        Ok(p) => p,
        Err(e) => return report.push("prune", false, e.to_string()),
    };
    match prune::apply(&plan) {
        Ok(()) => report.push(
            "prune",
            true,
            format!(
                "removed {} old base backup(s) and {} WAL file(s) here (keeping the newest {keep})",
                plan.bases.len(),
                plan.wal_files.len()
            ),
        ),
        Err(e) => report.push("prune", false, e.to_string()),
    }
}

/// `[retention] keep_base` at every offsite destination too, once the copies reached it.
async fn prune_offsite(config: &Config, report: &mut Report) {
    let keep = config.retention.keep_base.max(1) as usize;
    for c in &config.offsite {
        let Ok(store) = crate::offsite::Store::open(c) else {
            continue; // the offsite step already reported it
        };
        match crate::offsite::physical_prune::prune(&store, &config.backup_dir, keep).await {
            Ok(p) if p.bases.is_empty() && p.wal_files == 0 => {}
            Ok(p) => report.push(
                "prune",
                true,
                format!(
                    "removed {} old base backup(s) and {} WAL file(s) at {} (keeping the newest {keep})",
                    p.bases.len(),
                    p.wal_files,
                    store.label
                ),
            ),
            Err(e) => report.push("prune", false, format!("offsite {}: {e}", store.label)),
        }
    }
}
