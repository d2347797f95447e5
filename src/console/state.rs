//! Everything the console shows, in one owned value. Only `update` changes it; drawing
//! reads it.

use std::path::PathBuf;

use chrono::{DateTime, Local, Utc};

use super::log_view::LogView;
use super::schedule_editor::ScheduleEditor;
use super::theme::Theme;
use crate::config::Config;
use crate::engine::catalog::BackupEntry;
use crate::engine::physical::base_catalog::BaseBackup;
use crate::engine::progress::{JobKind, JobProgress};
use crate::monitor::pitr_timeline::PitrTimeline;
use crate::monitor::status::ServerStatus;
use crate::schedule::ScheduleSummary;

/// The four panes, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// Server status.
    Status,
    /// The backup list.
    Backups,
    /// The server's log.
    Log,
    /// The backup schedule.
    Schedule,
}

impl Pane {
    /// All panes in Tab order.
    pub const ALL: [Pane; 4] = [Pane::Status, Pane::Backups, Pane::Log, Pane::Schedule];

    /// The pane's title.
    pub fn title(self) -> &'static str {
        match self {
            Pane::Status => "status",
            Pane::Backups => "backups",
            Pane::Log => "log",
            Pane::Schedule => "schedule",
        }
    }

    /// The next pane (`forward`) or the previous one.
    pub fn cycle(self, forward: bool) -> Pane {
        let i = Pane::ALL.iter().position(|p| *p == self).unwrap_or(0);
        let n = Pane::ALL.len();
        Pane::ALL[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }]
    }
}

/// One row of the backups pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListRow {
    /// `backups[i]`: a dump.
    Dump(usize),
    /// `bases[i]`: a base backup.
    Base(usize),
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Still running.
    Running,
    /// Succeeded, with the engine's result message.
    Succeeded(String),
    /// Failed, with the engine's one-line message.
    Failed(String),
    /// Cancelled by the operator.
    Cancelled,
}

/// One job, running or past, as the history shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// What kind of job.
    pub kind: JobKind,
    /// "backup of shop".
    pub what: String,
    /// The equivalent command line (no secrets).
    pub command: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// How it ended.
    pub outcome: JobOutcome,
    /// The job's log lines.
    pub log: Vec<String>,
}

/// The running job.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveJob {
    /// Its progress, folded from events.
    pub progress: JobProgress,
    /// The operator asked to cancel it.
    pub cancel_requested: bool,
    /// The step a point-in-time restore is in ("WAL replayed: 16 segments"), from its log.
    pub step: Option<String>,
    /// The WAL segments a point-in-time restore was planned to replay.
    pub planned_segments: Option<usize>,
}

/// An open dialog; it receives keys before the panes.
#[derive(Debug, Clone, PartialEq)]
pub enum Dialog {
    /// Restore: the database name must be typed exactly.
    ConfirmRestore {
        /// The backup to restore.
        entry: Box<BackupEntry>,
        /// What was typed so far.
        typed: String,
        /// Shown after a wrong name was entered.
        mismatch: bool,
    },
    /// A yes/no question, defaulting to no.
    YesNo {
        /// The question.
        question: String,
        /// What "yes" does.
        action: super::msg::Dangerous,
        /// Whether "yes" is highlighted.
        yes: bool,
    },
    /// Every key.
    Help,
    /// Past and running jobs; the selected one's log.
    JobHistory {
        /// Index into the history, newest first.
        selected: usize,
    },
    /// A failed job's message.
    Error {
        /// What failed.
        title: String,
        /// The engine's message.
        message: String,
    },
    /// Everything about one backup.
    Details {
        /// The backup.
        entry: Box<BackupEntry>,
    },
    /// Restore to a moment: type the time, then the database name.
    RestoreMoment(Box<super::dialogs::restore_moment::MomentDialog>),
}

