//! The console's job journal: one JSON line per finished job (what ran, when, how it ended,
//! its log) in `.pgkeep-journal.jsonl` in the backup directory, so the job history survives
//! closing the console. The file is private (0600) and bounded: past [`MAX_BYTES`] it is
//! rewritten with its newest half.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::state::{JobOutcome, JobRecord};
use crate::engine::progress::JobKind;

/// The journal's file name in the backup directory.
pub const FILE_NAME: &str = ".pgkeep-journal.jsonl";
/// The journal is cut back to its newest half when it grows past this.
pub const MAX_BYTES: u64 = 256 * 1024;
/// How many jobs a console loads from the journal.
pub const LOAD_LAST: usize = 50;
/// How many log lines of one job are kept.
const LOG_LINES: usize = 200;

/// One journal line.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    kind: String,
    what: String,
    command: String,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    /// "succeeded", "failed", "cancelled".
    outcome: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    log: Vec<String>,
}

/// The journal's path for `backup_dir`.
pub fn path(backup_dir: &Path) -> PathBuf {
    backup_dir.join(FILE_NAME)
}

/// The last [`LOAD_LAST`] finished jobs, oldest first; empty when there is no journal.
/// Lines that cannot be read (a torn last line) are skipped.
pub fn load(backup_dir: &Path) -> Vec<JobRecord> {
    let Ok(text) = std::fs::read_to_string(path(backup_dir)) else {
        return Vec::new();
    };
    let mut v: Vec<JobRecord> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Entry>(l).ok())
        .filter_map(to_record)
        .collect();
    let skip = v.len().saturating_sub(LOAD_LAST);
    v.drain(..skip);
    v
}

/// Appends a finished job; keeps the file private and bounded.
pub fn append(backup_dir: &Path, r: &JobRecord) -> std::io::Result<()> {
    let Some(entry) = to_entry(r) else {
        return Ok(());
    };
    let mut line = serde_json::to_string(&entry).map_err(std::io::Error::other)?;
    line.push('\n');
    let p = path(backup_dir);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&p)?;
    f.write_all(line.as_bytes())?;
    if f.metadata()?.len() > MAX_BYTES {
        shrink(&p)?;
    }
    Ok(())
}

/// Rewrites the journal with its newest half (through a temp file and a rename).
fn shrink(p: &Path) -> std::io::Result<()> {
    let text = std::fs::read_to_string(p)?;
    let lines: Vec<&str> = text.lines().collect();
    let keep = &lines[lines.len() / 2..];
    let tmp = p.with_extension("jsonl.tmp");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    for l in keep {
        writeln!(f, "{l}")?;
    }
    f.sync_all()?;
    std::fs::rename(&tmp, p)
}

fn to_entry(r: &JobRecord) -> Option<Entry> {
    let (outcome, message) = match &r.outcome {
        JobOutcome::Running => return None,
        JobOutcome::Succeeded(m) => ("succeeded", m.clone()),
        JobOutcome::Failed(m) => ("failed", m.clone()),
        JobOutcome::Cancelled => ("cancelled", String::new()),
    };
    let skip = r.log.len().saturating_sub(LOG_LINES);
    Some(Entry {
        kind: r.kind.to_string(),
        what: r.what.clone(),
        command: r.command.clone(),
        started_at: r.started_at,
        ended_at: r.ended_at,
        outcome: outcome.into(),
        message,
        log: r.log[skip..].to_vec(),
    })
}

fn to_record(e: Entry) -> Option<JobRecord> {
    let kind = match e.kind.as_str() {
        "backup" => JobKind::Backup,
        "restore" => JobKind::Restore,
        "verify" => JobKind::Verify,
        _ => return None,
    };
    let outcome = match e.outcome.as_str() {
        "succeeded" => JobOutcome::Succeeded(e.message),
        "failed" => JobOutcome::Failed(e.message),
        "cancelled" => JobOutcome::Cancelled,
        _ => return None,
    };
    Some(JobRecord {
        kind,
        what: e.what,
        command: e.command,
        started_at: e.started_at,
        ended_at: e.ended_at,
        outcome,
        log: e.log,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn record(i: usize) -> JobRecord {
        JobRecord {
            kind: JobKind::Verify,
            what: format!("verification {i}"),
            command: "pgkeep verify x".into(),
            started_at: Utc::now(),
            ended_at: Some(Utc::now()),
            outcome: JobOutcome::Failed("boom".into()),
            log: vec!["a".repeat(500); 300],
        }
    }

    #[test]
    fn round_trips_private_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), &record(0)).unwrap();
        let back = load(dir.path());
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].outcome, JobOutcome::Failed("boom".into()));
        assert_eq!(back[0].log.len(), LOG_LINES);
        let mode = std::fs::metadata(path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        for i in 1..20 {
            append(dir.path(), &record(i)).unwrap();
        }
        assert!(std::fs::metadata(path(dir.path())).unwrap().len() <= MAX_BYTES);
        let back = load(dir.path());
        assert_eq!(back.last().unwrap().what, "verification 19");
    }
}
