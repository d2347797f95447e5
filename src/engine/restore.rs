//! Safe restore: checks, safety backup, load into a scratch database, swap.
//!
//! Order: the checks that a restore bound to fail would fail (privileges, tablespaces: see
//! [`globals_apply::precheck`]); the `pre-restore` safety backup, with the whole file checked beside it (a damaged
//! file cancels it); then the dump is loaded into a fresh scratch database, checked again as
//! it streams (psql commits only when every check passed) and ANALYZEd, so the planner has
//! statistics when the application comes back; only a complete load is swapped in, in one
//! transaction (see [`crate::engine::swap`]). The database's properties and the roles it
//! needs come from the backup's globals (missing roles are created first); a backup made
//! before pgkeep captured globals takes the live database's properties. Any failure drops the scratch
//! database and leaves the live one as it was; a scratch database left by a killed run is
//! dropped by the next restore, verify or cleanup.

use std::path::{Path, PathBuf};

use chrono::Utc;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use crate::engine::backup::{self, BackupOptions};
use crate::engine::catalog::{BackupEntry, BackupStatus};
use crate::engine::dbprops::DbProps;
use crate::engine::globals::Globals;
use crate::engine::lock::DbLock;
use crate::engine::progress::{JobEvent, Phase, Progress, Sink};
use crate::engine::{fsutil, globals_apply, globals_file, loader, precheck, scratch, swap};
use crate::error::{Error, Result};
use crate::target::Target;

/// How to restore.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Restore into this new database instead of replacing the target's database.
    pub into: Option<String>,
    /// Take a `pre-restore` backup of the live database first.
    pub safety_backup: bool,
    /// gzip level for the safety backup.
    pub compression_level: u32,
    /// Set roles that exist already to the backup's attributes and passwords (otherwise only
    /// missing roles are created).
    pub update_roles: bool,
    /// Put what the backup placed in tablespaces this server lacks into the default
    /// tablespace instead.
    pub tablespace_default: bool,
    /// How to load: parallel (worker connections, `None` = automatic) or serial (`Some(1)`).
    pub jobs: Option<usize>,
    /// How long the safety backup may wait for a table lock before it fails, naming the
    /// session holding it (`lock_wait_timeout`); None waits as long as it takes.
    pub lock_wait_timeout: Option<std::time::Duration>,
    /// Who besides this user may write into the backup directory (the safety backup's too).
    pub dir_policy: fsutil::DirPolicy,
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct RestoreOutcome {
    /// The database that now holds the backup's content.
    pub database: String,
    /// The name the replaced database was renamed to (`<db>_pre_restore_<timestamp>`).
    pub previous: Option<String>,
    /// The safety backup taken before, if any.
    pub safety_backup: Option<PathBuf>,
    /// Roles created (or updated) from the backup's globals.
    pub roles: globals_apply::RolesApplied,
}

/// The label of safety backups.
pub const SAFETY_LABEL: &str = crate::engine::catalog::SAFETY_LABEL;

