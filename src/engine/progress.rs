//! What a background job reports, and the pure reduction of those reports into what a
//! progress bar shows. Jobs send small owned [`JobEvent`]s through a [`Sink`]; the console
//! and the CLI's progress bar both fold them with [`JobProgress::reduce`].

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

/// The kind of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// A backup (pg_dump → gzip → file).
    Backup,
    /// A restore (file → gunzip → psql → swap).
    Restore,
    /// A verification (checks and a test restore into a scratch database).
    Verify,
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobKind::Backup => "backup",
            JobKind::Restore => "restore",
            JobKind::Verify => "verify",
        })
    }
}

/// A step of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Checking inputs: connection, versions, file checksum and stream.
    Check,
    /// Taking the pre-restore safety backup.
    SafetyBackup,
    /// Dumping the database.
    Dump,
    /// Loading a dump into a scratch database.
    Load,
    /// Gathering planner statistics (ANALYZE) in the loaded scratch database.
    Analyze,
    /// Swapping the scratch database in.
    Swap,
    /// Comparing row counts.
    Compare,
    /// Writing the manifest, fsyncing, renaming, removing leftovers.
    Finish,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Check => "checking",
            Phase::SafetyBackup => "safety backup",
            Phase::Dump => "dumping",
            Phase::Load => "loading",
            Phase::Analyze => "analysing",
            Phase::Swap => "swapping",
            Phase::Compare => "comparing",
            Phase::Finish => "finishing",
        })
    }
}

/// One progress sample. Byte fields mean: for a backup, `bytes_done` is raw SQL read from
/// pg_dump and `bytes_written` the compressed bytes written; for a restore or verify,
/// `bytes_done` is compressed bytes read of `bytes_total` (the file's size).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Progress {
    /// Bytes processed (see above).
    pub bytes_done: u64,
    /// Compressed bytes written (backup only).
    pub bytes_written: u64,
    /// Total bytes when known.
    pub bytes_total: Option<u64>,
    /// The table being copied, when known.
    pub table: Option<String>,
    /// Rows done (all tables).
    pub rows_done: u64,
    /// Estimated rows in all tables (`pg_class.reltuples`), 0 when unknown.
    pub rows_total: u64,
    /// Time since the job started.
    pub elapsed: Duration,
    /// Weighted work finished, when the job measures it (a parallel load: bytes of table
    /// data loaded plus index builds); preferred over bytes for the fraction and the ETA.
    pub work_done: u64,
    /// Weighted work in all, 0 when not measured.
    pub work_total: u64,
    /// What each busy worker of a parallel load is doing.
    pub workers: Vec<WorkerProgress>,
}

/// What one worker of a parallel load is doing.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WorkerProgress {
    /// The table it works on.
    pub table: String,
    /// The step: copy, index, constraint, foreign key, statistics, analyze.
    pub step: String,
    /// Rows sent so far (copy).
    pub rows: u64,
}

impl WorkerProgress {
    /// `copy t 120K rows`, `index shop.t`: tables of the `public` schema without it (the
    /// line has room for every worker).
    pub fn describe(&self) -> String {
        let table = self.table.strip_prefix("public.").unwrap_or(&self.table);
        if self.rows > 0 {
            format!("{} {} {} rows", self.step, table, compact_count(self.rows))
        } else {
            format!("{} {}", self.step, table)
        }
    }
}

/// What every busy worker of a parallel load does, on one line (`copy a 1.2M rows | index b`).
pub fn workers_line(workers: &[WorkerProgress]) -> String {
    workers
        .iter()
        .map(WorkerProgress::describe)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// 950 → "950", 1234 → "1.2K", 2_600_000 → "2.6M".
fn compact_count(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=999_999 => format!("{:.1}K", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// What a job reports.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    /// The job began; `what` describes it ("backup of shop").
    Started {
        /// Job kind.
        kind: JobKind,
        /// Human description.
        what: String,
    },
    /// A new step began.
    Phase(Phase),
    /// A progress sample within the current step.
    Progress(Progress),
    /// A line for the job's log.
    Log(String),
    /// The job succeeded; the message says with what result (e.g. the file's path).
    Finished(String),
    /// The job failed; the engine's one-line message.
    Failed(String),
}

/// Where a job sends its events. Cheap to clone; a no-op sink discards everything.
#[derive(Clone)]
pub struct Sink(Option<Arc<dyn Fn(JobEvent) + Send + Sync>>);

impl Sink {
    /// A sink that calls `f` for every event.
    pub fn new(f: impl Fn(JobEvent) + Send + Sync + 'static) -> Sink {
        Sink(Some(Arc::new(f)))
    }

    /// A sink that discards events.
    pub fn none() -> Sink {
        Sink(None)
    }

    /// A sink that forwards events into a tokio channel.
    pub fn channel(tx: tokio::sync::mpsc::UnboundedSender<JobEvent>) -> Sink {
        Sink::new(move |e| {
            let _ = tx.send(e);
        })
    }

    /// Sends one event.
    pub fn emit(&self, event: JobEvent) {
        if let Some(f) = &self.0 {
            f(event);
        }
    }

    /// Sends a log line.
    pub fn log(&self, line: impl Into<String>) {
        self.emit(JobEvent::Log(line.into()));
    }

    /// Announces a new phase.
    pub fn phase(&self, phase: Phase) {
        self.emit(JobEvent::Phase(phase));
    }
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sink")
    }
}

/// The state of a job's progress bar, folded from events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobProgress {
    /// Job kind, once started.
    pub kind: Option<JobKind>,
    /// Description, once started.
    pub what: String,
    /// Current phase.
    pub phase: Option<Phase>,
    /// Last sample.
    pub last: Progress,
    /// Bytes per second over the whole job so far.
    pub rate: f64,
    /// Whether the job finished successfully.
    pub finished: bool,
    /// The failure message, if it failed.
    pub failed: Option<String>,
    /// The final message on success.
    pub result: Option<String>,
}

