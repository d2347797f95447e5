//! One connection of the parallel load and what it runs: statements through the simple
//! query protocol (as psql sends them), COPY by streaming the table's spool file as it grows
//! (frozen where it can be, see [`freeze`]), ANALYZE. Every session gets the load's settings
//! and the dump's session state (its `SET` lines, `search_path`) before each piece of work
//! that needs a different one.

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use futures_util::SinkExt;
use tokio::io::AsyncReadExt;
use tokio_postgres::Client;

use super::classify::SessionState;
use super::freeze;
use super::reader::{Spool, SpoolDir};
use super::schedule::{Job, Step, Task};
use crate::engine::load::SESSION_SETTINGS;
use crate::engine::progress::WorkerProgress;
use crate::error::{Error, Result};
use crate::target::{self, Target};

/// Bytes sent to the server per COPY message batch.
const COPY_CHUNK: usize = 1 << 20;

/// A connection to the database being loaded.
pub struct Session {
    client: Client,
    applied: u64,
}

impl Session {
    /// Connects to `database` as `app_name` with the load's session settings.
    pub async fn open(target: &dyn Target, database: &str, app_name: &str) -> Result<Session> {
        let mut cfg = target.pg_config(database);
        cfg.application_name(app_name)
            .connect_timeout(Duration::from_secs(10));
        let user = cfg.get_user().unwrap_or("").to_string();
        let (client, connection) = cfg
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| target::map_connect_error(e, &target.describe(), &user, database))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
            .batch_execute(SESSION_SETTINGS)
            .await
            .map_err(target::sql_error)?;
        Ok(Session { client, applied: 0 })
    }

    /// Brings the session's settings to `state`.
    pub async fn ensure(&mut self, state: &SessionState) -> Result<()> {
        if state.version != self.applied {
            if !state.settings.is_empty() {
                self.client
                    .batch_execute(&state.script())
                    .await
                    .map_err(|e| failed(&state.script(), e))?;
            }
            self.applied = state.version;
        }
        Ok(())
    }

    /// Runs one statement of the dump under `state`.
    pub async fn execute(&mut self, state: &SessionState, sql: &str) -> Result<()> {
        self.ensure(state).await?;
        self.client
            .simple_query(sql)
            .await
            .map(|_| ())
            .map_err(|e| failed(sql, e))
    }

    /// The underlying client (for the final queries).
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// What one worker is doing, for the progress display.
#[derive(Debug, Default)]
pub struct Slot {
    now: Mutex<Option<(String, Step)>>,
    rows: AtomicU64,
}

impl Slot {
    fn set(&self, now: Option<(String, Step)>) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = now;
        self.rows.store(0, Ordering::Relaxed);
    }

    /// The worker's state now (`None` when idle).
    pub fn sample(&self) -> Option<WorkerProgress> {
        let now = self.now.lock().unwrap_or_else(|p| p.into_inner()).clone();
        now.map(|(table, step)| WorkerProgress {
            table,
            step: step.to_string(),
            rows: self.rows.load(Ordering::Relaxed),
        })
    }
}

/// Runs `task` on `session`; `sent` counts COPY bytes handed to the server (all workers).
pub async fn run(
    session: &mut Session,
    task: &Task,
    slot: &Slot,
    spools: &SpoolDir,
    sent: &AtomicU64,
) -> Result<()> {
    slot.set(Some((task.table.clone(), task.step())));
    let r = match &task.job {
        Job::Copy { sql, spool } => {
            session.ensure(&task.state).await?;
            let mut counted = 0;
            let mut to = Sent {
                slot,
                spools,
                sent,
                counted: &mut counted,
                released: false,
            };
            load_table(session, &task.table, sql, spool, &mut to).await
        }
        Job::Sql { sql, .. } => session.execute(&task.state, sql).await,
        Job::Analyze => {
            let sql = format!("ANALYZE {};", task.table);
            session.execute(&task.state, &sql).await
        }
    };
    slot.set(None);
    r
}

/// Where a COPY reports what it sent: the worker's row count, the spool's pending bytes
/// and the load's total. `counted` is how far into the spool file has been counted, so a
/// COPY run again after a deadlock does not count the same bytes twice.
struct Sent<'a> {
    slot: &'a Slot,
    spools: &'a SpoolDir,
    sent: &'a AtomicU64,
    counted: &'a mut u64,
    /// Set once sent rows were released from the spool file: it cannot be sent again.
    released: bool,
}

/// Loads one table's spooled rows: frozen in a transaction of its own when it is a plain
/// empty table of at least [`freeze::MIN_BYTES`] ([`freeze`]), as before otherwise. A frozen
/// load that the server ends for a deadlock (its TRUNCATE holds the table's lock to the end,
/// and a check function reading another table being loaded can wait on that) is rolled back
/// and run again unfrozen, unless its first rows were already released from the spool (a
/// deadlock that late fails the load, which leaves the live database as it was).
async fn load_table(
    session: &mut Session,
    table: &str,
    sql: &str,
    spool: &Spool,
    to: &mut Sent<'_>,
) -> Result<()> {
    let frozen = match freeze::with_freeze(sql) {
        Some(frozen) if worth_freezing(spool).await => Some(frozen),
        _ => None,
    };
    if let Some(frozen) = frozen {
        if freeze::begin(&session.client, table).await {
            match copy(session, &frozen, spool, to).await {
                Ok(()) => {
                    return session
                        .client
                        .batch_execute("COMMIT")
                        .await
                        .map_err(|e| failed(&frozen, e))
                }
                Err(CopyFailure::Server(e))
                    if e.code()
                        == Some(&tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED)
                        && !to.released =>
                {
                    freeze::rollback(&session.client).await;
                }
                Err(e) => return Err(e.into_error(&frozen)),
            }
        }
    }
    copy(session, sql, spool, to)
        .await
        .map_err(|e| e.into_error(sql))
}

