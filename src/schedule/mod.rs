//! The backup schedule: cron expressions, next runs in a time zone, crontab install, and the
//! pipeline that runs after a scheduled backup. The console's schedule pane shows a
//! [`ScheduleSummary`].

pub mod base_pipeline;
pub mod cron;
pub mod cron_check;
pub mod crontab;
pub mod describe;
pub mod last_run;
pub mod next;
pub mod pipeline;
pub mod save;
pub mod zone;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Local, Utc};
use chrono_tz::Tz;

use crate::config::ScheduleConfig;
use crate::error::{Error, Result};
use cron::CronExpr;

/// How the installed crontab relates to the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrontabState {
    /// No pgkeep block in the user's crontab.
    NotInstalled,
    /// The pgkeep block matches the configuration.
    Matches,
    /// The pgkeep block differs; the installed schedule line.
    Differs(String),
    /// The crontab could not be read (no cron installed, ...).
    Unavailable(String),
}

/// What the schedule pane and `pgkeep schedule show` display.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSummary {
    /// The configured cron expression.
    pub expression: String,
    /// The time zone the expression is meant in.
    pub timezone: String,
    /// The expression in words ("every day at 02:00, Europe/Amsterdam").
    pub description: String,
    /// Why the expression is invalid, if it is.
    pub error: Option<String>,
    /// The next runs, in local time.
    pub next_runs: Vec<DateTime<Local>>,
    /// The crontab's state.
    pub crontab: CrontabState,
    /// In which zone cron runs the job ("cron runs this in UTC, the system's time zone").
    pub cron_note: Option<String>,
}

/// How many runs the summary lists.
pub const SUMMARY_RUNS: usize = 5;

/// The configured expression parsed, and its zone.
pub fn parse_config(config: &ScheduleConfig) -> std::result::Result<(CronExpr, Tz), String> {
    let tz = next::configured_zone(config.timezone.as_deref())?;
    let expr = CronExpr::parse(&config.cron).map_err(|e| format!("schedule.cron: {e}"))?;
    Ok((expr, tz))
}

/// The base backup's expression parsed, and its zone; None when `[schedule] basebackup` is `""`.
pub fn parse_base(config: &ScheduleConfig) -> std::result::Result<Option<(CronExpr, Tz)>, String> {
    if config.basebackup.trim().is_empty() {
        return Ok(None);
    }
    let tz = next::configured_zone(config.timezone.as_deref())?;
    let expr =
        CronExpr::parse(&config.basebackup).map_err(|e| format!("schedule.basebackup: {e}"))?;
    Ok(Some((expr, tz)))
}

/// The next `count` runs of the base backup schedule after `after` (empty when disabled).
pub fn next_base_runs(
    config: &ScheduleConfig,
    after: DateTime<Utc>,
    count: usize,
) -> Result<Vec<DateTime<Tz>>> {
    Ok(match parse_base(config).map_err(Error::Config)? {
        Some((expr, tz)) => next::next_runs(&expr, tz, after, count),
        None => Vec::new(),
    })
}

/// The five crontab fields of the base backup for the system's zone; None when disabled.
pub fn base_crontab_fields(config: &ScheduleConfig, now: DateTime<Utc>) -> Result<Option<String>> {
    match parse_base(config).map_err(Error::Config)? {
        Some((expr, tz)) => zone::for_system_zone(&expr, tz, next::system_zone(), now)
            .map(|(f, _)| Some(f))
            .map_err(Error::Config),
        None => Ok(None),
    }
}

/// The next `count` runs of the configured schedule after `after`, in the configured zone.
pub fn next_runs(
    config: &ScheduleConfig,
    after: DateTime<Utc>,
    count: usize,
) -> Result<Vec<DateTime<Tz>>> {
    let (expr, tz) = parse_config(config).map_err(Error::Config)?;
    Ok(next::next_runs(&expr, tz, after, count))
}

/// The longest gap between consecutive runs in the coming weeks (the schedule's interval).
pub fn interval(config: &ScheduleConfig, now: DateTime<Utc>) -> Option<chrono::Duration> {
    let runs = next_runs(config, now, 64).ok()?;
    runs.windows(2).map(|w| w[1] - w[0]).max()
}

/// The five crontab fields for the system's zone and a note on where cron runs them.
pub fn crontab_fields(config: &ScheduleConfig, now: DateTime<Utc>) -> Result<(String, String)> {
    let (expr, tz) = parse_config(config).map_err(Error::Config)?;
    zone::for_system_zone(&expr, tz, next::system_zone(), now).map_err(Error::Config)
}

/// Where the crontab job runs and what it runs.
#[derive(Debug, Clone)]
pub struct JobPaths {
    /// The project folder the job changes into.
    pub project: PathBuf,
    /// The pgkeep executable.
    pub exe: PathBuf,
    /// An explicit config file, if one was given.
    pub config: Option<PathBuf>,
    /// The backup directory.
    pub backup_dir: PathBuf,
}

impl JobPaths {
    /// Absolute paths from the current directory and executable.
    pub fn current(backup_dir: &Path, config: Option<&Path>) -> Result<JobPaths> {
        let cwd = std::env::current_dir()
            .map_err(|e| Error::Other(format!("cannot read the current directory: {e}")))?;
        let exe = std::env::current_exe()
            .map_err(|e| Error::Other(format!("cannot find pgkeep's own path: {e}")))?;
        Ok(JobPaths {
            backup_dir: cwd.join(backup_dir),
            config: config.map(|c| cwd.join(c)),
            project: cwd,
            exe,
        })
    }
}

