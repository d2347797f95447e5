//! What runs after a scheduled backup (`pgkeep backup --scheduled`, `pgkeep daemon`):
//! verify by policy, copy offsite, prune here and offsite, call the webhooks. After a failed
//! backup only the failure alert runs: nothing is ever pruned then. A failed verification also
//! stops pruning (the older backups may be the good ones).

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use tokio_util::sync::CancellationToken;

use crate::alerts::{self, Alert};
use crate::config::Config;
use crate::engine::catalog::{self, BackupEntry, BackupStatus};
use crate::engine::progress::Sink;
use crate::engine::{retention, verify};
use crate::error::Error;
use crate::offsite;
use crate::target::Target;

/// One step's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// "verify", "offsite", "prune", "alert".
    pub name: &'static str,
    /// Whether it succeeded (skipped steps are ok).
    pub ok: bool,
    /// What happened, one line.
    pub message: String,
}

/// Everything the pipeline did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The steps, in order.
    pub steps: Vec<Step>,
}

impl Report {
    pub(crate) fn push(&mut self, name: &'static str, ok: bool, message: impl Into<String>) {
        self.steps.push(Step {
            name,
            ok,
            message: message.into(),
        });
    }

    /// True when every step succeeded.
    pub fn ok(&self) -> bool {
        self.steps.iter().all(|s| s.ok)
    }

    /// Records that pruning was skipped because an earlier step failed.
    pub(crate) fn prune_skipped(&mut self) {
        self.push(
            "prune",
            true,
            "skipped: an earlier step failed, nothing is pruned",
        );
    }

    /// The failed steps' messages.
    pub fn failures(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter(|s| !s.ok)
            .map(|s| format!("{}: {}", s.name, s.message))
            .collect()
    }

    /// One log line per step: `<time> <step> ok|FAILED: <message>`.
    pub fn lines(&self) -> Vec<String> {
        let now = Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
        self.steps
            .iter()
            .map(|s| {
                format!(
                    "{now} {} {}: {}",
                    s.name,
                    if s.ok { "ok" } else { "FAILED" },
                    s.message
                )
            })
            .collect()
    }
}

/// Whether the verify policy asks for a test restore now.
pub fn verify_due(config: &Config, entries: &[BackupEntry], now: DateTime<Utc>) -> bool {
    if config.verify.after_backup {
        return true;
    }
    if config.verify.every_days == 0 {
        return false;
    }
    let last = entries
        .iter()
        .filter_map(|e| match &e.status {
            BackupStatus::Verified { at } | BackupStatus::VerifyFailed { at, .. } => Some(*at),
            _ => None,
        })
        .max();
    last.is_none_or(|at| now - at >= Duration::days(config.verify.every_days as i64))
}

/// After a failed backup: only the failure alert; nothing is pruned.
pub async fn after_failure(config: &Config, database: &str, error: &Error) -> Report {
    let mut report = Report::default();
    report.push(
        "prune",
        true,
        "skipped: the backup failed, nothing is pruned",
    );
    let alert = Alert::new(
        "failure",
        format!("backup of {database} failed: {error}"),
        Some(database.to_string()),
        None,
    );
    send(config, &alert, &mut report).await;
    report
}

/// After a finished backup at `path`: verify by policy, offsite, prune, alerts.
pub async fn after_backup(config: &Config, target: &dyn Target, path: &Path) -> Report {
    let mut report = Report::default();
    let database = target.database().to_string();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let now = Utc::now();
    let entries = match catalog::scan(&config.backup_dir) {
        Ok(e) => e,
        Err(e) => {
            report.push("prune", false, format!("cannot read the backups: {e}"));
            Vec::new()
        }
    };
    let mut prune_allowed = report.ok();
    if let Some(entry) = entries.iter().find(|e| e.name == name) {
        let keyless = crate::engine::localcrypt::is_encrypted(&name)
            && matches!(crate::engine::localcrypt::identities(), Ok(None));
        if keyless && verify_due(config, &entries, now) {
            // The host holds no secret key by design: the policy cannot decrypt here.
            report.push("verify", true, format!("{name}: skipped, it is encrypted and this host has no age identity (by design); verify it where the key is: `pgkeep verify {name} --identity KEY`"));
        } else if verify_due(config, &entries, now) {
            match verify::verify(target, entry, &Sink::none(), &CancellationToken::new()).await {
                Ok(v) => report.push("verify", true, format!("{name}: {}", v.message)),
                Err(e) => {
                    prune_allowed = false;
                    report.push("verify", false, format!("{name}: {e}"));
                }
            }
        }
        push_offsite(config, entry, &entries, &mut report).await;
        push_physical_offsite(config, &mut report).await;
    } else {
        prune_allowed = false;
        report.push(
            "offsite",
            false,
            format!("{name} is not in {}", config.backup_dir.display()),
        );
    }
    if prune_allowed {
        prune(config, now, &mut report).await;
    } else {
        report.prune_skipped();
    }
    let done = format!("backup of {database} done: {name}");
    let but = format!("backup of {database} succeeded ({name}) but: ");
    alert_outcome(config, &mut report, Some(database), &name, done, &but).await;
    report
}

/// The closing alert of a scheduled run whose backup `name` was written: `done` on success
/// (when `[alerts] on_success`), else a failure alert of `but` followed by the failed steps.
pub(crate) async fn alert_outcome(
    config: &Config,
    report: &mut Report,
    database: Option<String>,
    name: &str,
    done: String,
    but: &str,
) {
    let alert = if report.ok() {
        config
            .alerts
            .on_success
            .then(|| Alert::new("success", done, database, Some(name.to_string())))
    } else {
        let failed = format!("{but}{}", report.failures().join("; "));
        Some(Alert::new(
            "failure",
            failed,
            database,
            Some(name.to_string()),
        ))
    };
    if let Some(a) = alert {
        send(config, &a, report).await;
    }
}

