//! What flows through the console: messages in (terminal, ticks, jobs, monitors), effects
//! out (start a job, delete a file, quit). Dangerous actions are data: a [`Msg::Request`]
//! opens a confirmation, only a [`Msg::Confirmed`] produces the effect.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;

use crate::engine::catalog::BackupEntry;
use crate::engine::progress::JobEvent;
use crate::monitor::logs::LogEvent;
use crate::monitor::status::ServerStatus;
use crate::schedule::ScheduleSummary;

/// One owned message into the app loop.
#[derive(Debug, Clone)]
pub enum Msg {
    /// A key was pressed.
    Key(KeyEvent),
    /// The terminal was resized to width x height.
    Resize(u16, u16),
    /// The clock moved on (once a second).
    Tick(DateTime<Utc>),
    /// The running job reported something.
    Job(JobEvent),
    /// A new server status snapshot.
    Status(Box<ServerStatus>),
    /// A line or notice from the log source.
    Log(LogEvent),
    /// Where the log comes from (for the pane's title).
    LogSource(String),
    /// The backup directory's listing changed (or could not be read).
    Catalog(Result<Vec<BackupEntry>, String>),
    /// The base backups in the backup dir's `base/` folder, oldest first.
    Bases(Vec<crate::engine::physical::base_catalog::BaseBackup>),
    /// The recoverable window as a timeline (computed with the status).
    Pitr(Box<crate::monitor::pitr_timeline::PitrTimeline>),
    /// A fresh schedule summary.
    Schedule(Box<ScheduleSummary>),
    /// A dangerous action was asked for: opens its confirmation dialog.
    Request(Dangerous),
    /// A dangerous action was confirmed: produces its effect.
    Confirmed(Dangerous),
    /// A backup file was deleted (Ok) or could not be (Err with the reason).
    Deleted(Result<String, String>),
    /// The edited schedule was saved to the config file (Ok: the expression) or not (Err).
    ScheduleSaved(Result<String, String>),
    /// The crontab was changed (Ok: what happened) or could not be (Err: why).
    CrontabChanged(Result<String, String>),
    /// A backup job wrote this file: it becomes the selection (so `v` verifies it).
    SelectBackup(PathBuf),
    /// The process was asked to stop (SIGTERM, SIGHUP): cancel any job and quit.
    Terminate,
}

/// An action that needs the operator's confirmation.
#[derive(Debug, Clone, PartialEq)]
pub enum Dangerous {
    /// Replace the live database with this backup.
    Restore {
        /// The backup.
        entry: Box<BackupEntry>,
    },
    /// Delete this backup file and its manifest.
    Delete {
        /// The backup.
        entry: Box<BackupEntry>,
    },
    /// Cancel the running job.
    CancelJob,
    /// Replace the live database with its state at a moment (typed name confirmed).
    RestoreMoment {
        /// The moment.
        time: crate::engine::physical::target_time::TargetTime,
    },
    /// Quit while a job runs (cancels it).
    Quit,
    /// Write the configured schedule into the user's crontab.
    InstallSchedule {
        /// The configured expression (for the question).
        expression: String,
    },
    /// Remove pgkeep's block from the user's crontab.
    RemoveSchedule,
}

/// What the runner does for the state: everything with a side effect.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Start a backup of the target's database.
    StartBackup,
    /// Restore this backup into the live database.
    StartRestore {
        /// The backup.
        entry: Box<BackupEntry>,
    },
    /// Restore the live database to a moment (`pgkeep restore --time`).
    StartRestoreMoment {
        /// The moment.
        time: crate::engine::physical::target_time::TargetTime,
    },
    /// Verify this backup.
    StartVerify {
        /// The backup.
        entry: Box<BackupEntry>,
    },
    /// Cancel the running job.
    CancelJob,
    /// Delete a backup file and its manifest.
    DeleteBackup {
        /// The `.sql.gz` (or `.partial`) file.
        path: PathBuf,
    },
    /// Scan the backup directory again now.
    RefreshCatalog,
    /// Save this cron expression as `[schedule] cron` in the config file.
    SaveSchedule {
        /// The expression (already validated).
        cron: String,
    },
    /// Install the configured schedule into the user's crontab (`pgkeep schedule install`).
    InstallSchedule,
    /// Remove pgkeep's block from the user's crontab (`pgkeep schedule remove`).
    RemoveSchedule,
    /// Leave the console (cancelling any job first).
    Quit,
}
