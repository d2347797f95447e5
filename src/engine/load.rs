//! Loading a backup into a database: the file is decoded in-process on a blocking thread and
//! streamed into `psql -X -v ON_ERROR_STOP=1 --single-transaction` (without it for a dump of
//! many large objects or tables, see [`single_transaction`]; run through the target,
//! so it works inside a container too). stdin is closed only after every check on the stream
//! passed; on any failure psql is killed first. The safety net is the scratch database, not
//! the transaction: a dump with large objects commits its own `BEGIN ... COMMIT` block, so a
//! failed load may leave a partly loaded database, which the caller always drops.

use std::io::Write;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::engine::catalog::BackupEntry;
use crate::engine::pgtools;
use crate::engine::precheck::{self, Pump, StreamError, PROGRESS_EVERY};
use crate::engine::progress::{JobEvent, Sink};
use crate::engine::tablespace_filter::TablespaceDefault;
use crate::error::{Error, Result};
use crate::target::{PgTool, Target};

/// Above this many large objects a dump is loaded without `--single-transaction`: each
/// large object holds a lock until the transaction ends, and tens of thousands exhaust the
/// server's lock table ("out of shared memory"). The scratch database stays the safety net.
pub const MAX_LARGE_OBJECTS_IN_ONE_TRANSACTION: u64 = 1000;

/// Above this many tables a dump is loaded without `--single-transaction`, for the same
/// reason: each table, its TOAST table and every index hold a lock to the end, and the
/// default lock table (64 × 100 connections) fills at about 1,300 tables with two indexes
/// each. 200 leaves room for 30 relations a table.
pub const MAX_TABLES_IN_ONE_TRANSACTION: usize = 200;

/// Whether `backup` is loaded in one transaction (not when its manifest counts many large
/// objects or many tables).
pub fn single_transaction(backup: &BackupEntry) -> bool {
    backup.manifest.as_ref().is_none_or(|m| {
        m.large_objects
            .is_none_or(|n| n <= MAX_LARGE_OBJECTS_IN_ONE_TRANSACTION)
            && m.tables.len() <= MAX_TABLES_IN_ONE_TRANSACTION
    })
}

/// Session settings sent before the dump: commits do not wait for the WAL flush (a crash
/// mid-load only loses the scratch database), and index builds get memory to sort in RAM
/// (allocated only as needed; bounded so a small server is not pushed out of memory).
pub const SESSION_SETTINGS: &str =
    "SET synchronous_commit = off;\nSET maintenance_work_mem = '512MB';\n";

