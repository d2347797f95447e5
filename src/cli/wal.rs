//! `pgkeep wal`: the archive command for the target's server, and the recoverable window.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use color_eyre::eyre::Result;

use super::Context;
use crate::engine::physical::archive_cmd;
use crate::engine::physical::cluster::ClusterFacts;
use crate::engine::physical::prune as physical_prune;
use crate::engine::physical::window::RecoveryWindow;
use crate::target::{self, Target};

/// Arguments of `pgkeep wal`.
#[derive(Debug, Args)]
pub struct WalArgs {
    /// What to do
    #[command(subcommand)]
    pub command: WalCommand,
}

/// `pgkeep wal` subcommands.
#[derive(Debug, Subcommand)]
pub enum WalCommand {
    /// Print the archive_command for the target's server (set it with ALTER SYSTEM or in the compose file)
    ArchiveCommand,
    /// The recoverable window: from which to which moment the cluster can be restored
    Window {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Delete old base backups (keeping the newest per cluster) and the WAL no kept base backup needs
    Prune {
        /// Base backups to keep per cluster
        #[arg(long, default_value_t = 2, value_name = "N")]
        keep: usize,
        /// Only show what would be deleted
        #[arg(long, short = 'n')]
        dry_run: bool,
        /// Delete without asking (needed when not on a terminal)
        #[arg(long, short)]
        yes: bool,
    },
}

/// Where the compose service sees the backup dir (the compose file mounts ./db_backups there).
pub const COMPOSE_BACKUP_MOUNT: &str = "/backups";

/// Runs `pgkeep wal`.
pub async fn run(ctx: &Context, args: WalArgs) -> Result<i32> {
    if let WalCommand::Prune { keep, dry_run, yes } = args.command {
        return prune(ctx, keep, dry_run, yes);
    }
    if let WalCommand::ArchiveCommand = args.command {
        // The compose line needs no docker: it is the same for every cluster of the service.
        if target::uses_compose(&ctx.config, &target::conn::process_env) {
            println!(
                "{}",
                archive_cmd::for_any_cluster(&Path::new(COMPOSE_BACKUP_MOUNT).join("wal"))?
            );
            return Ok(0);
        }
    }
    let target = ctx.target().await?;
    match args.command {
        WalCommand::ArchiveCommand => {
            println!("{}", archive_command(ctx, target.as_ref()).await?);
            Ok(0)
        }
        WalCommand::Window { json } => {
            let (w, _) = window(ctx, target.as_ref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&w)?);
            } else {
                println!("{}", w.summary(chrono::Utc::now()));
                if let Some(g) = &w.gap {
                    println!("gap in the archive: {g}");
                }
            }
            Ok(0)
        }
        WalCommand::Prune { .. } => Ok(0),
    }
}

fn prune(ctx: &Context, keep: usize, dry_run: bool, yes: bool) -> Result<i32> {
    use std::io::IsTerminal;
    let plan = physical_prune::plan(&ctx.config.backup_dir, &ctx.config.wal_dir(), keep)?;
    let verb = if dry_run { "would delete" } else { "deletes" };
    for b in &plan.bases {
        println!("{verb} base backup {}", b.display());
    }
    println!(
        "{verb} {} base backup(s) and {} WAL file(s) ({}); every kept base backup keeps the WAL it needs",
        plan.bases.len(),
        plan.wal_files.len(),
        humansize::format_size(plan.bytes, humansize::BINARY)
    );
    if dry_run || (plan.bases.is_empty() && plan.wal_files.is_empty()) {
        return Ok(0);
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            color_eyre::eyre::bail!(
                "not deleting without confirmation: stdin is not a terminal; pass --yes"
            );
        }
        eprint!("Delete them? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !answer.trim().eq_ignore_ascii_case("y") {
            println!("nothing was deleted");
            return Ok(0);
        }
    }
    physical_prune::apply(&plan)?;
    println!("done");
    Ok(0)
}

/// The archive_command for the target's server: compose gets container paths and reads the
/// cluster's identifier at archive time; a direct server gets host paths and its identifier.
pub async fn archive_command(ctx: &Context, target: &dyn Target) -> crate::Result<String> {
    if target.kind_name() == "compose" {
        return archive_cmd::for_any_cluster(&Path::new(COMPOSE_BACKUP_MOUNT).join("wal"));
    }
    let client = crate::engine::physical::cluster::connect_any(target).await?;
    let facts = ClusterFacts::read(&client).await?;
    archive_cmd::for_known_cluster(&absolute(&ctx.config.wal_dir()), &facts.system_identifier)
}

/// The recoverable window of the target's cluster, and the cluster's facts.
pub async fn window(
    ctx: &Context,
    target: &dyn Target,
) -> crate::Result<(RecoveryWindow, ClusterFacts)> {
    crate::monitor::recovery_window::compute(target, &ctx.config.backup_dir, &ctx.config.wal_dir())
        .await
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_path_buf();
    }
    std::env::current_dir()
        .map(|d| d.join(p))
        .unwrap_or_else(|_| p.to_path_buf())
}
