//! `pgkeep restore`: restore a backup into the live database, safely (checks, safety backup,
//! scratch load, then swap). Asks for the database's name typed back unless `--yes`.

use std::io::{BufRead, IsTerminal, Write};

use chrono::Utc;
use clap::Args;
use color_eyre::eyre::{bail, Result};

use super::{list::age, progress_bar, show_progress, Context};
use crate::engine::catalog::{self, BackupEntry};
use crate::engine::progress::{JobEvent, JobKind};
use crate::engine::restore::{self, RestoreOptions};
use crate::target::{self, Target};

/// Arguments of `pgkeep restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup: a name from `pgkeep list`, a path, or `latest` (the newest finished backup
    /// of the database that is not a `pre-restore` safety backup)
    #[arg(
        value_name = "BACKUP|latest",
        required_unless_present = "time",
        conflicts_with = "time"
    )]
    pub backup: Option<String>,
    /// Restore the database as it was at this moment ("YYYY-MM-DD HH:MM:SS", local time unless
    /// a zone such as +01:00, UTC or Europe/Amsterdam follows), or `latest`: recovered from the
    /// newest base backup before it plus the WAL archive
    #[arg(long, value_name = "TIME|latest")]
    pub time: Option<String>,
    /// Do not ask for confirmation (needed when not on a terminal)
    #[arg(long, short)]
    pub yes: bool,
    /// Restore into this new database instead; nothing is replaced (refused if it exists)
    #[arg(long, value_name = "DB")]
    pub into: Option<String>,
    /// Skip the `pre-restore` backup of the current database (the replaced database is still kept)
    #[arg(long)]
    pub no_safety_backup: bool,
    /// Also set roles that exist already to the backup's attributes, passwords and
    /// memberships (by default only missing roles are created)
    #[arg(long)]
    pub update_roles: bool,
    /// Put what the backup placed in tablespaces into the default tablespace (for a server
    /// that lacks them)
    #[arg(long)]
    pub tablespace_default: bool,
    /// Restore a backup whose manifest is damaged, without a checksum check (written in the job log)
    #[arg(long)]
    pub accept_unchecked: bool,
    /// Worker connections of the load: 1 loads serially with psql; default: one per core,
    /// within the server's free connections
    #[arg(long, short = 'j', value_name = "N", env = "PGKEEP_JOBS", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,
    /// Print one JSON object with the result
    #[arg(long)]
    pub json: bool,
    /// No progress bar, even on a terminal
    #[arg(long, short)]
    pub quiet: bool,
    /// age identity to decrypt a backup that is only offsite, encrypted (fetched first)
    #[arg(long, env = "PGKEEP_AGE_IDENTITY", value_name = "FILE")]
    pub identity: Option<std::path::PathBuf>,
}

/// Runs `pgkeep restore`.
pub async fn run(ctx: &Context, args: RestoreArgs) -> Result<i32> {
    if let Some(time) = &args.time {
        return super::restore_time::run(ctx, &args, time).await;
    }
    let target = ctx.target().await?;
    let spec = args.backup.clone().unwrap_or_default();
    let mut entry = match resolve(&ctx.config.backup_dir, &spec, target.database()) {
        Err(crate::Error::NoSuchBackup(_))
            if spec != "latest" && !ctx.config.offsite.is_empty() =>
        {
            super::offsite::fetch_for_restore(ctx, &spec, args.identity.as_deref()).await?
        }
        other => other?,
    };
    let accepted = if args.accept_unchecked {
        catalog::accept_unchecked(&mut entry)
    } else {
        None
    };
    let dest = args
        .into
        .clone()
        .unwrap_or_else(|| target.database().to_string());
    if !args.yes {
        confirm(target.as_ref(), &entry, &args, &dest).await?;
    }
    let what = format!("restore of {} into {dest}", entry.name);
    let sink = progress_bar::stderr_sink(
        JobKind::Restore,
        &what,
        show_progress(args.quiet || args.json),
    );
    if let Some(line) = accepted {
        if !show_progress(args.quiet || args.json) {
            eprintln!("pgkeep: warning: {line}");
        }
        sink.log(line);
    }
    let cancel = progress_bar::cancel_on_signals();
    let opts = RestoreOptions {
        into: args.into.clone(),
        safety_backup: !args.no_safety_backup,
        compression_level: ctx.config.compression_level,
        update_roles: args.update_roles,
        tablespace_default: args.tablespace_default,
        jobs: args.jobs.map(usize::from),
        lock_wait_timeout: ctx.config.lock_wait(),
        dir_policy: crate::engine::fsutil::DirPolicy::Private,
    };
    match restore::restore(
        target.as_ref(),
        &ctx.config.backup_dir,
        &entry,
        &opts,
        &sink,
        &cancel,
    )
    .await
    {
        Ok(out) => {
            sink.emit(JobEvent::Finished(format!("{} restored", out.database)));
            if args.json {
                let v = serde_json::json!({
                    "backup": entry.path,
                    "database": out.database,
                    "previous": out.previous,
                    "safety_backup": out.safety_backup,
                    "roles_created": out.roles.created,
                    "roles_updated": out.roles.updated,
                    "memberships_granted": out.roles.granted,
                });
                println!("{}", serde_json::to_string(&v)?);
            } else {
                println!("restored {} into {}", entry.name, out.database);
                for line in out.roles.lines() {
                    println!("{line}");
                }
                print_kept(&out);
            }
            Ok(0)
        }
        Err(e) => failed(&sink, e),
    }
}