/// Loads `backup` into the existing (empty) database `database`; returns the SQL byte count.
/// On error the database may hold part of the dump: the caller drops it.
pub async fn load(
    target: &dyn Target,
    database: &str,
    backup: &BackupEntry,
    app_name: &str,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<u64> {
    load_with(target, database, backup, app_name, false, sink, cancel).await
}

/// [`load`], with the dump's tablespaces mapped to the database's default when
/// `tablespace_default` (`restore --tablespace-default`).
#[allow(clippy::too_many_arguments)]
pub async fn load_with(
    target: &dyn Target,
    database: &str,
    backup: &BackupEntry,
    app_name: &str,
    tablespace_default: bool,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<u64> {
    let mut cmd = target.command(PgTool::Psql, database, app_name);
    cmd.args(["-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1"])
        .args(single_transaction(backup).then_some("--single-transaction"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| pgtools::spawn_error(PgTool::Psql, e))?;
    let stderr = pgtools::collect_stderr(child.stderr.take().expect("piped stderr"));
    let stdin = child
        .stdin
        .take()
        .expect("piped stdin")
        .into_owned_fd()
        .map_err(|e| Error::Io {
            context: "opening psql's input".into(),
            source: e,
        })?;

    let pump = Arc::new(Pump::default());
    let p = pump.clone();
    let path = backup.path.clone();
    let name = backup.name.clone();
    let sha = backup.manifest.as_ref().map(|m| m.sha256.clone());
    let total = std::fs::metadata(&path)
        .map(|m| m.len())
        .unwrap_or(backup.size);
    let mut job = tokio::task::spawn_blocking(move || {
        let mut input = std::fs::File::from(stdin);
        let r = match input.write_all(SESSION_SETTINGS.as_bytes()) {
            Ok(()) if tablespace_default => {
                let mut f = TablespaceDefault::new(&mut input);
                let r = precheck::stream_checked(&path, &name, sha.as_deref(), &mut f, &p);
                match f.into_inner() {
                    Ok(_) => r,
                    Err(e) => r.and(Err(StreamError::Write(e))),
                }
            }
            Ok(()) => precheck::stream_checked(&path, &name, sha.as_deref(), &mut input, &p),
            Err(e) => Err(StreamError::Write(e)),
        };
        // psql's stdin is handed back, not closed here: closing it would let psql commit.
        (r, input)
    });

    let started = Instant::now();
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    let joined = loop {
        tokio::select! {
            r = &mut job => break r,
            _ = cancel.cancelled() => {
                pump.stop.store(true, Ordering::Relaxed);
                let _ = child.kill().await;
                let _ = job.await;
                return Err(Error::Cancelled);
            }
            _ = tick.tick() => sink.emit(JobEvent::Progress(pump.sample(total, started))),
        }
    };
    let Ok((streamed, input)) = joined else {
        let _ = child.kill().await;
        return Err(Error::Other("the loading thread failed".into()));
    };
    match streamed {
        Ok(raw) => {
            sink.emit(JobEvent::Progress(pump.sample(total, started)));
            drop(input);
            let status = tokio::select! {
                st = child.wait() => st,
                _ = cancel.cancelled() => {
                    let _ = child.kill().await;
                    return Err(Error::Cancelled);
                }
            };
            let status = status.map_err(|e| Error::ToolFailed {
                tool: "psql".into(),
                message: e.to_string(),
            })?;
            if status.success() {
                Ok(raw)
            } else {
                Err(psql_failed(
                    &stderr.await.unwrap_or_default(),
                    &status.to_string(),
                ))
            }
        }
        Err(StreamError::Write(_)) => {
            drop(input);
            let status = child
                .wait()
                .await
                .map(|s| s.to_string())
                .unwrap_or_default();
            Err(psql_failed(&stderr.await.unwrap_or_default(), &status))
        }
        Err(bad) => {
            let _ = child.kill().await;
            drop(input);
            Err(match bad {
                StreamError::Bad(e) => e,
                _ => Error::Cancelled,
            })
        }
    }
}

/// psql's error: its first `ERROR:` line (with the line number in the dump) and the server's
/// `HINT:` to it when there is one, else its last lines.
fn psql_failed(stderr: &str, status: &str) -> Error {
    let lines: Vec<&str> = stderr.lines().collect();
    let line = lines
        .iter()
        .position(|l| l.contains("ERROR:") || l.contains("FATAL:"))
        .map(|i| {
            let hint = lines[i + 1..]
                .iter()
                .take_while(|l| !l.contains("ERROR:"))
                .find_map(|l| l.trim().strip_prefix("HINT:"))
                .map(|h| format!(" (HINT: {})", h.trim()))
                .unwrap_or_default();
            format!("{}{hint}", lines[i].trim())
        })
        .unwrap_or_else(|| pgtools::last_lines(stderr, 2));
    let detail = if line.is_empty() {
        format!("psql ended with {status}")
    } else {
        line
    };
    Error::ToolFailed {
        tool: "psql".into(),
        message: format!("the dump did not load: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psql_error_line_is_picked() {
        let e = psql_failed(
            "NOTICE: x\npsql:<stdin>:12: ERROR:  syntax error at or near \"BAD\"\n",
            "exit 3",
        );
        let s = e.to_string();
        assert!(s.contains("<stdin>:12: ERROR:  syntax error"), "{s}");
        let e = psql_failed(
            "psql:<stdin>:9: ERROR:  out of shared memory\nHINT:  You might need to increase max_locks_per_transaction.\n",
            "exit 3",
        );
        assert!(
            e.to_string().contains(
                "ERROR:  out of shared memory (HINT: You might need to increase max_locks_per_transaction.)"
            ),
            "{e}"
        );
        assert!(psql_failed("", "exit status: 2")
            .to_string()
            .contains("exit status: 2"));
    }
}