/// Whether a table's rows are worth a frozen load: they are at least
/// [`freeze::MIN_BYTES`] (waits until the spool holds that much or is complete, which the
/// stream reaches in a moment). A smaller table costs more to truncate and commit (the
/// commit of a truncation waits for its WAL flush) than freezing saves.
async fn worth_freezing(spool: &Spool) -> bool {
    loop {
        let done = spool.done.load(Ordering::Acquire);
        if spool.written.load(Ordering::Acquire) >= freeze::MIN_BYTES {
            return true;
        }
        if done {
            return false;
        }
        spool.wait_for_more().await;
    }
}

/// Why a COPY failed.
enum CopyFailure {
    /// The server refused it or the connection broke.
    Server(tokio_postgres::Error),
    /// The spool file could not be read.
    Spool(Error),
}

impl CopyFailure {
    fn into_error(self, sql: &str) -> Error {
        match self {
            CopyFailure::Server(e) => failed(sql, e),
            CopyFailure::Spool(e) => e,
        }
    }
}

/// Streams the spool into `COPY … FROM stdin`, following the file while it is written.
async fn copy(
    session: &mut Session,
    sql: &str,
    spool: &Spool,
    to: &mut Sent<'_>,
) -> std::result::Result<(), CopyFailure> {
    let sink = session
        .client
        .copy_in::<_, Cursor<Vec<u8>>>(sql)
        .await
        .map_err(CopyFailure::Server)?;
    futures_util::pin_mut!(sink);
    let spool_error =
        |e| CopyFailure::Spool(Error::io("reading the load's spool file", e, spool.path()));
    // Opened for writing too: rows already sent are released from the disk as it goes.
    let mut file = tokio::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(spool.path())
        .await
        .map_err(spool_error)?;
    // None once the file system refused to punch a hole (then rows stay until the end).
    let mut released = Some(0u64);
    let mut offset = 0u64;
    let mut rows = 0u64;
    loop {
        let done = spool.done.load(Ordering::Acquire);
        let written = spool.written.load(Ordering::Acquire);
        if offset >= written {
            if done {
                break;
            }
            spool.wait_for_more().await;
            continue;
        }
        let n = ((written - offset) as usize).min(COPY_CHUNK);
        let mut buf = vec![0u8; n];
        file.read_exact(&mut buf).await.map_err(spool_error)?;
        offset += n as u64;
        rows += memchr::memchr_iter(b'\n', &buf).count() as u64;
        to.slot.rows.store(rows, Ordering::Relaxed);
        if offset > *to.counted {
            let new = offset - *to.counted;
            *to.counted = offset;
            to.spools.pending.fetch_sub(new, Ordering::Relaxed);
            to.sent.fetch_add(new, Ordering::Relaxed);
        }
        sink.send(Cursor::new(buf))
            .await
            .map_err(CopyFailure::Server)?;
        if let Some(from) = released.filter(|from| offset - from >= RELEASE_EVERY) {
            released = release(&file, from, offset);
            to.released |= released.is_some();
        }
    }
    sink.finish().await.map_err(CopyFailure::Server)?;
    Ok(())
}

/// Sent spool bytes released from the disk at a time.
const RELEASE_EVERY: u64 = 64 << 20;

/// Frees the disk blocks of the spool's bytes `from..to` (sent to the server; the file keeps
/// its size), so a large table takes no more spool space than the rows not yet sent.
/// Returns how far the file is released, None where the file system cannot punch holes
/// (the rows are then released with the file).
fn release(file: &tokio::fs::File, from: u64, to: u64) -> Option<u64> {
    use nix::fcntl::{fallocate, FallocateFlags};
    use std::os::fd::AsRawFd;
    let to = to & !4095;
    let mode = FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE;
    let punched = fallocate(file.as_raw_fd(), mode, from as i64, (to - from) as i64);
    punched.ok().map(|_| to)
}

/// A statement of the dump failed: the server's message and where.
pub fn failed(sql: &str, e: tokio_postgres::Error) -> Error {
    let message = match e.as_db_error() {
        Some(db) => {
            let mut m = format!("ERROR:  {}", db.message());
            if let Some(h) = db.hint() {
                m.push_str(&format!(" (HINT: {h})"));
            }
            if let Some(w) = db.where_() {
                m.push_str(&format!(" (CONTEXT: {})", w.lines().next().unwrap_or(w)));
            }
            m
        }
        None => e.to_string(),
    };
    let head: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let head: String = head.chars().take(80).collect();
    Error::ToolFailed {
        tool: "load".into(),
        message: format!("the dump did not load: {message}, in `{head}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[tokio::test]
    async fn sent_rows_are_released_from_the_disk_and_the_rest_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool");
        let rows: Vec<u8> = (0..(12u32 << 20)).map(|i| b'a' + (i % 26) as u8).collect();
        std::fs::write(&path, &rows).unwrap();
        let blocks = || std::fs::metadata(&path).unwrap().blocks();
        let before = blocks();
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .unwrap();
        let released = release(&file, 0, (8 << 20) + 100);
        assert_eq!(released, Some(8 << 20), "released up to a page boundary");
        assert!(
            blocks() * 512 <= before * 512 - (8 << 20),
            "{} -> {}",
            before,
            blocks()
        );
        let kept = std::fs::read(&path).unwrap();
        assert_eq!(kept.len(), rows.len(), "the file keeps its size");
        assert_eq!(kept[8 << 20..], rows[8 << 20..], "unsent rows are intact");
    }
}
