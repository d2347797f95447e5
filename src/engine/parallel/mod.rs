//! The parallel loader for plain dumps. The file is read once through the same checks as
//! the serial load (sha256, gzip stream, completion trailer) and split into statements
//! ([`split`]). Pre-data and the data section's statements run in dump order on one
//! session; each table's COPY runs on one of N worker connections as soon as its rows
//! arrive ([`reader`] spools them), frozen when the table is still empty ([`freeze`]);
//! each table's indexes and primary/unique constraints start once its data is in, foreign
//! keys once both tables are complete, ANALYZE once a table's indexes are built
//! ([`schedule`]); the rest of post-data (triggers, rules, ACLs, comments,
//! materialized view refreshes, index attachments) runs in dump order after all of that.
//! Every session gets the dump's `SET` lines. No single transaction: the scratch database is
//! the safety net, and nothing is swapped unless this returns Ok.

pub mod classify;
pub mod freeze;
pub mod reader;
pub mod schedule;
pub mod split;
pub mod worker;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::engine::catalog::BackupEntry;
use crate::engine::precheck::{self, Pump, StreamError, PROGRESS_EVERY};
use crate::engine::progress::{JobEvent, Progress, Sink};
use crate::error::{Error, Result};
use crate::target::Target;

use classify::{classify, Class, SessionState};
use reader::{Feeder, Item, SpoolDir};
use schedule::{Plan, Step};
use worker::{Session, Slot};

/// Why the parallel load did not succeed.
#[derive(Debug)]
pub enum ParallelError {
    /// The dump holds something only psql can load (the reason, for the job log). The
    /// database may hold part of the dump: load it again from scratch.
    Fallback(String),
    /// The load failed (the backup's or the server's fault, or cancelled).
    Failed(Error),
}

impl From<Error> for ParallelError {
    fn from(e: Error) -> Self {
        ParallelError::Failed(e)
    }
}

/// What a successful parallel load did.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Bytes of SQL streamed.
    pub raw_bytes: u64,
    /// Tables whose data was loaded.
    pub tables: usize,
}

/// Where the load reads from and what it loads into.
pub struct Source<'a> {
    /// The backup.
    pub backup: &'a BackupEntry,
    /// The directory for the spool files (the backup directory).
    pub spool_dir: &'a Path,
    /// ANALYZE every table once its indexes are built (and, at the end, what has no data of
    /// its own: partitioned tables, inheritance parents, materialized views).
    pub analyze: bool,
}

