//! Prometheus metrics (text exposition format 0.0.4) for `pgkeep metrics` and
//! `pgkeep daemon --metrics`: what the monitoring a company already has needs to see that
//! backups run, are verified, reach offsite and have disk to land on. [`render`] is pure
//! (tested without a server); [`collect`] gathers its input.
//!
//! Conventions: base units (seconds, bytes), `_timestamp_seconds` for points in time (alert
//! on `time() - metric`), `_total` for counters, gauges 0/1 for success, labels escaped.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::engine::catalog::{self, BackupEntry};
use crate::engine::physical::window::RecoveryWindow;
use crate::monitor::status::{self, ServerStatus};
use crate::offsite::check::DecryptionCheck;
use crate::offsite::{self, RemoteObject};
use crate::target::Target;

/// The kind label of today's backups (logical dumps); physical base backups are #12's.
pub const KIND_LOGICAL: &str = "logical";

/// Everything the metrics are computed from, taken at one moment.
#[derive(Debug, Clone)]
pub struct MetricsInput {
    /// When it was taken.
    pub now: DateTime<Utc>,
    /// The local catalog (all entries, interrupted ones included).
    pub entries: Vec<BackupEntry>,
    /// Server and backup-dir status (as `pgkeep status` shows it).
    pub status: ServerStatus,
    /// Per offsite destination: its label and its listing, or why it could not be listed.
    pub offsite: Vec<(String, Result<Vec<RemoteObject>, String>)>,
    /// Offsite destinations that encrypt (labels).
    pub encrypted: Vec<String>,
    /// Recorded test decryptions.
    pub decryption_checks: Vec<DecryptionCheck>,
    /// The recoverable window (None when the server could not be read).
    pub window: Option<RecoveryWindow>,
}

/// Gathers the input: catalog, status (server query, 10 s timeout), offsite listings.
pub async fn collect(config: &Config, target: &dyn Target) -> MetricsInput {
    let dir = &config.backup_dir;
    let status = status::collect(target, dir).await;
    let entries = catalog::scan(dir).unwrap_or_default();
    let mut offsite_lists = Vec::new();
    let mut encrypted = Vec::new();
    for c in &config.offsite {
        match offsite::Store::open(c) {
            Ok(store) => {
                if store.recipients.is_some() {
                    encrypted.push(store.label.clone());
                }
                let listed = store.list().await.map_err(|e| e.to_string());
                offsite_lists.push((store.label.clone(), listed));
            }
            Err(e) => offsite_lists.push((offsite::check::label_of(c), Err(e.to_string()))),
        }
    }
    MetricsInput {
        now: Utc::now(),
        entries,
        offsite: offsite_lists,
        encrypted,
        decryption_checks: offsite::check::recorded(dir),
        window: match status.server {
            Some(_) => crate::monitor::recovery_window::of_config(config, target).await,
            None => None,
        },
        status,
    }
}

/// Escapes a label value: backslash, double quote and newline.
pub fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Formats a sample value the way Prometheus reads it.
fn value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

/// One metric family being written.
struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl Family<'_> {
    fn sample(&mut self, labels: &[(&str, &str)], v: f64) {
        let _ = write!(self.out, "{}", self.name);
        if !labels.is_empty() {
            let inner: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect();
            let _ = write!(self.out, "{{{}}}", inner.join(","));
        }
        let _ = writeln!(self.out, " {}", value(v));
    }
}

fn family<'a>(out: &'a mut String, name: &'static str, kind: &str, help: &str) -> Family<'a> {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    Family { out, name }
}

