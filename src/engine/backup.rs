//! The backup engine: pg_dump (plain SQL, whole database, large objects included) streams
//! into an in-process gzip encoder on its own thread, into `<name>.sql.gz.partial`; only a
//! dump that pg_dump finished with exit 0 *and* whose stream ends with the completion
//! trailer is fsynced, described by a manifest and renamed to `<name>.sql.gz`.
//! Anything else removes the partial file; a SIGKILL leaves a `.partial` that `list` shows as
//! interrupted and the next successful backup removes.

use std::io::{BufWriter, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use crate::engine::catalog::{self, BACKUP_SUFFIX, PARTIAL_SUFFIX};
use crate::engine::dumpscan::DumpScanner;
use crate::engine::fsutil;
use crate::engine::lock::DbLock;
use crate::engine::manifest::{Manifest, TableEntry, FORMAT_VERSION};
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

/// Size of the reads from pg_dump's pipe.
const CHUNK: usize = 256 * 1024;
/// Pipe buffer requested for pg_dump's stdout (Linux F_SETPIPE_SZ).
const PIPE_SIZE: i32 = 1024 * 1024;
/// How often progress is sampled.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Server facts gathered before the dump starts.
struct ServerFacts {
    version: String,
    major: u32,
    db_size: Option<u64>,
    tables: Vec<(String, i64, u64)>,
}

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
    if tool_major < facts.major {
        return Err(Error::ToolTooOld {
            tool_version,
            server_version: facts.version.clone(),
            server_major: facts.major,
        });
    }
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
    let file = fsutil::create_private(&partial_path)
        .ctx(|| format!("creating {}", partial_path.display()), &partial_path)?;

    sink.phase(Phase::Dump);
    let started = Instant::now();
    let app_name = format!("pgkeep-backup-{}-{}", std::process::id(), started_at.timestamp_millis());
    let result = dump_into(target, &client, file, &facts, &app_name, opts, sink, cancel, started).await;
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
        std::fs::rename(&partial_path, &final_path)
            .ctx(|| format!("renaming {}", partial_path.display()), &final_path)?;
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

/// Counters shared between the writer thread and the progress sampler.
#[derive(Default)]
struct Shared {
    raw: AtomicU64,
    written: AtomicU64,
    rows_finished: AtomicU64,
    table: Mutex<Option<String>>,
    stop: AtomicBool,
}

#[allow(clippy::too_many_arguments)]
async fn dump_into(
    target: &dyn Target,
    client: &Client,
    file: std::fs::File,
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
    let mut child = cmd.spawn().map_err(|e| pgtools::spawn_error(PgTool::PgDump, e))?;
    let stderr = pgtools::collect_stderr(child.stderr.take().expect("piped stderr"));
    let stdout = child.stdout.take().expect("piped stdout").into_owned_fd().map_err(|e| Error::Io {
        context: "taking pg_dump's output".into(),
        source: e,
    })?;
    let _ = nix::fcntl::fcntl(stdout.as_raw_fd(), nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));

    let shared = Arc::new(Shared::default());
    let level = opts.compression_level;
    let writer_shared = shared.clone();
    let writer = tokio::task::spawn_blocking(move || {
        compress_stream(std::fs::File::from(stdout), file, level, &writer_shared)
    });

    let rows_total: u64 = facts.tables.iter().map(|t| progress_estimate(t.1, t.2)).sum();
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
    let status = status.map_err(|e| Error::ToolFailed {
        tool: "pg_dump".into(),
        message: e.to_string(),
    })?;
    let written = writer.await.map_err(|e| Error::Other(format!("compression thread failed: {e}")))?;
    let err_text = stderr.await.unwrap_or_default();
    if !status.success() {
        return Err(Error::ToolFailed {
            tool: "pg_dump".into(),
            message: format!(
                "{} ({status}); no backup was written",
                non_empty(pgtools::last_lines(&err_text, 2), "no error output")
            ),
        });
    }
    let (scanner, compressed_bytes, sha256) = written?;
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

/// Reads pg_dump's output, scans and compresses it into `file`, fsyncs. Runs on a blocking
/// thread. Returns the scanner, the compressed size and the file's sha256.
fn compress_stream(
    mut input: std::fs::File,
    file: std::fs::File,
    level: u32,
    shared: &Shared,
) -> Result<(DumpScanner, u64, String)> {
    let out = HashingWriter::new(file, shared);
    let mut gz = GzEncoder::new(BufWriter::with_capacity(1 << 20, out), flate2::Compression::new(level));
    let mut scanner = DumpScanner::new();
    let mut buf = vec![0u8; CHUNK];
    let here = Path::new(".");
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("reading pg_dump's output", e, here)),
        };
        let before = scanner.tables.len();
        scanner.feed(&buf[..n]);
        gz.write_all(&buf[..n]).map_err(|e| Error::io("writing the backup", e, here))?;
        shared.raw.store(scanner.bytes, Ordering::Relaxed);
        if scanner.tables.len() != before || scanner.current_table().is_none() {
            let done: u64 = match scanner.current_table() {
                Some(_) => scanner.tables[..scanner.tables.len() - 1].iter().map(|t| t.1).sum(),
                None => scanner.rows(),
            };
            shared.rows_finished.store(done, Ordering::Relaxed);
            *shared.table.lock().unwrap() = scanner.current_table().map(str::to_string);
        }
    }
    let buffered = gz.finish().map_err(|e| Error::io("finishing the gzip stream", e, here))?;
    let out = buffered
        .into_inner()
        .map_err(|e| Error::io("writing the backup", e.into_error(), here))?;
    let (file, hasher, count) = out.into_parts();
    file.sync_all().map_err(|e| Error::io("syncing the backup file", e, here))?;
    Ok((scanner, count, hex::encode(hasher.finalize())))
}

