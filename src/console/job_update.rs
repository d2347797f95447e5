//! The part of `update` that starts jobs and folds their events into the state: the job
//! record in the history, the log pane's lines, the bottom line, the error dialog.

use super::keymap::Action;
use super::msg::Effect;
use super::state::{ActiveJob, Dialog, JobOutcome, JobRecord, State};
use crate::engine::physical::target_time::TargetTime;
use crate::engine::physical::window::local;
use crate::engine::progress::{JobEvent, JobKind, JobProgress};

/// Log lines of a point-in-time restore that name its step while the phase stays "checking":
/// the gauge shows them.
const STEPS: &[&str] = &[
    "waiting for the archiver",
    "unpacking base backup",
    "recovering to",
    "WAL replayed",
];

/// Records a new job and returns its start effect; refuses while another runs.
pub fn start_job(
    state: &mut State,
    kind: JobKind,
    entry: Option<Box<crate::engine::catalog::BackupEntry>>,
) -> Vec<Effect> {
    if state.job_running() {
        state.flash = Some(busy_text(state));
        return Vec::new();
    }
    let (what, command, effect) = match (kind, entry) {
        (JobKind::Backup, _) => (
            format!("backup of {}", state.database),
            format!("{} backup", state.cli_prefix),
            Effect::StartBackup,
        ),
        (JobKind::Restore, Some(e)) => (
            format!("restore of {} from {}", state.database, e.name),
            format!("{} restore {}", state.cli_prefix, e.name),
            Effect::StartRestore { entry: e },
        ),
        (JobKind::Verify, Some(e)) => (
            format!("verification of {}", e.name),
            format!("{} verify {}", state.cli_prefix, e.name),
            Effect::StartVerify { entry: e },
        ),
        (_, None) => return Vec::new(),
    };
    begin(state, kind, what, command, effect)
}

/// Records a point-in-time restore and returns its start effect; refuses while a job runs.
pub fn start_moment_job(state: &mut State, time: TargetTime) -> Vec<Effect> {
    if state.job_running() {
        state.flash = Some(busy_text(state));
        return Vec::new();
    }
    let (moment, arg) = match time {
        TargetTime::At(t) => (local(t), local(t)),
        TargetTime::Latest => ("the newest archived change".into(), "latest".into()),
    };
    let what = format!("restore of {} to {moment}", state.database);
    let command = format!("{} restore --time '{arg}'", state.cli_prefix);
    let planned = state
        .pitr
        .as_ref()
        .and_then(|p| p.plan(time, state.now).ok())
        .map(|p| p.segments);
    let effects = begin(
        state,
        JobKind::Restore,
        what,
        command,
        Effect::StartRestoreMoment { time },
    );
    if let Some(job) = state.job.as_mut() {
        job.planned_segments = planned;
    }
    effects
}

/// The gauge's step for a log line of a point-in-time restore: "WAL replayed: 16 segments"
/// becomes "WAL replayed: 16 of ~40 segments" when the dialog planned 40.
fn step_text(line: &str, planned: Option<usize>) -> String {
    let replayed = line
        .strip_prefix("WAL replayed: ")
        .and_then(|rest| rest.strip_suffix(" segments"))
        .and_then(|n| n.parse::<usize>().ok());
    match (replayed, planned) {
        (Some(n), Some(of)) => format!("WAL replayed: {n} of ~{} segments", of.max(n)),
        _ if line.starts_with("unpacking base backup") => "unpacking the base backup".into(),
        _ if line.starts_with("recovering to") => "recovering in a scratch server".into(),
        _ => line.to_string(),
    }
}

/// Makes the job the running one, records it in the history and the log.
fn begin(
    state: &mut State,
    kind: JobKind,
    what: String,
    command: String,
    effect: Effect,
) -> Vec<Effect> {
    let mut progress = JobProgress::default();
    progress.reduce(&JobEvent::Started {
        kind,
        what: what.clone(),
    });
    state.job = Some(ActiveJob {
        progress,
        cancel_requested: false,
        step: None,
        planned_segments: None,
    });
    state.history.push(JobRecord {
        kind,
        what: what.clone(),
        command: command.clone(),
        started_at: state.now,
        ended_at: None,
        outcome: JobOutcome::Running,
        log: Vec::new(),
    });
    state
        .log
        .push(format!("pgkeep: {what} started ($ {command})"));
    state.flash = None;
    vec![effect]
}

/// Folds one event of the running job into the state.
pub fn on_job(state: &mut State, event: JobEvent) -> Vec<Effect> {
    let Some(job) = state.job.as_mut() else {
        return Vec::new();
    };
    job.progress.reduce(&event);
    match &event {
        JobEvent::Log(line) if STEPS.iter().any(|s| line.starts_with(s)) => {
            job.step = Some(step_text(line, job.planned_segments))
        }
        JobEvent::Phase(_) => job.step = None,
        _ => {}
    }
    let cancelled = job.cancel_requested;
    let what = job.progress.what.clone();
    let now = state.now;
    let outcome = match &event {
        JobEvent::Finished(msg) => Some(JobOutcome::Succeeded(msg.clone())),
        JobEvent::Failed(_) if cancelled => Some(JobOutcome::Cancelled),
        JobEvent::Failed(msg) => Some(JobOutcome::Failed(msg.clone())),
        _ => None,
    };
    if let JobEvent::Log(line) = &event {
        state.log.push(format!("pgkeep: {line}"));
        if let Some(r) = state.current_record() {
            r.log.push(line.clone());
        }
    }
    let Some(outcome) = outcome else {
        return Vec::new();
    };
    let summary = match &outcome {
        JobOutcome::Succeeded(m) => format!("{what} finished: {m}"),
        JobOutcome::Failed(m) => format!("{what} FAILED: {m}"),
        _ => format!("{what} cancelled; nothing was changed"),
    };
    state.log.push(format!("pgkeep: {summary}"));
    if let Some(r) = state.current_record() {
        r.log.push(summary.clone());
        r.ended_at = Some(now);
        r.outcome = outcome.clone();
    }
    state.job = None;
    state.flash = Some(summary);
    if let JobOutcome::Failed(message) = outcome {
        state.dialog = Some(Dialog::Error {
            title: format!("{what} failed"),
            message,
        });
    }
    vec![Effect::RefreshCatalog]
}

/// "a job is already running…", naming the cancel key in force.
pub fn busy_text(state: &State) -> String {
    format!(
        "a job is already running: wait for it or cancel it with {}",
        state.keys.label(Action::Cancel)
    )
}
