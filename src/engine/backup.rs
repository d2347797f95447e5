//! The backup engine: pg_dump (plain SQL, whole database, large objects included) streams
//! into an in-process gzip encoder on its own thread, into `<name>.sql.gz.partial`; only a
//! dump that pg_dump finished with exit 0 *and* whose stream ends with the completion
//! trailer is fsynced, described by a manifest and renamed to `<name>.sql.gz`.
//! Anything else removes the partial file; a SIGKILL leaves a `.partial` that `list` shows as
//! interrupted and the next successful backup removes.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use crate::engine::backupinfo::{
    progress_estimate, sample_progress, server_facts, table_entries, ServerFacts,
};
use crate::engine::catalog::{self, BACKUP_SUFFIX, PARTIAL_SUFFIX};
use crate::engine::dumpstream::{compress_stream, Shared, Written};
use crate::engine::fsutil;
use crate::engine::lock::DbLock;
use crate::engine::manifest::{Manifest, FORMAT_VERSION};
use crate::engine::pgtools;
use crate::engine::progress::{Phase, Progress, Sink};
use crate::error::{Error, IoContext, Result};
use crate::target::{self, PgTool, Target};

/// What to back up and how.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// Free-text label stored in the manifest.
    pub label: Option<String>,
    /// gzip level 0-9.
    pub compression_level: u32,
}

/// A finished backup.
#[derive(Debug, Clone)]
pub struct BackupOutcome {
    /// The `.sql.gz` file.
    pub path: PathBuf,
    /// Its manifest (also on disk beside it).
    pub manifest: Manifest,
}

/// Pipe buffer requested for pg_dump's stdout (Linux F_SETPIPE_SZ).
const PIPE_SIZE: i32 = 1024 * 1024;
/// How often progress is sampled.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Takes a complete backup of the target's database into `dir`.
///
/// Emits `Phase` / `Progress` / `Log` events; the caller reports `Started` and
/// `Finished`/`Failed`. Honours `cancel` at any point, leaving nothing complete-looking.
pub async fn backup(
    target: &dyn Target,
    dir: &Path,
    opts: &BackupOptions,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<BackupOutcome> {
    let database = target.database().to_string();
    sink.phase(Phase::Check);
    fsutil::ensure_private_dir(dir)?;
    let _lock = DbLock::acquire(dir, &database)?;

    let client = target::connect(target, &database).await?;
    let facts = server_facts(&client).await?;
    let (tool_major, tool_version) = pgtools::tool_version(target, PgTool::PgDump).await?;
    pgtools::check_tool_version(tool_major, &tool_version, facts.major, &facts.version)?;
    sink.log(format!(
        "server {} · pg_dump {} · {} tables",
        facts.version,
        tool_version,
        facts.tables.len()
    ));

    let started_at = wait_for_free_name(dir, &database).await;
    let name = catalog::backup_name(&database, started_at);
    let final_path = dir.join(&name);
    let partial_path = dir.join(format!("{name}.partial"));
    let file = fsutil::create_private(&partial_path).ctx(
        || format!("creating {}", partial_path.display()),
        &partial_path,
    )?;

    sink.phase(Phase::Dump);
    let started = Instant::now();
    let app_name = format!(
        "pgkeep-backup-{}-{}",
        std::process::id(),
        started_at.timestamp_millis()
    );
    let result = dump_into(
        target,
        &client,
        file,
        &partial_path,
        &facts,
        &app_name,
        opts,
        sink,
        cancel,
        started,
    )
    .await;
    let dumped = match result {
        Ok(d) => d,
        Err(e) => {
            let _ = std::fs::remove_file(&partial_path);
            return Err(e);
        }
    };

    sink.phase(Phase::Finish);
    let finished_at = Utc::now();
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        database: database.clone(),
        server_version: facts.version.clone(),
        pg_dump_version: tool_version,
        started_at,
        finished_at,
        duration_secs: started.elapsed().as_secs_f64(),
        raw_bytes: dumped.raw_bytes,
        compressed_bytes: dumped.compressed_bytes,
        sha256: dumped.sha256,
        compression_level: opts.compression_level,
        label: opts.label.clone(),
        pgkeep_version: env!("CARGO_PKG_VERSION").to_string(),
        target: target.kind_name().to_string(),
        database_size_bytes: facts.db_size,
        tables: table_entries(&facts.tables, &dumped.counted),
        verification: None,
    };
    let commit = (|| {
        manifest.write_for(&final_path)?;
        std::fs::rename(&partial_path, &final_path).ctx(
            || format!("renaming {}", partial_path.display()),
            &final_path,
        )?;
        fsutil::fsync_dir(dir).ctx(|| format!("syncing {}", dir.display()), dir)
    })();
    if let Err(e) = commit {
        let _ = std::fs::remove_file(&partial_path);
        let _ = std::fs::remove_file(Manifest::path_for(&final_path));
        return Err(e);
    }
    remove_leftovers(dir, &database, &name, sink);
    Ok(BackupOutcome {
        path: final_path,
        manifest,
    })
}

/// What the dump produced.
struct Dumped {
    raw_bytes: u64,
    compressed_bytes: u64,
    sha256: String,
    counted: Vec<(String, u64)>,
}

