//! The backup schedule: cron expressions, next runs in a time zone, crontab install.
//! (The schedule issue fills this in; the console's schedule pane shows a [`ScheduleSummary`].)

use chrono::{DateTime, Local};

use crate::config::ScheduleConfig;

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
}

/// Summarises the configured schedule (placeholder until the schedule issue lands).
pub fn summary(config: &ScheduleConfig) -> ScheduleSummary {
    ScheduleSummary {
        expression: config.cron.clone(),
        timezone: config.timezone.clone().unwrap_or_else(|| "system".into()),
        description: format!("cron `{}`", config.cron),
        error: None,
        next_runs: Vec::new(),
        crontab: CrontabState::Unavailable("schedule support is not built yet".into()),
    }
}