/// The whole console state.
#[derive(Debug, Clone)]
pub struct State {
    /// The clock, moved by ticks (drawing never reads the system clock).
    pub now: DateTime<Utc>,
    /// Colours.
    pub theme: Theme,
    /// The global keys in force (`[keys]` in pgkeep.toml).
    pub keys: super::keymap::KeyMap,
    /// The focused pane.
    pub focus: Pane,
    /// The protected database.
    pub database: String,
    /// Where backups live.
    pub backup_dir: PathBuf,
    /// `pgkeep` plus the global flags that select this target (no secrets).
    pub cli_prefix: String,
    /// The catalog, newest first.
    pub backups: Vec<BackupEntry>,
    /// Base backups (physical), oldest first; listed beside the dumps.
    pub bases: Vec<BaseBackup>,
    /// The recoverable window as a timeline, when the server could be read.
    pub pitr: Option<PitrTimeline>,
    /// Why the catalog could not be read.
    pub catalog_problem: Option<String>,
    /// Index of the selected row of [`State::rows`] (dumps and base backups).
    pub selected: usize,
    /// A backup to select as soon as the catalog lists it (the one `b` just wrote).
    pub select_when_listed: Option<PathBuf>,
    /// The latest status snapshot.
    pub status: Option<ServerStatus>,
    /// How many rows the status pane is scrolled down (j/k when it is focused).
    pub status_scroll: u16,
    /// The schedule.
    pub schedule: Option<ScheduleSummary>,
    /// The configuration in use (the schedule and alert grace drive the health warnings).
    pub config: Config,
    /// Health warnings (`alerts::backup_health`): overdue backup, failed verification.
    pub health: Vec<String>,
    /// The log pane.
    pub log: LogView,
    /// The running job.
    pub job: Option<ActiveJob>,
    /// Jobs of this session, newest last.
    pub history: Vec<JobRecord>,
    /// The last checkpoint the log showed starting was forced by pgkeep's own job.
    pub own_checkpoint: bool,
    /// The open dialog.
    pub dialog: Option<Dialog>,
    /// The schedule expression being edited (`e` in the schedule pane).
    pub editor: Option<ScheduleEditor>,
    /// The log search being typed after `/`.
    pub search_input: Option<String>,
    /// A short message for the hint bar ("backup deleted").
    pub flash: Option<String>,
    /// Set when the console should exit.
    pub quit: bool,
    /// Something changed since the last frame.
    pub dirty: bool,
}

impl State {
    /// A fresh state for `database` with backups in `backup_dir`.
    pub fn new(database: &str, backup_dir: PathBuf, cli_prefix: String, log_lines: usize) -> State {
        State {
            now: Utc::now(),
            theme: Theme::from_env(),
            keys: Default::default(),
            focus: Pane::Backups,
            database: database.to_string(),
            backup_dir,
            cli_prefix,
            backups: Vec::new(),
            bases: Vec::new(),
            pitr: None,
            catalog_problem: None,
            selected: 0,
            select_when_listed: None,
            status: None,
            status_scroll: 0,
            schedule: None,
            config: Config::default(),
            health: Vec::new(),
            log: LogView::new(log_lines),
            job: None,
            history: Vec::new(),
            own_checkpoint: false,
            dialog: None,
            editor: None,
            search_input: None,
            flash: None,
            quit: false,
            dirty: true,
        }
    }

    /// The selected dump (None when a base backup is selected).
    pub fn selected_backup(&self) -> Option<&BackupEntry> {
        match self.rows().get(self.selected)? {
            ListRow::Dump(i) => self.backups.get(*i),
            ListRow::Base(_) => None,
        }
    }

    /// The selected base backup.
    pub fn selected_base(&self) -> Option<&BaseBackup> {
        match self.rows().get(self.selected)? {
            ListRow::Base(i) => self.bases.get(*i),
            ListRow::Dump(_) => None,
        }
    }

    /// The backups pane's rows: dumps and base backups merged, newest first.
    pub fn rows(&self) -> Vec<ListRow> {
        super::backup_rows::merge(&self.backups, &self.bases)
    }

    /// True while a job runs.
    pub fn job_running(&self) -> bool {
        self.job.is_some()
    }

    /// The job being recorded (the last in the history while one runs).
    pub fn current_record(&mut self) -> Option<&mut JobRecord> {
        self.history
            .last_mut()
            .filter(|r| r.outcome == JobOutcome::Running)
    }

    /// Recomputes the health warnings from the catalog, the config and the clock.
    pub fn refresh_health(&mut self) {
        self.health = crate::alerts::backup_health(&self.backups, &self.config, self.now);
    }

    /// Local time of `now`, for the header.
    pub fn local_now(&self) -> DateTime<Local> {
        self.now.with_timezone(&Local)
    }
}