#[allow(clippy::too_many_arguments)]
async fn dump_into(
    target: &dyn Target,
    client: &Client,
    file: std::fs::File,
    partial_path: &Path,
    facts: &ServerFacts,
    app_name: &str,
    opts: &BackupOptions,
    sink: &Sink,
    cancel: &CancellationToken,
    started: Instant,
) -> Result<Dumped> {
    let mut cmd = target.command(PgTool::PgDump, target.database(), app_name);
    cmd.args(["--no-password", "--format=plain"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| pgtools::spawn_error(PgTool::PgDump, e))?;
    let stderr = pgtools::collect_stderr(child.stderr.take().expect("piped stderr"));
    let stdout = child
        .stdout
        .take()
        .expect("piped stdout")
        .into_owned_fd()
        .map_err(|e| Error::Io {
            context: "taking pg_dump's output".into(),
            source: e,
        })?;
    let _ = nix::fcntl::fcntl(
        stdout.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_SIZE),
    );

    let shared = Arc::new(Shared::default());
    let level = opts.compression_level;
    let writer_shared = shared.clone();
    let path = partial_path.to_path_buf();
    let writer = tokio::task::spawn_blocking(move || {
        compress_stream(
            std::fs::File::from(stdout),
            file,
            &path,
            level,
            &writer_shared,
        )
    });

    let rows_total: u64 = facts
        .tables
        .iter()
        .map(|t| progress_estimate(t.1, t.2))
        .sum();
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let status = loop {
        tokio::select! {
            st = child.wait() => break st,
            _ = cancel.cancelled() => {
                shared.stop.store(true, Ordering::Relaxed);
                let _ = child.kill().await;
                let _ = writer.await;
                return Err(Error::Cancelled);
            }
            _ = tick.tick() => {
                let sample = sample_progress(client, app_name, &shared, rows_total, started).await;
                sink.emit(crate::engine::progress::JobEvent::Progress(sample));
            }
        }
    };
    if cancel.is_cancelled() {
        // Ctrl-C on a terminal reaches pg_dump too, which may exit before we notice.
        let _ = writer.await;
        return Err(Error::Cancelled);
    }
    let status = status.map_err(|e| Error::ToolFailed {
        tool: "pg_dump".into(),
        message: e.to_string(),
    })?;
    let written = writer
        .await
        .map_err(|e| Error::Other(format!("the compression thread failed: {e}")))?;
    let err_text = stderr.await.unwrap_or_default();
    // A writer failure (disk full, I/O error) is the cause when both failed: pg_dump then
    // only saw its pipe close.
    let written = written?;
    if !status.success() {
        return Err(Error::ToolFailed {
            tool: "pg_dump".into(),
            message: format!(
                "{} ({status}); no backup was written",
                non_empty(pgtools::summarize_stderr(&err_text), "no error output")
            ),
        });
    }
    let Written {
        scanner,
        compressed_bytes,
        sha256,
    } = written;
    if !scanner.complete() {
        return Err(Error::Incomplete(format!(
            "pg_dump exited 0 after {} bytes; no backup was written",
            scanner.bytes
        )));
    }
    for w in err_text.lines().filter(|l| !l.trim().is_empty()) {
        sink.log(format!("pg_dump: {w}"));
    }
    let final_sample = Progress {
        bytes_done: scanner.bytes,
        bytes_written: compressed_bytes,
        bytes_total: None,
        table: None,
        rows_done: scanner.rows(),
        rows_total,
        elapsed: started.elapsed(),
        ..Default::default()
    };
    sink.emit(crate::engine::progress::JobEvent::Progress(final_sample));
    Ok(Dumped {
        raw_bytes: scanner.bytes,
        compressed_bytes,
        sha256,
        counted: scanner.tables,
    })
}

fn non_empty(s: String, default: &str) -> String {
    if s.is_empty() {
        default.to_string()
    } else {
        s
    }
}

/// The backup's start time, waiting for the next second if a backup with this second's
/// name exists (names have one-second resolution).
async fn wait_for_free_name(dir: &Path, database: &str) -> chrono::DateTime<Utc> {
    loop {
        let now = Utc::now();
        let name = catalog::backup_name(database, now);
        if !dir.join(&name).exists() && !dir.join(format!("{name}.partial")).exists() {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Removes interrupted `.partial` files and manifests without a backup for `database`
/// (we hold its lock, so none of them is being written).
fn remove_leftovers(dir: &Path, database: &str, keep: &str, sink: &Sink) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let ours = |name: &str| catalog::parse_name(name).is_some_and(|(db, _)| db == database);
    for ent in rd.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        if name.ends_with(PARTIAL_SUFFIX) && ours(&name) {
            if std::fs::remove_file(ent.path()).is_ok() {
                sink.log(format!("removed interrupted backup {name}"));
            }
        } else if let Some(base) = name.strip_suffix(".json") {
            let orphan = base.ends_with(BACKUP_SUFFIX)
                && base != keep
                && ours(base)
                && !dir.join(base).exists();
            if orphan {
                let _ = std::fs::remove_file(ent.path());
            }
        }
    }
}