/// Copies base backups and archived WAL not yet offsite (nothing to do without either), so
/// the point-in-time window travels with every scheduled run.
pub(crate) async fn push_physical_offsite(config: &Config, report: &mut Report) {
    for c in &config.offsite {
        let Ok(store) = offsite::Store::open(c) else {
            continue; // push_offsite already reported it
        };
        match offsite::physical::push(&store, &config.backup_dir, &config.wal_dir()).await {
            Ok(got) if got.bases.is_empty() && got.wal_files == 0 => {}
            Ok(got) => report.push(
                "offsite",
                true,
                format!(
                    "{} base backup(s) and {} WAL file(s) copied to {} (sha256 checked)",
                    got.bases.len(),
                    got.wal_files,
                    store.label
                ),
            ),
            Err(e) => report.push("offsite", false, format!("base backups and WAL: {e}")),
        }
    }
}

/// Copies backup `entry` to every offsite destination, then what the destination still
/// misses or holds only in clear ([`offsite::push_missing`]): a backup an earlier run could
/// not copy (the destination was down) and, with `encrypt_to`, clear copies made before it
/// was set, so a scheduled deployment needs no manual `offsite push` for either.
async fn push_offsite(
    config: &Config,
    entry: &BackupEntry,
    entries: &[BackupEntry],
    report: &mut Report,
) {
    for c in &config.offsite {
        let store = match offsite::Store::open(c) {
            Ok(store) => store,
            Err(e) => {
                report.push("offsite", false, e.to_string());
                continue;
            }
        };
        match offsite::push(&store, entry).await {
            Ok(sha) => {
                let but = store
                    .same_disk_warning(&config.backup_dir)
                    .map(|w| format!(", but {w}"))
                    .unwrap_or_default();
                let sha = &sha[..12];
                let message = format!(
                    "{} copied to {} (sha256 {sha} checked){but}",
                    entry.name, store.label
                );
                report.push("offsite", true, message);
            }
            Err(e) => {
                report.push("offsite", false, e.to_string());
                continue;
            }
        }
        match offsite::push_missing(&store, entries).await {
            Ok(done) => report_catch_up(&store.label, &done, report),
            Err(e) => report.push("offsite", false, format!("earlier backups: {e}")),
        }
    }
}

/// Reports what [`offsite::push_missing`] did after the new backup was copied.
fn report_catch_up(label: &str, done: &offsite::Pushed, report: &mut Report) {
    use crate::format::plural;
    let missed: Vec<&str> = done
        .copied
        .iter()
        .filter(|n| !done.resealed.contains(n))
        .map(String::as_str)
        .collect();
    if !missed.is_empty() {
        let what = plural(missed.len() as u64, "earlier backup");
        let names = missed.join(", ");
        report.push(
            "offsite",
            true,
            format!("{what} missing at {label} copied: {names}"),
        );
    }
    if !done.resealed.is_empty() {
        let what = plural(done.resealed.len() as u64, "backup");
        report.push(
            "offsite",
            true,
            format!("{what} at {label} had a clear copy (made before encrypt_to): replaced by an encrypted one"),
        );
    }
    if !done.left_clear.is_empty() {
        report.push(
            "offsite",
            true,
            format!(
                "{} at {label} still in clear (copied before encrypt_to): this host no longer has them to encrypt; they stay until retention removes them there (or delete them by hand)",
                plural(done.left_clear.len() as u64, "backup")
            ),
        );
    }
}

async fn prune(config: &Config, now: DateTime<Utc>, report: &mut Report) {
    let policy = &config.retention;
    if !retention::policy_is_set(policy) {
        report.push(
            "prune",
            true,
            "skipped: no retention policy (all keep_* are 0)",
        );
        return;
    }
    let (_, tz) = match super::parse_config(&config.schedule) {
        Ok(x) => x,
        Err(e) => return report.push("prune", false, e),
    };
    let entries = match catalog::scan(&config.backup_dir) {
        Ok(e) => e,
        Err(e) => return report.push("prune", false, e.to_string()),
    };
    let applied = retention::apply(&retention::plan(&entries, policy, now, tz));
    for (n, e) in &applied.failed {
        report.push("prune", false, format!("cannot remove {n}: {e}"));
    }
    report.push(
        "prune",
        true,
        format!("removed {} old backup(s) here", applied.removed.len()),
    );
    for c in &config.offsite {
        let res = match offsite::Store::open(c) {
            Ok(store) => offsite::prune(&store, &entries, policy, now, tz)
                .await
                .map(|r| (store.label.clone(), r)),
            Err(e) => Err(e),
        };
        match res {
            Ok((label, removed)) => report.push(
                "prune",
                true,
                format!("removed {} old backup(s) from {label}", removed.len()),
            ),
            Err(e) => report.push("prune", false, e.to_string()),
        }
    }
}

pub(crate) async fn send(config: &Config, alert: &Alert, report: &mut Report) {
    if config.alerts.webhooks.is_empty() {
        return;
    }
    let errors = alerts::notify(config, alert).await;
    if errors.is_empty() {
        report.push(
            "alert",
            true,
            format!(
                "{} webhook(s) called ({})",
                config.alerts.webhooks.len(),
                alert.event
            ),
        );
    }
    for e in errors {
        report.push("alert", false, e);
    }
}