/// Restores `backup` into the target's database (or `opts.into`), never losing the live one.
pub async fn restore(
    target: &dyn Target,
    dir: &Path,
    backup: &BackupEntry,
    opts: &RestoreOptions,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<RestoreOutcome> {
    let live = target.database().to_string();
    let dest = opts.into.clone().unwrap_or_else(|| live.clone());
    sink.phase(Phase::Check);
    if backup.status == BackupStatus::Interrupted {
        return Err(Error::Refused(format!(
            "{} is an interrupted backup (.partial) and cannot be restored: choose a finished one from `pgkeep list`",
            backup.name
        )));
    }
    crate::engine::catalog::refuse_damaged(backup, "restore")?;
    let admin = scratch::admin_connect_avoiding(target, &live).await?;
    let (dropped, failed) = scratch::drop_abandoned(target, &admin).await?;
    if let Some(line) = scratch::dropped_line(&dropped) {
        sink.log(line);
    }
    failed.into_iter().for_each(|l| sink.log(l));
    let live_props = DbProps::read(&admin, &live).await?;
    let globals = backup_globals(backup, sink);
    // A blank server: the backup knows the database's properties, so it is created as it was
    // (as with `--into` its own name); nothing exists that could be lost.
    let creating;
    let opts = if opts.into.is_none() && live_props.is_none() && globals.is_some() {
        sink.log(format!(
            "database \"{live}\" does not exist on the server: creating it from the backup"
        ));
        creating = RestoreOptions {
            into: Some(live.clone()),
            ..opts.clone()
        };
        &creating
    } else {
        opts
    };
    if opts.into.is_some() {
        if DbProps::read(&admin, &dest).await?.is_some() {
            return Err(Error::Refused(format!(
                "database \"{dest}\" already exists: --into only creates a new database; choose another name"
            )));
        }
    } else if live_props.is_none() {
        return Err(Error::Refused(format!(
            "database \"{live}\" does not exist on the server and this backup predates pgkeep's globals (roles, properties): use `--into {live}` to create it from the backup"
        )));
    }
    let replace = opts.into.is_none().then_some(live.as_str());
    globals_apply::precheck(&admin, replace, globals.as_ref(), opts.tablespace_default).await?;
    // The backup's properties; a backup without globals takes the live database's.
    let mut props = match &globals {
        Some(g) => Some(g.props.clone()),
        None => live_props.clone(),
    };
    if opts.tablespace_default {
        sink.log("--tablespace-default: everything goes into the default tablespace".to_string());
        if let Some(p) = props.as_mut() {
            p.tablespace = None;
        }
    }
    fsutil::ensure_backup_dir(dir, opts.dir_policy)?;
    let _lock = restore_lock(dir, &dest)?;
    if let Some(line) =
        crate::engine::leftovers::removed_line(&crate::engine::leftovers::remove_stale(dir))
    {
        sink.log(line);
    }
    let mut safety = None;
    if opts.safety_backup && opts.into.is_none() {
        safety = Some(check_beside_safety_backup(target, dir, backup, opts, sink, cancel).await?);
    }
    // Without a safety backup there is no separate pass: the load below checks the same
    // stream (checksum, gzip, trailer) and psql commits nothing unless every check passed; a
    // damaged file only ever reaches the scratch database, which is then dropped.

    sink.phase(Phase::Load);
    sink.emit(JobEvent::Progress(Progress {
        bytes_total: Some(backup.size),
        ..Default::default()
    }));
    let mut roles = globals_apply::RolesApplied::default();
    if let Some(g) = &globals {
        roles = globals_apply::apply_roles(&admin, g, opts.update_roles).await?;
        roles.lines().into_iter().for_each(|l| sink.log(l));
    }
    let scratch_db = scratch::scratch_name(&dest);
    scratch::create(&admin, &scratch_db, props.as_ref()).await?;
    let swapped = load_and_swap(
        target,
        &admin,
        backup,
        opts,
        &scratch_db,
        props
            .as_ref()
            .filter(|_| live_props.is_some() || opts.into.is_some()),
        sink,
        cancel,
    )
    .await;
    match swapped {
        Ok(previous) => Ok(RestoreOutcome {
            database: dest,
            previous,
            safety_backup: safety,
            roles,
        }),
        Err(e) => {
            if let Err(d) = scratch::drop_in(target, &admin, &scratch_db).await {
                sink.log(format!(
                    "could not drop scratch database {scratch_db} ({d}); `pgkeep cleanup` will"
                ));
            }
            Err(e)
        }
    }
}

/// Loads into `scratch_db`, then swaps it in (or renames it to `--into`). Returns the name
/// the replaced database got.
#[allow(clippy::too_many_arguments)]
async fn load_and_swap(
    target: &dyn Target,
    admin: &Client,
    backup: &BackupEntry,
    opts: &RestoreOptions,
    scratch_db: &str,
    live_props: Option<&DbProps>,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<Option<String>> {
    let app_name = format!("pgkeep-restore-{}", std::process::id());
    let into = loader::Scratch {
        admin,
        name: scratch_db,
        like: live_props,
    };
    let load_opts = loader::LoadOptions {
        jobs: opts.jobs,
        skip_analyze: false,
        tablespace_default: opts.tablespace_default,
    };
    let loaded = loader::load(target, &into, backup, load_opts, &app_name, sink, cancel).await?;
    if cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }
    if !loaded.analyzed {
        analyze(target, scratch_db, sink, cancel).await?;
    }
    sink.phase(Phase::Swap);
    match (&opts.into, live_props) {
        (Some(into), props) => {
            swap::rename_into(admin, scratch_db, into, props).await?;
            Ok(None)
        }
        (None, Some(props)) => {
            let live = target.database();
            let previous = scratch::free_pre_restore_name(admin, live, Utc::now()).await?;
            swap::swap(admin, live, scratch_db, &previous, props, sink).await?;
            sink.log(format!("{live} restored; the replaced database is kept as {previous} until `pgkeep cleanup`"));
            Ok(Some(previous))
        }
        (None, None) => Err(Error::Refused(format!(
            "database \"{}\" disappeared during the restore",
            target.database()
        ))),
    }
}

/// The backup's globals; None (with a log line saying what that means) when it has none or
/// its globals file cannot be used.
fn backup_globals(backup: &BackupEntry, sink: &Sink) -> Option<Globals> {
    match globals_file::read(backup) {
        Ok(Some(g)) => Some(g),
        Ok(None) => {
            sink.log(
                "this backup holds no roles or database properties (it predates them): the live database's properties are kept".to_string(),
            );
            None
        }
        Err(e) => {
            sink.log(format!(
                "{e}: roles are not created and the live database's properties are kept"
            ));
            None
        }
    }
}

/// ANALYZE of the loaded scratch database, so the planner has statistics when the
/// application comes back (a plain dump holds none). Its own phase, part of the restore's
/// time. A loader that already analysed every table can skip this step.
pub async fn analyze(
    target: &dyn Target,
    database: &str,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<()> {
    sink.phase(Phase::Analyze);
    let client = crate::target::connect(target, database).await?;
    let token = client.cancel_token();
    tokio::select! {
        r = client.batch_execute("ANALYZE") => r.map_err(crate::target::sql_error),
        _ = cancel.cancelled() => {
            let _ = token.cancel_query(tokio_postgres::NoTls).await;
            Err(Error::Cancelled)
        }
    }
}

/// Checks the whole file while the `pre-restore` safety backup runs beside it, so the check
/// costs no time. A damaged file cancels the safety backup (which then leaves nothing) and is
/// the error reported; nothing is loaded before both have finished. Returns the safety
/// backup's path.
async fn check_beside_safety_backup(
    target: &dyn Target,
    dir: &Path,
    backup: &BackupEntry,
    opts: &RestoreOptions,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<PathBuf> {
    sink.phase(Phase::SafetyBackup);
    let both = cancel.child_token();
    let check = async {
        let r = precheck::check(backup, &logs_only(sink), &both).await;
        if r.is_err() {
            both.cancel();
        }
        r
    };
    let b = BackupOptions {
        label: Some(SAFETY_LABEL.into()),
        compression_level: opts.compression_level,
        lock_wait_timeout: opts.lock_wait_timeout,
        dir_policy: opts.dir_policy,
    };
    let backup_sink = without_phases(sink);
    let take = backup::backup(target, dir, &b, &backup_sink, &both);
    let (checked, taken) = tokio::join!(check, take);
    let raw = checked?;
    sink.log(format!(
        "{}: gzip stream, checksum and trailer ok ({} of SQL)",
        backup.name,
        crate::format::size(raw)
    ));
    let out = taken?;
    sink.log(format!("safety backup {}", out.path.display()));
    Ok(out.path)
}

/// A sink that passes on only log lines (for the file check running beside the safety
/// backup, whose progress is the one shown).
fn logs_only(sink: &Sink) -> Sink {
    let outer = sink.clone();
    Sink::new(move |e| {
        if matches!(e, JobEvent::Log(_)) {
            outer.emit(e)
        }
    })
}

/// One restore of `database` at a time (a lock file apart from the backup's, which the
/// safety backup takes).
fn restore_lock(dir: &Path, database: &str) -> Result<DbLock> {
    DbLock::acquire(dir, &format!("{database}.restore")).map_err(|e| match e {
        Error::Locked { pid, .. } => Error::Refused(format!(
            "another restore of \"{database}\" is running (pid {pid}); wait for it to finish"
        )),
        e => e,
    })
}

/// A sink that passes on everything but phase changes (for the nested safety backup, whose
/// phases are part of the restore's SafetyBackup phase).
fn without_phases(sink: &Sink) -> Sink {
    let outer = sink.clone();
    Sink::new(move |e| {
        if !matches!(e, JobEvent::Phase(_)) {
            outer.emit(e)
        }
    })
}