/// Finds the backup (`latest` by the catalog's rule: never a `pre-restore` safety backup,
/// never a silent fall-back past a damaged newest one).
/// The lines after a finished restore: where the safety backup is and what the replaced
/// database is now called.
pub(super) fn print_kept(out: &restore::RestoreOutcome) {
    if let Some(p) = &out.safety_backup {
        println!("safety backup: {}", p.display());
    }
    if let Some(prev) = &out.previous {
        println!("the replaced database is kept as {prev}; drop it with `pgkeep cleanup`");
    }
}

/// A failed restore: reported to the job, then one line saying the live database is as it was.
pub(super) fn failed(sink: &crate::engine::progress::Sink, e: crate::Error) -> Result<i32> {
    sink.emit(JobEvent::Failed(e.to_string()));
    match e {
        crate::Error::Cancelled => Err(e.into()),
        e => bail!("{e} (the live database was not changed)"),
    }
}

fn resolve(dir: &std::path::Path, spec: &str, database: &str) -> crate::Result<BackupEntry> {
    catalog::resolve(dir, spec, Some(database))
}

/// Shows what will be replaced and requires the database's name typed back; refuses when
/// there is no terminal to ask on.
async fn confirm(
    target: &dyn Target,
    entry: &BackupEntry,
    args: &RestoreArgs,
    dest: &str,
) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "not restoring without confirmation: stdin is not a terminal; run it on a terminal, or pass --yes to restore {} into {dest}",
            entry.name
        );
    }
    let local = crate::format::local_zoned(entry.time);
    let taken = format!("taken {local}, {} ago", age(Utc::now(), entry.time));
    let mut err = std::io::stderr().lock();
    if args.into.is_some() {
        writeln!(
            err,
            "This creates the new database \"{dest}\" from {} ({taken}).",
            entry.name
        )?;
    } else {
        let size = match target::connect(target, dest).await {
            Ok(c) => match c
                .query_one("SELECT pg_database_size(current_database())", &[])
                .await
            {
                Ok(r) => crate::format::size(r.get::<_, i64>(0).max(0) as u64),
                Err(_) => "unknown size".into(),
            },
            Err(crate::Error::NoSuchDatabase(_)) => bail!(
                "database \"{dest}\" does not exist on the server: use `--into {dest}` to create it from the backup"
            ),
            Err(e) => return Err(e.into()),
        };
        writeln!(
            err,
            "This REPLACES database \"{dest}\" ({size} now) with {}",
            entry.name
        )?;
        writeln!(err, "  backup {taken}, database {}", entry.database)?;
        if args.no_safety_backup {
            writeln!(err, "  no safety backup will be taken (--no-safety-backup)")?;
        } else {
            writeln!(
                err,
                "  a `pre-restore` safety backup of \"{dest}\" is taken first"
            )?;
        }
        writeln!(
            err,
            "  the current database is kept as {dest}_pre_restore_<time> until `pgkeep cleanup`"
        )?;
    }
    write!(err, "Type the database name ({dest}) to continue: ")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != dest {
        bail!("the name typed did not match \"{dest}\"; nothing was changed");
    }
    Ok(())
}