/// A writer that hashes and counts what passes through it.
struct HashingWriter<'a> {
    inner: std::fs::File,
    hasher: Sha256,
    count: u64,
    shared: &'a Shared,
}

impl<'a> HashingWriter<'a> {
    fn new(inner: std::fs::File, shared: &'a Shared) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
            shared,
        }
    }

    fn into_parts(self) -> (std::fs::File, Sha256, u64) {
        (self.inner, self.hasher, self.count)
    }
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        self.shared.written.store(self.count, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// One progress sample: the current table and its rows from `pg_stat_progress_copy` of the
/// pg_dump backend (found by its application_name); bytes from the stream.
async fn sample_progress(
    client: &Client,
    app_name: &str,
    shared: &Shared,
    rows_total: u64,
    started: Instant,
) -> Progress {
    let row = client
        .query_opt(
            "SELECT p.relid::regclass::text, p.tuples_processed
               FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid)
              WHERE a.application_name = $1 LIMIT 1",
            &[&app_name],
        )
        .await
        .ok()
        .flatten();
    let finished = shared.rows_finished.load(Ordering::Relaxed);
    let (table, rows_done) = match row {
        Some(r) => {
            let t: Option<String> = r.get(0);
            let n: i64 = r.get(1);
            (t, finished + n.max(0) as u64)
        }
        None => (shared.table.lock().unwrap().clone(), finished),
    };
    Progress {
        bytes_done: shared.raw.load(Ordering::Relaxed),
        bytes_written: shared.written.load(Ordering::Relaxed),
        bytes_total: None,
        table,
        rows_done,
        rows_total,
        elapsed: started.elapsed(),
    }
}

/// Rows a table contributes to the progress total: reltuples, or for a never-analysed
/// table (-1) a guess from its size at 100 bytes a row.
fn progress_estimate(reltuples: i64, bytes: u64) -> u64 {
    if reltuples >= 0 {
        reltuples as u64
    } else {
        bytes / 100
    }
}

async fn server_facts(client: &Client) -> Result<ServerFacts> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int,
                    pg_database_size(current_database())",
            &[],
        )
        .await
        .map_err(target::sql_error)?;
    let num: i32 = row.get(1);
    let size: i64 = row.get(2);
    let tables = client
        .query(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.reltuples::bigint,
                    pg_table_size(c.oid)
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
              ORDER BY 1",
            &[],
        )
        .await
        .map_err(target::sql_error)?
        .into_iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1), r.get::<_, i64>(2).max(0) as u64))
        .collect();
    Ok(ServerFacts {
        version: row.get(0),
        major: (num / 10000) as u32,
        db_size: Some(size.max(0) as u64),
        tables,
    })
}

/// Manifest table entries: every table the server listed (with its estimate) and every table
/// the dump contained (with its counted rows).
fn table_entries(estimates: &[(String, i64, u64)], counted: &[(String, u64)]) -> Vec<TableEntry> {
    let mut out: Vec<TableEntry> = counted
        .iter()
        .map(|(name, rows)| TableEntry {
            name: name.clone(),
            estimated_rows: estimates.iter().find(|e| &e.0 == name).map_or(-1, |e| e.1),
            rows: Some(*rows),
        })
        .collect();
    for (name, est, _) in estimates {
        if !out.iter().any(|t| &t.name == name) {
            out.push(TableEntry {
                name: name.clone(),
                estimated_rows: *est,
                rows: None,
            });
        }
    }
    out
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
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let ours = |name: &str| catalog::parse_name(name).is_some_and(|(db, _)| db == database);
    for ent in rd.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        if name.ends_with(PARTIAL_SUFFIX) && ours(&name) {
            if std::fs::remove_file(ent.path()).is_ok() {
                sink.log(format!("removed interrupted backup {name}"));
            }
        } else if let Some(base) = name.strip_suffix(".json") {
            let orphan = base.ends_with(BACKUP_SUFFIX) && base != keep && ours(base) && !dir.join(base).exists();
            if orphan {
                let _ = std::fs::remove_file(ent.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_merge_counts_and_estimates() {
        let est = vec![("public.a".to_string(), 10, 0), ("public.b".to_string(), -1, 0)];
        let counted = vec![("public.a".to_string(), 12)];
        let e = table_entries(&est, &counted);
        assert_eq!(e[0].rows, Some(12));
        assert_eq!(e[0].estimated_rows, 10);
        assert_eq!(e[1].name, "public.b");
        assert_eq!(e[1].rows, None);
    }

    #[test]
    fn estimate_falls_back_to_size() {
        assert_eq!(progress_estimate(-1, 10_000), 100);
        assert_eq!(progress_estimate(5, 10_000), 5);
    }
}
