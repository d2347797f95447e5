//! Alerts: webhooks called with a JSON body (on failure, and on success when asked), and the
//! health warnings `status`, `doctor` and the console show: the last complete backup is
//! overdue, or the last verification failed.
//!
//! Webhooks are POSTed with reqwest (already in the build through object_store); their URLs
//! often carry a secret token, so messages show only scheme and host.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::engine::catalog::{BackupEntry, BackupStatus};
use crate::engine::retention::PRE_RESTORE_LABEL;
use crate::error::{Error, Result};

/// How long one webhook call may take.
const TIMEOUT: Duration = Duration::from_secs(15);

/// The JSON body of a webhook call.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// "failure" or "success".
    pub event: String,
    /// One-line summary ("backup of facturatie failed: ...").
    pub message: String,
    /// The database.
    pub database: Option<String>,
    /// The backup file concerned, if any.
    pub backup: Option<String>,
    /// The host name.
    pub host: String,
    /// When (UTC).
    pub time: DateTime<Utc>,
}

impl Alert {
    /// A new alert for `event` ("failure"/"success") with this message.
    pub fn new(
        event: &str,
        message: impl Into<String>,
        database: Option<String>,
        backup: Option<String>,
    ) -> Alert {
        Alert {
            event: event.into(),
            message: message.into(),
            database,
            backup,
            host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default(),
            time: Utc::now(),
        }
    }
}

/// Sends `alert` to every configured webhook; returns one error line per webhook that failed.
/// URLs are shown without path or query (where tokens live).
pub async fn notify(config: &Config, alert: &Alert) -> Vec<String> {
    let body = serde_json::to_vec(alert).expect("alert serializes");
    let mut errors = Vec::new();
    for url in &config.alerts.webhooks {
        if let Err(e) = post_json(url, &body).await {
            errors.push(format!("webhook {} failed: {e}", redact(url)));
        }
    }
    errors
}

/// Scheme and host of a URL, never its path or query.
pub fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split('/').next().unwrap_or("");
    let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    format!("{scheme}://{host}/…")
}

/// POSTs a JSON body to `url` (http or https); Ok when the answer is 2xx.
pub async fn post_json(url: &str, body: &[u8]) -> Result<()> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(Error::Config(format!(
            "webhook {} must start with http:// or https://",
            redact(url)
        )));
    }
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(concat!("pgkeep/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Other(format!("cannot start an HTTP client: {e}")))?;
    let answer = client
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        // reqwest's messages include the URL: drop it, it may hold a token.
        .map_err(|e| Error::Other(describe_http_error(&e)))?;
    if answer.status().is_success() {
        Ok(())
    } else {
        Err(Error::Other(format!("server answered {}", answer.status())))
    }
}

fn describe_http_error(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "no answer in time"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        what.to_string()
    } else {
        format!("{what} ({detail})")
    }
}

/// Warnings about the backups' health: no complete backup, the last one older than the
/// schedule's interval plus `alerts.grace_hours`, or the latest verification failed.
pub fn backup_health(entries: &[BackupEntry], config: &Config, now: DateTime<Utc>) -> Vec<String> {
    let mut warnings = Vec::new();
    let regular = |e: &&BackupEntry| {
        e.status.is_restorable() && e.label.as_deref() != Some(PRE_RESTORE_LABEL)
    };
    match entries.iter().filter(regular).max_by_key(|e| e.time) {
        None => {
            warnings.push("there is no complete backup yet: run `pgkeep backup` now".to_string())
        }
        Some(last) => {
            if let Some(w) = last.manifest.as_ref().and_then(|m| m.globals_warning()) {
                warnings.push(format!(
                    "the newest backup ({}) has {w}{}",
                    last.name,
                    crate::engine::manifest::GLOBALS_HINT
                ));
            }
            if let Some(interval) = crate::schedule::interval(&config.schedule, now) {
                let allowed = interval + chrono::Duration::hours(config.alerts.grace_hours as i64);
                let age = now - last.time;
                if age > allowed {
                    warnings.push(format!(
                        "the last complete backup ({}) is {} old, more than the schedule's interval ({}) plus {} h grace: \
                         check {}/pgkeep-cron.log and `pgkeep schedule show`",
                        last.name,
                        hours(age),
                        hours(interval),
                        config.alerts.grace_hours,
                        config.backup_dir.display()
                    ));
                }
            }
        }
    }
    let damaged: Vec<&BackupEntry> = entries
        .iter()
        .filter(|e| {
            matches!(
                e.status,
                BackupStatus::DamagedManifest { .. } | BackupStatus::ChecksumMismatch
            )
        })
        .collect();
    if let Some(first) = damaged.first() {
        let why = match &first.status {
            BackupStatus::DamagedManifest { reason } => format!("damaged manifest: {reason}"),
            _ => "its size differs from its manifest".to_string(),
        };
        let more = match damaged.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        warnings.push(format!(
            "backup {} is damaged ({why}){more}: it cannot be restored with a checksum; take a fresh backup with `pgkeep backup`, then inspect or delete it",
            first.name
        ));
    }
    let latest_check = entries
        .iter()
        .filter_map(|e| match &e.status {
            BackupStatus::Verified { at } => Some((*at, e, None)),
            BackupStatus::VerifyFailed { at, message } => Some((*at, e, Some(message))),
            _ => None,
        })
        .max_by_key(|(at, _, _)| *at);
    if let Some((_, e, Some(message))) = latest_check {
        warnings.push(format!(
            "the last verification failed ({}: {message}): run `pgkeep verify {}` and look at the backups",
            e.name, e.name
        ));
    }
    warnings
}

fn hours(d: chrono::Duration) -> String {
    let h = d.num_hours();
    if h >= 48 {
        format!("{} days", h / 24)
    } else {
        format!("{h} h")
    }
}