/// The log file the crontab job appends to.
pub const CRON_LOG_NAME: &str = "pgkeep-cron.log";

/// Above this size the cron log is cut to its newer half, at a line boundary.
pub const CRON_LOG_MAX_BYTES: u64 = 1 << 20;

/// Keeps the cron log below `max` bytes by keeping its newer half. Truncates in place, so the
/// shell's `>>` descriptor (O_APPEND) keeps writing to the same file.
pub fn trim_log(path: &Path, max: u64) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    if len <= max {
        return Ok(false);
    }
    f.seek(SeekFrom::Start(len - max / 2))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    let start = tail
        .iter()
        .position(|b| *b == b'\n')
        .map(|i| i + 1)
        .unwrap_or(0);
    f.set_len(0)?;
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&tail[start..])?;
    Ok(true)
}

/// The crontab block for the configured schedule.
/// The base backup line is added when `with_base` (point-in-time recovery is in use, see
/// [`crate::engine::physical::base_catalog::pitr_in_use`]) and its schedule is enabled.
pub fn crontab_block(
    config: &ScheduleConfig,
    paths: &JobPaths,
    now: DateTime<Utc>,
    with_base: bool,
) -> Result<String> {
    let (fields, note) = crontab_fields(config, now)?;
    let base = match with_base {
        true => base_crontab_fields(config, now)?,
        false => None,
    };
    Ok(crontab::block(
        &fields,
        base.as_deref(),
        &note,
        &paths.project,
        &paths.exe,
        paths.config.as_deref(),
        &paths.backup_dir,
    ))
}

/// How the user's crontab compares with the configured schedule (by the jobs' five fields:
/// the dump line, and the base backup line when that schedule is enabled and installed).
pub fn crontab_state(config: &ScheduleConfig, now: DateTime<Utc>) -> CrontabState {
    let table = match crontab::read() {
        Ok(t) => t,
        Err(e) => return CrontabState::Unavailable(e.to_string()),
    };
    let jobs = crontab::installed_jobs(&table);
    let Some(job) = jobs.first().cloned() else {
        return CrontabState::NotInstalled;
    };
    let mut wanted = Vec::new();
    if let Ok((fields, _)) = crontab_fields(config, now) {
        wanted.push(fields);
    }
    // The base backup line is installed only where point-in-time recovery is in use: the dump
    // line alone matches too.
    if let Ok(Some(fields)) = base_crontab_fields(config, now) {
        if jobs.len() > 1 {
            wanted.push(fields);
        }
    }
    let same = jobs.len() == wanted.len()
        && jobs
            .iter()
            .zip(&wanted)
            .all(|(job, fields)| job.split_whitespace().take(5).eq(fields.split_whitespace()));
    match same {
        true => CrontabState::Matches,
        false if jobs.len() > 1 => CrontabState::Differs(jobs.join(" | ")),
        false => CrontabState::Differs(job),
    }
}

/// Summarises the configured schedule: words, next runs in local time, crontab state.
/// Runs `crontab -l` (a child process): call it when the config changes or on a slow tick,
/// not on every frame. `error` also holds why the schedule cannot go into cron as is.
pub fn summary(config: &ScheduleConfig) -> ScheduleSummary {
    let now = Utc::now();
    let zone_name = next::configured_zone(config.timezone.as_deref())
        .map(|t| t.name().to_string())
        .unwrap_or_else(|_| config.timezone.clone().unwrap_or_default());
    let mut s = ScheduleSummary {
        expression: config.cron.clone(),
        timezone: zone_name.clone(),
        description: String::new(),
        error: None,
        next_runs: Vec::new(),
        crontab: crontab_state(config, now),
        cron_note: None,
    };
    match parse_config(config) {
        Ok((expr, tz)) => {
            s.description = format!("{}, {zone_name}", describe::describe(&expr));
            s.next_runs = next::next_runs(&expr, tz, now, SUMMARY_RUNS)
                .iter()
                .map(|t| t.with_timezone(&Local))
                .collect();
            if s.next_runs.is_empty() {
                s.error = Some(format!(
                    "`{}` never runs (no such date): check day and month",
                    config.cron
                ));
            } else {
                match zone::for_system_zone(&expr, tz, next::system_zone(), now) {
                    Ok((_, note)) => s.cron_note = Some(note),
                    Err(e) => s.error = Some(e),
                }
            }
        }
        Err(e) => {
            s.description = format!("invalid: {e}");
            s.error = Some(e);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_log_keeps_its_newer_half_from_a_line_start() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(CRON_LOG_NAME);
        let text: String = (0..200).map(|i| format!("line {i:03}\n")).collect();
        std::fs::write(&p, &text).unwrap();
        assert!(!trim_log(&p, 10_000).unwrap());
        assert!(trim_log(&p, 1000).unwrap());
        let left = std::fs::read_to_string(&p).unwrap();
        assert!(
            left.len() <= 500 && left.starts_with("line ") && left.ends_with("line 199\n"),
            "{left}"
        );
        assert!(!trim_log(&d.path().join("missing.log"), 10).unwrap());
    }
}