/// Loads `src.backup` into the empty database `database` over `jobs` worker connections
/// (plus one for the statements that run in dump order).
pub async fn load(
    target: &dyn Target,
    database: &str,
    src: Source<'_>,
    jobs: usize,
    app_name: &str,
    sink: &Sink,
    cancel: &CancellationToken,
) -> std::result::Result<Loaded, ParallelError> {
    SpoolDir::remove_abandoned(src.spool_dir);
    let mut main = Session::open(target, database, app_name).await?;
    let mut idle = Vec::new();
    for i in 0..jobs.max(1) {
        idle.push((i, Session::open(target, database, app_name).await?));
    }
    let mut run = Run {
        plan: Plan::new(),
        rest: Vec::new(),
        state: Arc::new(SessionState::default()),
        kind: None,
        entry_table: None,
        seen_copy: false,
        post_data: false,
        slots: Arc::new((0..jobs.max(1)).map(|_| Slot::default()).collect()),
        sent: Arc::new(AtomicU64::new(0)),
        spools: Arc::new(SpoolDir::new(src.spool_dir)),
        idle,
        running: JoinSet::new(),
        pump: Arc::new(Pump::default()),
        total: std::fs::metadata(&src.backup.path)
            .map(|m| m.len())
            .unwrap_or(src.backup.size),
        started: Instant::now(),
        stream_done: false,
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Item>(256);
    let discard = Arc::new(AtomicBool::new(false));
    let mut reader = {
        let feeder = Feeder::new(tx, run.spools.clone(), discard.clone());
        let pump = run.pump.clone();
        let path = src.backup.path.clone();
        let name = src.backup.name.clone();
        let sha = src.backup.manifest.as_ref().map(|m| m.sha256.clone());
        tokio::task::spawn_blocking(move || {
            let mut feeder = feeder;
            let r = precheck::stream_checked(&path, &name, sha.as_deref(), &mut feeder, &pump);
            match r {
                Ok(raw) => feeder.finish().map(|_| raw).map_err(StreamError::Write),
                e => e,
            }
        })
    };

    let mut raw_bytes = 0;
    let mut reader_done = false;
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    let outcome: std::result::Result<(), ParallelError> = loop {
        if let Err(e) = run.dispatch() {
            break Err(e.into());
        }
        if run.stream_done && run.plan.complete() {
            break Ok(());
        }
        tokio::select! {
            item = rx.recv(), if !run.stream_done => match item {
                Some(item) => {
                    if let Err(e) = run.handle(&mut main, item).await {
                        break Err(e);
                    }
                }
                None => {
                    reader_done = true;
                    match (&mut reader).await {
                    Ok(Ok(raw)) => {
                        raw_bytes = raw;
                        run.stream_done = true;
                        run.plan.stream_done(src.analyze);
                    }
                    Ok(Err(StreamError::Bad(e))) => break Err(e.into()),
                    Ok(Err(StreamError::Stopped)) => break Err(Error::Cancelled.into()),
                    Ok(Err(StreamError::Write(e))) => break Err(spool_failed(src.spool_dir, e).into()),
                    Err(e) => break Err(Error::Other(format!("the reading thread failed: {e}")).into()),
                    }
                }
            },
            Some(joined) = run.running.join_next(), if !run.running.is_empty() => {
                match joined {
                    Ok((slot, session, id, Ok(()))) => {
                        run.plan.finished(id);
                        run.idle.push((slot, session));
                    }
                    Ok((_, _, _, Err(e))) => break Err(e.into()),
                    Err(e) => break Err(Error::Other(format!("a loading task failed: {e}")).into()),
                }
            }
            _ = tick.tick() => sink.emit(JobEvent::Progress(run.sample())),
            _ = cancel.cancelled() => break Err(Error::Cancelled.into()),
        }
    };
    if let Err(e) = outcome {
        // Stop everything; a damaged file is still reported as such (the reader runs to the
        // end of the file, only decoding and hashing, and its verdict wins).
        discard.store(true, Ordering::Relaxed);
        run.running.abort_all();
        // A fallback reads the file again with psql, which checks it too.
        if matches!(
            e,
            ParallelError::Failed(Error::Cancelled) | ParallelError::Fallback(_)
        ) {
            run.pump.stop.store(true, Ordering::Relaxed);
        }
        if !reader_done {
            rx.close();
            while rx.recv().await.is_some() {}
            let verdict = tokio::select! {
                r = &mut reader => r,
                _ = cancel.cancelled() => {
                    run.pump.stop.store(true, Ordering::Relaxed);
                    let _ = reader.await;
                    return Err(Error::Cancelled.into());
                }
            };
            if let Ok(Err(StreamError::Bad(bad))) = verdict {
                return Err(ParallelError::Failed(bad));
            }
        }
        return Err(e);
    }
    run.finish(&mut main, src.analyze, sink, cancel).await?;
    sink.emit(JobEvent::Progress(run.sample()));
    Ok(Loaded {
        raw_bytes,
        tables: run.plan_tables(),
    })
}

/// A finished worker: its slot, its session, the task and how it went.
type Joined = (usize, Session, usize, Result<()>);

/// The coordinator's state.
struct Run {
    plan: Plan,
    rest: Vec<(Arc<SessionState>, String)>,
    state: Arc<SessionState>,
    kind: Option<String>,
    /// The table of the index or extended statistics the current entry created in the
    /// parallel phase (its statistics target goes with it).
    entry_table: Option<String>,
    seen_copy: bool,
    post_data: bool,
    slots: Arc<Vec<Slot>>,
    sent: Arc<AtomicU64>,
    spools: Arc<SpoolDir>,
    idle: Vec<(usize, Session)>,
    running: JoinSet<Joined>,
    pump: Arc<Pump>,
    total: u64,
    started: Instant,
    stream_done: bool,
}

impl Run {
    /// Starts work on idle connections while there is work that may start.
    fn dispatch(&mut self) -> Result<()> {
        while !self.idle.is_empty() {
            let Some(task) = self.plan.next_ready() else {
                break;
            };
            let (slot, mut session) = self.idle.pop().expect("an idle session");
            let slots = self.slots.clone();
            let spools = self.spools.clone();
            let sent = self.sent.clone();
            self.running.spawn(async move {
                let r = worker::run(&mut session, &task, &slots[slot], &spools, &sent).await;
                (slot, session, task.id, r)
            });
        }
        Ok(())
    }

    /// Takes the next item of the dump.
    async fn handle(
        &mut self,
        main: &mut Session,
        item: Item,
    ) -> std::result::Result<(), ParallelError> {
        match item {
            Item::Header(h) => {
                if self.seen_copy && !classify::is_data_kind(&h.kind) {
                    self.post_data = true;
                }
                self.kind = Some(h.kind);
                self.entry_table = None;
            }
            Item::Statement(sql) => self.statement(main, sql).await?,
            Item::Copy { sql, spool } => {
                if self.post_data {
                    return Err(ParallelError::Fallback(
                        "table data follows the indexes and constraints".into(),
                    ));
                }
                let Some(table) = classify::copy_table(&sql) else {
                    return Err(ParallelError::Fallback(format!(
                        "a COPY statement of an unexpected shape ({})",
                        sql.chars().take(60).collect::<String>()
                    )));
                };
                self.seen_copy = true;
                self.plan.add_copy(&table, sql, spool, self.state.clone());
            }
            Item::Meta(m) => {
                let cmd = m.split_whitespace().next().unwrap_or_default();
                if cmd != "\\restrict" && cmd != "\\unrestrict" {
                    return Err(ParallelError::Fallback(format!(
                        "the dump holds the psql command {cmd}"
                    )));
                }
            }
            Item::Unsupported(reason) => return Err(ParallelError::Fallback(reason)),
        }
        Ok(())
    }

    async fn statement(
        &mut self,
        main: &mut Session,
        sql: String,
    ) -> std::result::Result<(), ParallelError> {
        let post = self.post_data;
        match classify(self.kind.as_deref(), &sql) {
            Class::Setting { name, value } => {
                let unsupported = match name.as_str() {
                    "client_encoding" => !value.eq_ignore_ascii_case("utf8"),
                    "standard_conforming_strings" => !value.eq_ignore_ascii_case("on"),
                    _ => false,
                };
                if unsupported {
                    return Err(ParallelError::Fallback(format!(
                        "the dump sets {name} to {value}"
                    )));
                }
                self.state = self.state.with(&name, &sql);
            }
            Class::Index { table } if post && self.plan.has_table(&table) => {
                self.plan
                    .add_build(&table, Step::Index, sql, self.state.clone());
                self.entry_table = Some(table);
            }
            Class::Statistics { table } if post && self.plan.has_table(&table) => {
                self.plan
                    .add_build(&table, Step::Statistics, sql, self.state.clone());
                self.entry_table = Some(table);
            }
            Class::StatisticsTarget if post && self.entry_table.is_some() => {
                let table = self.entry_table.clone().unwrap_or_default();
                self.plan
                    .add_build(&table, Step::Statistics, sql, self.state.clone());
            }
            Class::Constraint { table } if post && self.plan.has_table(&table) => self
                .plan
                .add_build(&table, Step::Constraint, sql, self.state.clone()),
            Class::ForeignKey { table, references }
                if post && self.plan.has_table(&table) && self.plan.has_table(&references) =>
            {
                self.plan
                    .add_foreign_key(&table, &references, sql, self.state.clone())
            }
            _ if post => self.rest.push((self.state.clone(), sql)),
            _ => main.execute(&self.state, &sql).await?,
        }
        Ok(())
    }

    /// The rest of post-data in dump order, then ANALYZE of what has no data of its own
    /// (partitioned tables, inheritance parents, materialized views).
    async fn finish(
        &mut self,
        main: &mut Session,
        analyze: bool,
        sink: &Sink,
        cancel: &CancellationToken,
    ) -> Result<()> {
        let rest = std::mem::take(&mut self.rest);
        let mut tick = tokio::time::interval(PROGRESS_EVERY);
        let work = async {
            for (state, sql) in &rest {
                main.execute(state, sql).await?;
            }
            if !analyze {
                return Ok(());
            }
            let rows = main
                .client()
                .query(
                    "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
                       JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE (c.relkind IN ('p', 'm') OR EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhparent = c.oid))
                        AND (c.relkind <> 'm' OR c.relispopulated)
                        AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                        AND n.nspname NOT LIKE 'pg\\_toast%'",
                    &[],
                )
                .await
                .map_err(crate::target::sql_error)?;
            for r in rows {
                let name: String = r.get(0);
                main.execute(&SessionState::default(), &format!("ANALYZE {name};"))
                    .await?;
            }
            Ok::<(), Error>(())
        };
        tokio::pin!(work);
        loop {
            tokio::select! {
                r = &mut work => return r,
                _ = tick.tick() => sink.emit(JobEvent::Progress(self.sample())),
                _ = cancel.cancelled() => return Err(Error::Cancelled),
            }
        }
    }

    fn plan_tables(&self) -> usize {
        self.plan.tables()
    }

    /// A progress sample: work done of the estimated total, and each worker's state.
    fn sample(&self) -> Progress {
        let read = self.pump.read.load(Ordering::Relaxed);
        let spooled = self.plan.data_bytes();
        let (copy_total, build_total) = if self.stream_done {
            (spooled, self.plan.build_work_total())
        } else {
            let f = self.total as f64 / read.max(1) as f64;
            let est = (spooled as f64 * f) as u64;
            (est, est)
        };
        let work_total = copy_total + build_total;
        let work_done = self.sent.load(Ordering::Relaxed) + self.plan.work_done;
        Progress {
            bytes_done: read,
            bytes_total: Some(self.total),
            elapsed: self.started.elapsed(),
            work_done: work_done.min(work_total),
            work_total: work_total.max(1),
            workers: self.slots.iter().filter_map(Slot::sample).collect(),
            ..Default::default()
        }
    }
}

/// The one line for table rows that could not be spooled: most often the disk of the
/// backup folder is full (the load spools each table's rows there while its COPY runs).
fn spool_failed(dir: &Path, e: std::io::Error) -> Error {
    let full = [nix::libc::ENOSPC, nix::libc::EDQUOT];
    if e.raw_os_error().is_some_and(|code| full.contains(&code)) {
        return Error::Other(format!(
            "no space left in {} for the parallel load's spool files (each table's rows wait there while they load, up to {} in all): free some space there, or restore with --jobs 1, which needs none",
            dir.display(),
            humansize::format_size(reader::SPOOL_CAP, humansize::BINARY)
        ));
    }
    Error::io("writing the parallel load's spool file", e, dir)
}

#[cfg(test)]
mod spool_tests {
    use super::*;

    #[test]
    fn a_full_disk_while_spooling_says_where_and_what_to_do() {
        let e = spool_failed(
            Path::new("/srv/db_backups"),
            std::io::Error::from_raw_os_error(nix::libc::ENOSPC),
        )
        .to_string();
        assert!(e.contains("no space left in /srv/db_backups"), "{e}");
        assert!(e.contains("--jobs 1"), "{e}");
    }
}
