//! Loading a backup into a scratch database, behind one interface for both loaders: the
//! parallel loader ([`crate::engine::parallel`]) by default, the serial psql load
//! ([`crate::engine::load`]) with `--jobs 1`, when the server cannot be queried directly, or
//! when the dump holds something only psql can load (said in the job log; the scratch
//! database is then created afresh). Both read the file through the same checks (sha256,
//! gzip stream, completion trailer) and succeed only when all passed and every statement
//! succeeded.

use std::path::Path;

use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use crate::engine::catalog::BackupEntry;
use crate::engine::dbprops::DbProps;
use crate::engine::parallel::{self, ParallelError, Source};
use crate::engine::progress::Sink;
use crate::engine::{load, scratch};
use crate::error::Result;
use crate::target::Target;

/// Most worker connections chosen automatically.
pub const MAX_AUTO_JOBS: usize = 8;

/// How to load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Worker connections: `None` chooses from the cores and the server's free connections;
    /// `Some(1)` is the serial psql load.
    pub jobs: Option<usize>,
    /// Leave out the parallel load's ANALYZE (a test restore that is dropped afterwards).
    pub skip_analyze: bool,
    /// Map the dump's tablespaces to the database's default (`restore --tablespace-default`);
    /// only the serial load rewrites them, so this chooses it.
    pub tablespace_default: bool,
}

/// What a load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOutcome {
    /// Bytes of SQL streamed.
    pub raw_bytes: u64,
    /// Worker connections used (1: the serial psql load).
    pub jobs: usize,
    /// True when every table with data was ANALYZEd after its indexes (the parallel load
    /// does it), so a separate ANALYZE before the swap can be skipped.
    pub analyzed: bool,
}

/// The scratch database to load into, and how to create it again for a fallback.
pub struct Scratch<'a> {
    /// A session on a maintenance database.
    pub admin: &'a Client,
    /// The scratch database's name (it exists and is empty).
    pub name: &'a str,
    /// The properties it was created with.
    pub like: Option<&'a DbProps>,
}

/// Loads `backup` into `into`. On error the scratch database may hold part of the dump:
/// the caller drops it.
pub async fn load(
    target: &dyn Target,
    into: &Scratch<'_>,
    backup: &BackupEntry,
    opts: LoadOptions,
    app_name: &str,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<LoadOutcome> {
    let jobs = match opts.jobs {
        Some(n) => n.max(1),
        None => auto_jobs(into.admin).await,
    };
    if jobs > 1 && opts.tablespace_default {
        sink.log(
            "loading with psql (--tablespace-default rewrites the dump's tablespaces on the way)"
                .to_string(),
        );
    } else if jobs > 1 {
        let spool_dir = backup.path.parent().unwrap_or(Path::new("."));
        let raw = backup
            .manifest
            .as_ref()
            .map_or(backup.size * 8, |m| m.raw_bytes);
        if let Some(why) = target.sql_unavailable() {
            sink.log(format!("loading with psql (no parallel load: {why})"));
        } else if let Some(why) = parallel::reader::spool_space_short(spool_dir, raw) {
            sink.log(format!("loading with psql (no parallel load: {why})"));
        } else {
            let analyze = !opts.skip_analyze;
            let src = Source {
                backup,
                spool_dir,
                analyze,
            };
            match parallel::load(target, into.name, src, jobs, app_name, sink, cancel).await {
                Ok(done) => {
                    let analyzed = if analyze { " and tables analyzed" } else { "" };
                    sink.log(format!(
                        "loaded {} tables over {jobs} connections; indexes built{analyzed}",
                        done.tables
                    ));
                    return Ok(LoadOutcome {
                        raw_bytes: done.raw_bytes,
                        jobs,
                        analyzed: analyze,
                    });
                }
                Err(ParallelError::Failed(e)) => return Err(e),
                Err(ParallelError::Fallback(why)) => {
                    sink.log(format!(
                        "the parallel load cannot load this dump ({why}); loading it with psql instead"
                    ));
                    scratch::drop(into.admin, into.name).await?;
                    scratch::create(into.admin, into.name, into.like).await?;
                }
            }
        }
    }
    let raw_bytes = load::load_with(
        target,
        into.name,
        backup,
        app_name,
        opts.tablespace_default,
        sink,
        cancel,
    )
    .await?;
    Ok(LoadOutcome {
        raw_bytes,
        jobs: 1,
        analyzed: false,
    })
}

/// Worker connections for this machine and server: one per core plus one (pgkeep runs on
/// the database host; the extra one keeps the cores busy while a worker waits for the stream,
/// a lock or the disk: measured faster on 2 cores), at most [`MAX_AUTO_JOBS`], leaving the
/// server's connections for others (half of the free ones at most).
pub async fn auto_jobs(admin: &Client) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let free = admin
        .query_one(
            "SELECT current_setting('max_connections')::int
                    - current_setting('superuser_reserved_connections')::int
                    - (SELECT count(*)::int FROM pg_stat_activity)",
            &[],
        )
        .await
        .map(|r| r.get::<_, i32>(0).max(0) as usize)
        .unwrap_or(0);
    (cores + 1).min(MAX_AUTO_JOBS).min(free / 2).max(1)
}