fn secs(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

fn bool01(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Renders the metrics in Prometheus text format.
pub fn render(input: &MetricsInput) -> String {
    let mut out = String::new();
    let entries = &input.entries;
    let databases: BTreeSet<&str> = entries.iter().map(|e| e.database.as_str()).collect();
    let newest = |db: &str| {
        entries
            .iter()
            .filter(|e| e.database == db && e.status.is_restorable())
            .max_by_key(|e| e.time)
    };
    let k = KIND_LOGICAL;

    let mut f = family(
        &mut out,
        "pgkeep_server_up",
        "gauge",
        "Whether the database server answered (1) or not (0).",
    );
    f.sample(
        &[("database", &input.status.database)],
        bool01(input.status.reachable()),
    );

    let mut f = family(
        &mut out,
        "pgkeep_last_backup_timestamp_seconds",
        "gauge",
        "Start time of the newest finished backup, in Unix seconds.",
    );
    for db in &databases {
        if let Some(e) = newest(db) {
            f.sample(&[("database", db), ("kind", k)], secs(e.time));
        }
    }
    let mut f = family(
        &mut out,
        "pgkeep_last_backup_size_bytes",
        "gauge",
        "Size of the newest finished backup file.",
    );
    for db in &databases {
        if let Some(e) = newest(db) {
            f.sample(&[("database", db), ("kind", k)], e.size as f64);
        }
    }
    let mut f = family(
        &mut out,
        "pgkeep_last_backup_duration_seconds",
        "gauge",
        "Wall time the newest finished backup took.",
    );
    for db in &databases {
        if let Some(m) = newest(db).and_then(|e| e.manifest.as_ref()) {
            f.sample(&[("database", db), ("kind", k)], m.duration_secs);
        }
    }
    let mut f = family(&mut out, "pgkeep_last_backup_success", "gauge", "Whether the newest backup attempt in the backup directory finished (1) or was interrupted or damaged (0).");
    for db in &databases {
        if let Some(e) = entries
            .iter()
            .filter(|e| e.database == *db)
            .max_by_key(|e| e.time)
        {
            f.sample(
                &[("database", db), ("kind", k)],
                bool01(e.status.is_restorable()),
            );
        }
    }

    let verifications = |db: &str| {
        entries
            .iter()
            .filter(|e| e.database == db)
            .filter_map(|e| e.manifest.as_ref()?.verification.clone())
            .max_by_key(|v| v.at)
    };
    let mut f = family(
        &mut out,
        "pgkeep_last_verification_success",
        "gauge",
        "Whether the newest test restore passed (1) or failed (0).",
    );
    for db in &databases {
        if let Some(v) = verifications(db) {
            f.sample(&[("database", db)], bool01(v.ok));
        }
    }
    let mut f = family(
        &mut out,
        "pgkeep_last_verification_timestamp_seconds",
        "gauge",
        "When the newest test restore ran, in Unix seconds.",
    );
    for db in &databases {
        if let Some(v) = verifications(db) {
            f.sample(&[("database", db)], secs(v.at));
        }
    }
    let mut f = family(
        &mut out,
        "pgkeep_last_verification_age_seconds",
        "gauge",
        "Seconds since the newest test restore ran.",
    );
    for db in &databases {
        if let Some(v) = verifications(db) {
            f.sample(
                &[("database", db)],
                (input.now - v.at).num_milliseconds().max(0) as f64 / 1000.0,
            );
        }
    }

    let restorable: Vec<&BackupEntry> = entries
        .iter()
        .filter(|e| e.status.is_restorable())
        .collect();
    let mut f = family(
        &mut out,
        "pgkeep_backups",
        "gauge",
        "Finished backups held, by location (local, or an offsite destination).",
    );
    f.sample(&[("location", "local")], restorable.len() as f64);
    let remote: Vec<(&str, Vec<RemoteObject>)> = input
        .offsite
        .iter()
        .filter_map(|(l, r)| {
            r.as_ref()
                .ok()
                .map(|o| (l.as_str(), offsite::remote_backups(o)))
        })
        .collect();
    for (label, backups) in &remote {
        f.sample(&[("location", label)], backups.len() as f64);
    }
    let mut f = family(
        &mut out,
        "pgkeep_backup_bytes",
        "gauge",
        "Bytes of the finished backups held, by location.",
    );
    f.sample(
        &[("location", "local")],
        restorable.iter().map(|e| e.size).sum::<u64>() as f64,
    );
    for (label, backups) in &remote {
        f.sample(
            &[("location", label)],
            backups.iter().map(|o| o.size).sum::<u64>() as f64,
        );
    }
    if !input.offsite.is_empty() {
        let mut f = family(
            &mut out,
            "pgkeep_offsite_up",
            "gauge",
            "Whether the offsite destination could be listed (1) or not (0).",
        );
        for (label, r) in &input.offsite {
            f.sample(&[("destination", label)], bool01(r.is_ok()));
        }
    }
    if !input.encrypted.is_empty() {
        let mut f = family(&mut out, "pgkeep_offsite_test_decryption_timestamp_seconds", "gauge", "When a copy of an encrypted destination was last test-decrypted with the identity (0: never; run `pgkeep offsite check --identity`).");
        for label in &input.encrypted {
            let at = input
                .decryption_checks
                .iter()
                .filter(|c| &c.destination == label)
                .map(|c| secs(c.at))
                .fold(0.0, f64::max);
            f.sample(&[("destination", label)], at);
        }
    }

    if let Some(server) = &input.status.server {
        let a = &server.archiver;
        let mut f = family(&mut out, "pgkeep_wal_archived_segments_total", "counter", "WAL segments archived since the server's statistics reset (pg_stat_archiver.archived_count).");
        f.sample(&[], a.archived_count as f64);
        let mut f = family(&mut out, "pgkeep_wal_archive_failures_total", "counter", "Failed WAL archive attempts since the statistics reset (pg_stat_archiver.failed_count).");
        f.sample(&[], a.failed_count as f64);
        if let Some(t) = a.last_archived_at {
            let mut f = family(
                &mut out,
                "pgkeep_wal_archive_last_archived_timestamp_seconds",
                "gauge",
                "When the newest WAL segment was archived, in Unix seconds.",
            );
            f.sample(&[], secs(t));
            let mut f = family(
                &mut out,
                "pgkeep_wal_archive_newest_segment_age_seconds",
                "gauge",
                "Seconds since the newest WAL segment was archived.",
            );
            f.sample(
                &[],
                (input.now - t).num_milliseconds().max(0) as f64 / 1000.0,
            );
        }
        if let Some(t) = a.last_failed_at {
            let mut f = family(
                &mut out,
                "pgkeep_wal_archive_last_failure_timestamp_seconds",
                "gauge",
                "When a WAL archive attempt last failed, in Unix seconds.",
            );
            f.sample(&[], secs(t));
        }
    }
    if let Some(w) = &input.window {
        if let Some(from) = w.from {
            let mut f = family(&mut out, "pgkeep_recovery_window_start_timestamp_seconds", "gauge", "Earliest moment the cluster can be restored to (end of the oldest usable base backup), in Unix seconds.");
            f.sample(&[], secs(from));
        }
        if let Some(to) = w.to {
            let mut f = family(&mut out, "pgkeep_recovery_window_end_timestamp_seconds", "gauge", "Latest moment the cluster can be restored to (newest change archived, with no gap after a base backup), in Unix seconds.");
            f.sample(&[], secs(to));
        }
        let mut f = family(
            &mut out,
            "pgkeep_wal_archive_gap",
            "gauge",
            "Whether the WAL archive has a hole with newer segments after it (1) or not (0).",
        );
        f.sample(&[], bool01(w.gap.is_some()));
    }

    if let Some(free) = input.status.free_bytes {
        let mut f = family(
            &mut out,
            "pgkeep_backup_dir_free_bytes",
            "gauge",
            "Free bytes on the file system holding the backup directory.",
        );
        f.sample(
            &[("path", &input.status.backup_dir.display().to_string())],
            free as f64,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_values_formatted() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(value(1764600000.0), "1764600000");
        assert_eq!(value(1.5), "1.5");
        assert_eq!(value(f64::NAN), "NaN");
        let mut out = String::new();
        let mut f = family(&mut out, "pgkeep_x", "gauge", "Help.");
        f.sample(&[("database", "we\"ird")], 2.0);
        assert_eq!(
            out,
            "# HELP pgkeep_x Help.\n# TYPE pgkeep_x gauge\npgkeep_x{database=\"we\\\"ird\"} 2\n"
        );
    }
}
