//! `pgkeep recover`: the whole cluster back into a new, empty data directory (after a lost
//! disk or volume) from the newest base backup and every archived WAL segment.

use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::{bail, Result};

use super::{progress_bar, show_progress, Context};
use crate::engine::physical::recover;
use crate::engine::progress::{JobEvent, JobKind};

/// Arguments of `pgkeep recover`.
#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// The new data directory (direct target): missing or empty (a folder holding a database
    /// is refused). The compose target recovers into the service's empty named volume instead
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The cluster to recover, when the backup dir holds base backups of several
    /// [default: the cluster of the newest base backup]
    #[arg(long, value_name = "ID")]
    pub system_identifier: Option<String>,
    /// No progress output
    #[arg(long, short)]
    pub quiet: bool,
    /// age identity to decrypt base backups and WAL fetched from an encrypted offsite copy
    #[arg(long, env = "PGKEEP_AGE_IDENTITY", value_name = "FILE")]
    pub identity: Option<PathBuf>,
}

/// Runs `pgkeep recover`.
pub async fn run(ctx: &Context, args: RecoverArgs) -> Result<i32> {
    pull_physical(ctx, args.identity.as_deref()).await?;
    if crate::target::uses_compose(&ctx.config, &crate::target::conn::process_env) {
        if args.data_dir.is_some() {
            bail!("--data-dir is for a server outside docker: the compose target recovers into the service's named volume (add --target direct to recover into a folder)");
        }
        let sink =
            progress_bar::stderr_sink(JobKind::Restore, "recover", show_progress(args.quiet));
        return match crate::engine::physical::recover_compose::recover(&ctx.config, &sink).await {
            Ok(out) => {
                sink.emit(JobEvent::Finished("cluster recovered".into()));
                println!(
                    "recovered the cluster into volume {} from {}; the service is started",
                    out.volume, out.base
                );
                if let Some(t) = &out.last_transaction {
                    println!("the server said: {t}");
                }
                Ok(0)
            }
            Err(e) => {
                sink.emit(JobEvent::Failed(e.to_string()));
                bail!("recover failed: {e}")
            }
        };
    }
    let Some(data_dir) = args.data_dir.clone() else {
        bail!("give the new data directory with --data-dir DIR (missing or empty)");
    };
    let sink = progress_bar::stderr_sink(JobKind::Restore, "recover", show_progress(args.quiet));
    let cancel = progress_bar::cancel_on_signals();
    match recover::recover_cluster(
        &ctx.config.backup_dir,
        &ctx.config.wal_dir(),
        &data_dir,
        args.system_identifier.as_deref(),
        ctx.config.pg_bin.as_deref(),
        &sink,
        &cancel,
    )
    .await
    {
        Ok(out) => {
            sink.emit(JobEvent::Finished("cluster recovered".into()));
            println!(
                "recovered cluster {} into {} from {}",
                out.system_identifier,
                out.data_dir.display(),
                out.base
            );
            if let Some(t) = &out.last_transaction {
                println!("the server said: {t}");
            }
            println!(
                "start it as usual, e.g. `pg_ctl -D {} start` as the server's user (or your service)",
                out.data_dir.display()
            );
            Ok(0)
        }
        Err(e) => {
            sink.emit(JobEvent::Failed(e.to_string()));
            bail!("recover failed: {e}")
        }
    }
}

/// Fetches base backups and WAL this host lacks from every offsite destination (nothing when
/// none is configured), so restore and recover work after the host's disk was lost;
/// `identity` decrypts encrypted copies.
pub async fn pull_physical(ctx: &Context, identity: Option<&std::path::Path>) -> Result<()> {
    if ctx.config.offsite.is_empty() {
        return Ok(());
    }
    let ids = crate::offsite::crypt::Identities::from_arg_or_env(identity)?;
    for store in crate::offsite::open_all(&ctx.config)? {
        let got = crate::offsite::physical::pull(
            &store,
            &ctx.config.backup_dir,
            &ctx.config.wal_dir(),
            ids.as_ref(),
        )
        .await?;
        if !got.bases.is_empty() || got.wal_files > 0 {
            eprintln!(
                "fetched {} base backup(s) and {} WAL file(s) from offsite {}",
                got.bases.len(),
                got.wal_files,
                store.label
            );
        }
    }
    Ok(())
}
