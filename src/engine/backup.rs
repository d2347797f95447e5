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
use crate::engine::globals::Globals;
use crate::engine::globals_file::{self, PendingGlobals};
use crate::engine::lock::DbLock;
use crate::engine::lockwait;
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
    /// How long pg_dump may wait for a table lock before the backup fails naming the
    /// blocker; None waits as long as it takes (progress says what it waits for).
    pub lock_wait_timeout: Option<Duration>,
    /// Who besides this user may write into the backup directory.
    pub dir_policy: fsutil::DirPolicy,
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
    fsutil::ensure_backup_dir(dir, opts.dir_policy)?;
    let _lock = DbLock::acquire(dir, &database)?;
    if let Some(line) =
        crate::engine::leftovers::removed_line(&crate::engine::leftovers::remove_stale(dir))
    {
        sink.log(line);
    }

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
    let warnings: Vec<String> = invalid_indexes_warning(&client)
        .await
        .into_iter()
        .chain(search_path_indexes_warning(&client).await)
        .collect();
    warnings.iter().for_each(|w| sink.log(w.clone()));
    let large_objects = client
        .query_one("SELECT count(*) FROM pg_largeobject_metadata", &[])
        .await
        .map(|r| r.get::<_, i64>(0).max(0) as u64)
        .ok();
    let globals = match Globals::capture(&client).await {
        Ok(g) => {
            if let Some(why) = &g.partial {
                sink.log(format!("globals partial: {why}"));
            }
            Ok(g)
        }
        Err(e) => {
            sink.log(format!("globals not captured: {e}"));
            Err(e.to_string())
        }
    };

    let started_at = wait_for_free_name(dir, &database).await;
    let name = catalog::backup_name(&database, started_at);
    let final_path = dir.join(&name);
    let partial_path = dir.join(format!("{name}.partial"));
    let pending = match &globals {
        Ok(g) => Some(globals_file::prepare(dir, &name, g)),
        Err(_) => None,
    };
    let file = match fsutil::create_private(&partial_path) {
        Ok(f) => f,
        Err(e) => {
            pending.iter().for_each(PendingGlobals::discard);
            return Err(Error::io(
                format!("creating {}", partial_path.display()),
                e,
                &partial_path,
            ));
        }
    };

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
            pending.iter().for_each(PendingGlobals::discard);
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
        globals: Some(match (&pending, &globals) {
            (Some(p), _) => p.entry.clone(),
            (None, Err(why)) => globals_file::failed_entry(why),
            (None, Ok(_)) => unreachable!("written when captured"),
        }),
        large_objects,
        warnings,
    };
    let commit = (|| {
        if let Some(p) = &pending {
            p.commit()?;
        }
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
        pending.iter().for_each(PendingGlobals::discard);
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
    // UTF-8 whatever the database's encoding (the load converts back): names in the dump then
    // match the catalog's as pgkeep reads them, so a LATIN1 table is counted and verified. Not
    // for SQL_ASCII, which converts nothing and may hold bytes that are not UTF-8.
    let sql_ascii = client
        .query_one(
            "SELECT current_setting('server_encoding') = 'SQL_ASCII'",
            &[],
        )
        .await
        .map(|r| r.get::<_, bool>(0))
        .unwrap_or(false);
    cmd.args(["--no-password", "--format=plain"])
        .args((!sql_ascii).then_some("--encoding=UTF8"))
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
    let mut wait_since: Option<(Instant, String)> = None;
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
                let mut sample = sample_progress(client, app_name, &shared, rows_total, started).await;
                match lockwait::waiting(client, app_name).await {
                    Some(w) => {
                        let what = w.describe();
                        let since = match &wait_since {
                            Some((t, seen)) if *seen == what => *t,
                            _ => {
                                sink.log(format!("pg_dump is waiting for {what}"));
                                wait_since = Some((Instant::now(), what.clone()));
                                Instant::now()
                            }
                        };
                        sample.table = Some(format!("waiting for {what}"));
                        if let Some(limit) = opts.lock_wait_timeout {
                            if since.elapsed() >= limit {
                                shared.stop.store(true, Ordering::Relaxed);
                                let _ = child.kill().await;
                                let _ = writer.await;
                                return Err(w.timeout_error(since.elapsed()));
                            }
                        }
                    }
                    None => wait_since = None,
                }
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
    if let Some(reason) = crate::engine::backupinfo::empty_dump_reason(facts, &scanner.tables) {
        return Err(Error::Other(format!(
            "the dump is incomplete: {reason}; no backup was written"
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

/// One line naming the INVALID indexes (a failed `CREATE INDEX CONCURRENTLY`): pg_dump leaves
/// them out, so they will be missing after a restore.
async fn invalid_indexes_warning(client: &Client) -> Option<String> {
    let rows = client
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_index i
               JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE NOT i.indisvalid ORDER BY 1",
            &[],
        )
        .await
        .ok()?;
    let names: Vec<String> = rows.iter().filter_map(|r| r.try_get(0).ok()).collect();
    (!names.is_empty()).then(|| {
        format!(
            "warning: {} INVALID index(es) will not be in the backup (pg_dump leaves them out): {}; rebuild with REINDEX INDEX CONCURRENTLY",
            names.len(),
            names.join(", ")
        )
    })
}

/// One line naming the indexes whose expression calls an SQL or PL/pgSQL function without its
/// own `SET search_path`: a restore runs with an empty search_path, so an unqualified name in
/// the function's body is not found and the index (and with it the load) fails.
async fn search_path_indexes_warning(client: &Client) -> Option<String> {
    let rows = client
        .query(
            "SELECT DISTINCT format('%I.%I', n.nspname, ic.relname) || ' (' || p.oid::regprocedure::text || ')'
               FROM pg_index i
               JOIN pg_class ic ON ic.oid = i.indexrelid
               JOIN pg_namespace n ON n.oid = ic.relnamespace
               JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
                               AND d.refclassid = 'pg_proc'::regclass
               JOIN pg_proc p ON p.oid = d.refobjid
               JOIN pg_language l ON l.oid = p.prolang
              WHERE l.lanname IN ('sql', 'plpgsql')
                AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) c WHERE c LIKE 'search\\_path=%')
              ORDER BY 1",
            &[],
        )
        .await
        .ok()?;
    let names: Vec<String> = rows.iter().filter_map(|r| r.try_get(0).ok()).collect();
    (!names.is_empty()).then(|| {
        format!(
            "warning: {} index(es) call a function that depends on the search_path, which a restore empties: {}; give the function `SET search_path = ...` or qualify the names in its body, or the restore may fail",
            names.len(),
            names.join(", ")
        )
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
        let taken = |p: PathBuf| std::fs::symlink_metadata(p).is_ok();
        if !taken(dir.join(&name)) && !taken(dir.join(format!("{name}.partial"))) {
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
        } else if let Some(base) = catalog::backup_of_globals(&name) {
            let leftover = ours(&base)
                && base != keep
                && (name.ends_with(".partial") || !dir.join(&base).exists());
            if leftover {
                let _ = std::fs::remove_file(ent.path());
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