impl JobProgress {
    /// Folds one event in. Pure: no clocks, no I/O.
    pub fn reduce(&mut self, event: &JobEvent) {
        match event {
            JobEvent::Started { kind, what } => {
                *self = JobProgress {
                    kind: Some(*kind),
                    what: what.clone(),
                    ..Default::default()
                }
            }
            JobEvent::Phase(p) => self.phase = Some(*p),
            JobEvent::Progress(p) => {
                let secs = p.elapsed.as_secs_f64();
                if secs > 0.0 {
                    self.rate = p.bytes_done as f64 / secs;
                }
                self.last = p.clone();
            }
            JobEvent::Log(_) => {}
            JobEvent::Finished(msg) => {
                self.finished = true;
                self.result = Some(msg.clone());
            }
            JobEvent::Failed(msg) => self.failed = Some(msg.clone()),
        }
    }

    /// Fraction done in 0..=1: by bytes when the total is known, else by estimated rows.
    /// Held at 0.99 until the job has finished, since estimates can be low.
    pub fn ratio(&self) -> f64 {
        if self.finished {
            return 1.0;
        }
        let p = &self.last;
        let r = match p.bytes_total {
            _ if p.work_total > 0 => p.work_done as f64 / p.work_total as f64,
            Some(t) if t > 0 => p.bytes_done as f64 / t as f64,
            _ if p.rows_total > 0 => p.rows_done as f64 / p.rows_total as f64,
            _ => 0.0,
        };
        r.clamp(0.0, 0.99)
    }

    /// Whole percent, 0..=100 (100 only when finished).
    pub fn percent(&self) -> u16 {
        (self.ratio() * 100.0).floor() as u16
    }

    /// Estimated time left, when there is enough to go on.
    pub fn eta(&self) -> Option<Duration> {
        let r = self.ratio();
        let secs = self.last.elapsed.as_secs_f64();
        if self.finished || r < 0.01 || secs < 1.0 {
            return None;
        }
        Some(Duration::from_secs_f64(secs * (1.0 - r) / r))
    }

    /// True while the job has neither finished nor failed.
    pub fn running(&self) -> bool {
        self.kind.is_some() && !self.finished && self.failed.is_none()
    }
}

/// Formats a duration as `1h02m`, `3m05s` or `12s`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(done: u64, total: Option<u64>, rows: u64, rows_total: u64, secs: u64) -> JobEvent {
        JobEvent::Progress(Progress {
            bytes_done: done,
            bytes_total: total,
            rows_done: rows,
            rows_total,
            elapsed: Duration::from_secs(secs),
            ..Default::default()
        })
    }

    #[test]
    fn held_below_100_until_finished() {
        let mut p = JobProgress::default();
        p.reduce(&JobEvent::Started {
            kind: JobKind::Backup,
            what: "backup of shop".into(),
        });
        p.reduce(&sample(10, None, 2_000, 1_000, 2));
        assert_eq!(p.percent(), 99);
        p.reduce(&JobEvent::Finished("done".into()));
        assert_eq!(p.percent(), 100);
        assert!(!p.running());
    }

    #[test]
    fn bytes_total_wins_and_eta_follows() {
        let mut p = JobProgress::default();
        p.reduce(&JobEvent::Started {
            kind: JobKind::Restore,
            what: "x".into(),
        });
        p.reduce(&sample(250, Some(1000), 0, 0, 10));
        assert_eq!(p.percent(), 25);
        assert_eq!(p.eta(), Some(Duration::from_secs(30)));
        assert!((p.rate - 25.0).abs() < 1e-9);
    }

    #[test]
    fn started_resets_previous_state() {
        let mut p = JobProgress::default();
        p.reduce(&JobEvent::Started {
            kind: JobKind::Backup,
            what: "a".into(),
        });
        p.reduce(&JobEvent::Failed("boom".into()));
        p.reduce(&JobEvent::Started {
            kind: JobKind::Verify,
            what: "b".into(),
        });
        assert!(p.failed.is_none());
        assert!(p.running());
    }

    #[test]
    fn work_wins_over_bytes_and_workers_read_well() {
        let mut p = JobProgress::default();
        p.reduce(&JobEvent::Started {
            kind: JobKind::Restore,
            what: "x".into(),
        });
        p.reduce(&JobEvent::Progress(Progress {
            bytes_done: 1000,
            bytes_total: Some(1000),
            work_done: 250,
            work_total: 1000,
            elapsed: Duration::from_secs(10),
            ..Default::default()
        }));
        assert_eq!(
            p.percent(),
            25,
            "the file is read, the index builds are not done"
        );
        assert_eq!(p.eta(), Some(Duration::from_secs(30)));
        let w = [
            WorkerProgress {
                table: "public.a".into(),
                step: "copy".into(),
                rows: 1_234,
            },
            WorkerProgress {
                table: "shop.b".into(),
                step: "index".into(),
                rows: 0,
            },
        ];
        assert_eq!(workers_line(&w), "copy a 1.2K rows | index shop.b");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(format_duration(Duration::from_secs(5)), "5s");
        assert_eq!(format_duration(Duration::from_secs(185)), "3m05s");
        assert_eq!(format_duration(Duration::from_secs(3720)), "1h02m");
    }
}
