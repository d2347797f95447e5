//! The app loop and the runner: one channel of owned [`Msg`]s; [`App::next`] takes the next
//! message (and any already queued), folds it into the state with `update`, and turns the
//! resulting [`Effect`]s into tokio tasks. Background tasks (clock, status, catalog, log,
//! schedule) only send messages. No terminal here: the headless tests drive the same loop.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::msg::{Effect, Msg};
use super::state::State;
use super::update::update;
use crate::config::{Config, ScheduleConfig};
use crate::engine::backup::{self, BackupOptions};
use crate::engine::catalog;
use crate::engine::physical::base_catalog;
use crate::engine::progress::{JobEvent, Sink};
use crate::engine::restore::{self, RestoreOptions};
use crate::engine::{fsutil, verify};
use crate::monitor::logs;
use crate::schedule::crontab::Change;
use crate::schedule::save;
use crate::target::Target;

pub use super::catalog_watch::CATALOG_EVERY;
use super::status_watch::SharedTarget;
pub use super::status_watch::{CHECKS_EVERY_ROUNDS, STATUS_EVERY};
/// How often the schedule summary is refreshed (it reads the crontab).
pub const SCHEDULE_EVERY: Duration = Duration::from_secs(60);

/// The console without its terminal: state, message channel and running tasks.
pub struct App {
    /// What is shown.
    pub state: State,
    tx: UnboundedSender<Msg>,
    rx: UnboundedReceiver<Msg>,
    target: SharedTarget,
    config: Config,
    job: Option<(CancellationToken, JoinHandle<()>)>,
    background: Vec<JoinHandle<()>>,
    /// The explicit `--config` file; edits go there (else to `./pgkeep.toml`).
    config_file: Option<PathBuf>,
    /// The schedule the summary task reads; sending wakes it for a fresh summary.
    schedule_tx: watch::Sender<ScheduleConfig>,
    /// How many records of the history are in the journal already.
    journaled: usize,
}

impl App {
    /// A new app for `target` with `config`; `cli_prefix` is shown in job logs.
    pub fn new(config: Config, target: Arc<dyn Target>, cli_prefix: String) -> App {
        let (tx, rx) = unbounded_channel();
        let mut state = State::new(
            target.database(),
            config.backup_dir.clone(),
            cli_prefix,
            config.log.buffer_lines,
        );
        state.config = config.clone();
        state.keys = super::keymap::KeyMap::from_config(&config.keys).unwrap_or_default();
        state.history = super::journal::load(&config.backup_dir);
        let journaled = state.history.len();
        let (schedule_tx, _) = watch::channel(config.schedule.clone());
        App {
            state,
            tx,
            rx,
            target: SharedTarget::new(target),
            config,
            job: None,
            background: Vec::new(),
            config_file: None,
            schedule_tx,
            journaled,
        }
    }

    /// Sets the explicit `--config` file that schedule edits are written to.
    pub fn set_config_file(&mut self, path: Option<PathBuf>) {
        self.config_file = path;
    }

    /// The configuration in use (changed by schedule edits).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A sender for messages into the loop (terminal events, signals, tests).
    pub fn sender(&self) -> UnboundedSender<Msg> {
        self.tx.clone()
    }

    /// Starts the clock, status, catalog, schedule and log tasks.
    pub fn start_background(&mut self) {
        let tx = self.tx.clone();
        self.background.push(tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                every.tick().await;
                if tx.send(Msg::Tick(Utc::now())).is_err() {
                    return;
                }
            }
        }));
        self.background.push(tokio::spawn(super::status_watch::run(
            self.tx.clone(),
            self.target.clone(),
            self.config.clone(),
        )));
        self.background.push(tokio::spawn(super::catalog_watch::run(
            self.config.backup_dir.clone(),
            self.tx.clone(),
        )));
        let (tx, mut sched) = (self.tx.clone(), self.schedule_tx.subscribe());
        self.background.push(tokio::spawn(async move {
            loop {
                let c = sched.borrow_and_update().clone();
                let Ok(s) = tokio::task::spawn_blocking(move || crate::schedule::summary(&c)).await
                else {
                    return;
                };
                if tx.send(Msg::Schedule(Box::new(s))).is_err() {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(SCHEDULE_EVERY) => {}
                    changed = sched.changed() => if changed.is_err() { return },
                }
            }
        }));
        let (tx, target, config) = (self.tx.clone(), self.target.get(), self.config.clone());
        self.background.push(tokio::spawn(async move {
            let source = logs::source_for(&config, target.as_ref()).await;
            let _ = tx.send(Msg::LogSource(source.describe()));
            let (ltx, mut lrx) = unbounded_channel();
            let handle = source.follow(config.log.buffer_lines.min(2_000), ltx);
            while let Some(ev) = lrx.recv().await {
                if tx.send(Msg::Log(ev)).is_err() {
                    break;
                }
            }
            drop(lrx);
            let _ = handle.await;
        }));
    }

    /// Waits for the next message, then folds it and everything already queued into the
    /// state and performs the effects. None when every sender is gone.
    pub async fn next(&mut self) -> Option<()> {
        let msg = self.rx.recv().await?;
        self.handle(msg);
        while let Ok(msg) = self.rx.try_recv() {
            self.handle(msg);
            if self.state.quit {
                break;
            }
        }
        Some(())
    }

    /// Folds one message in and performs its effects.
    pub fn handle(&mut self, msg: Msg) {
        let was_dirty = self.state.dirty;
        let effects = update(&mut self.state, msg);
        self.state.dirty |= was_dirty;
        for e in effects {
            self.perform(e);
        }
        self.journal_finished_jobs();
    }

    /// Appends jobs that finished since the last call to the journal in the backup dir.
    fn journal_finished_jobs(&mut self) {
        while let Some(r) = self.state.history.get(self.journaled) {
            if r.outcome == super::state::JobOutcome::Running {
                return;
            }
            if let Err(e) = super::journal::append(&self.config.backup_dir, r) {
                // Not on the bottom line: that holds the job's own result.
                let path = super::journal::path(&self.config.backup_dir);
                self.state.log.push(format!(
                    "pgkeep: cannot write the job journal {}: {e}",
                    path.display()
                ));
            }
            self.journaled += 1;
        }
    }

    /// Turns one effect into a task.
    pub fn perform(&mut self, effect: Effect) {
        match effect {
            Effect::StartBackup => {
                let opts = BackupOptions {
                    label: None,
                    compression_level: self.config.compression_level,
                    lock_wait_timeout: self.config.lock_wait(),
                    dir_policy: crate::engine::fsutil::DirPolicy::Private,
                    encrypt_to: self.config.local_recipients().ok().flatten(),
                };
                let (target, dir) = (self.target.get(), self.config.backup_dir.clone());
                let tx = self.tx.clone();
                self.spawn_job(move |sink, cancel| async move {
                    backup::backup(target.as_ref(), &dir, &opts, &sink, &cancel)
                        .await
                        .map(|o| {
                            // Before `Finished`: the new backup is the selection by then.
                            let _ = tx.send(Msg::SelectBackup(o.path.clone()));
                            format!("wrote {}", o.path.display())
                        })
                });
            }
            Effect::StartRestore { entry } => {
                let opts = RestoreOptions {
                    into: None,
                    safety_backup: true,
                    compression_level: self.config.compression_level,
                    update_roles: false,
                    tablespace_default: false,
                    jobs: None,
                    lock_wait_timeout: self.config.lock_wait(),
                    dir_policy: crate::engine::fsutil::DirPolicy::Private,
                    encrypt_to: self.config.local_recipients().ok().flatten(),
                };
                let (target, dir) = (self.target.get(), self.config.backup_dir.clone());
                self.spawn_job(move |sink, cancel| async move {
                    restore::restore(target.as_ref(), &dir, &entry, &opts, &sink, &cancel)
                        .await
                        .map(|o| format!("{} now holds {}", o.database, entry.name))
                });
            }
            Effect::StartRestoreMoment { time } => {
                let (target, config) = (self.target.get(), self.config.clone());
                self.spawn_job(move |sink, cancel| {
                    super::pitr_job::run(target, config, time, sink, cancel)
                });
            }
            Effect::StartVerify { entry } => {
                let target = self.target.get();
                self.spawn_job(move |sink, cancel| async move {
                    verify::verify(target.as_ref(), &entry, &sink, &cancel)
                        .await
                        .map(|o| o.message)
                });
            }
            Effect::CancelJob => {
                if let Some((cancel, _)) = &self.job {
                    cancel.cancel();
                }
            }
            Effect::DeleteBackup { path } => {
                let tx = self.tx.clone();
                tokio::task::spawn_blocking(move || {
                    let _ = tx.send(Msg::Deleted(delete_backup(&path)));
                });
            }
            Effect::RefreshCatalog => {
                let (tx, dir) = (self.tx.clone(), self.config.backup_dir.clone());
                tokio::task::spawn_blocking(move || {
                    let _ = tx.send(Msg::Catalog(catalog::scan(&dir).map_err(|e| e.to_string())));
                    let _ = tx.send(Msg::Bases(base_catalog::scan(&dir).unwrap_or_default()));
                });
            }
            Effect::SaveSchedule { cron } => {
                let path = save::config_path(self.config_file.as_deref());
                let result = save::save_cron(&path, &cron).map_err(|e| e.to_string());
                if result.is_ok() {
                    self.config.schedule.cron = cron.clone();
                    self.schedule_tx.send_replace(self.config.schedule.clone());
                }
                let _ = self.tx.send(Msg::ScheduleSaved(result.map(|()| cron)));
            }
            Effect::InstallSchedule | Effect::RemoveSchedule => {
                let install = effect == Effect::InstallSchedule;
                let (tx, sched, dir, file) = (
                    self.tx.clone(),
                    self.schedule_tx.clone(),
                    self.config.backup_dir.clone(),
                    self.config_file.clone(),
                );
                let cfg = self.config.schedule.clone();
                let with_base = crate::engine::physical::base_catalog::pitr_in_use(
                    &self.config.backup_dir,
                    &self.config.wal_dir(),
                );
                tokio::task::spawn_blocking(move || {
                    let result = if install {
                        save::install(&cfg, &dir, file.as_deref(), with_base).map(
                            |(c, _)| match c {
                                Change::Written => {
                                    format!("installed `{}` in your crontab", cfg.cron)
                                }
                                Change::Unchanged => "already installed: crontab unchanged".into(),
                            },
                        )
                    } else {
                        save::remove().map(|c| match c {
                            Change::Written => "removed pgkeep's schedule from your crontab".into(),
                            Change::Unchanged => "no pgkeep schedule in your crontab".into(),
                        })
                    };
                    let result = result.map(|m| {
                        if install && !crate::schedule::crontab::daemon_running() {
                            format!("{m}; warning: no cron daemon runs here, so it will not fire")
                        } else {
                            m
                        }
                    });
                    let _ = tx.send(Msg::CrontabChanged(result.map_err(|e| e.to_string())));
                    sched.send_modify(|_| {});
                });
            }
            Effect::Quit => {}
        }
    }

    fn spawn_job<F, Fut>(&mut self, job: F)
    where
        F: FnOnce(Sink, CancellationToken) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = crate::Result<String>> + Send + 'static,
    {
        let tx = self.tx.clone();
        let sink = Sink::new(move |e| {
            let _ = tx.send(Msg::Job(e));
        });
        let cancel = CancellationToken::new();
        let c = cancel.clone();
        let handle = tokio::spawn(async move {
            match job(sink.clone(), c).await {
                Ok(msg) => sink.emit(JobEvent::Finished(msg)),
                Err(e) => sink.emit(JobEvent::Failed(e.to_string())),
            }
        });
        self.job = Some((cancel, handle));
    }

    /// Cancels a running job and waits (up to a minute) until it has cleaned up, then stops
    /// the background tasks.
    pub async fn shutdown(&mut self) {
        if let Some((cancel, handle)) = self.job.take() {
            cancel.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(60), handle).await;
        }
        for h in self.background.drain(..) {
            h.abort();
        }
    }
}

/// Removes a backup and the rest of its unit (manifest, globals); Ok with the file name.
fn delete_backup(path: &Path) -> Result<String, String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    std::fs::remove_file(path).map_err(|e| format!("cannot delete {}: {e}", path.display()))?;
    for f in crate::engine::catalog::unit_files(path).iter().skip(1) {
        match std::fs::remove_file(f) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("deleted {name} but not {}: {e}", f.display())),
        }
    }
    if let Some(dir) = path.parent() {
        let _ = fsutil::fsync_dir(dir);
    }
    Ok(name)
}
