//! `pgkeep backup`: take a backup now.

use clap::Args;
use color_eyre::eyre::Result;

use super::{progress_bar, show_progress, Context};
use crate::engine::backup::{self, BackupOptions};
use crate::engine::progress::{JobEvent, JobKind};

/// Arguments of `pgkeep backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// A label stored in the manifest and shown in lists
    #[arg(long)]
    pub label: Option<String>,
    /// Print one JSON object instead of the file's path
    #[arg(long)]
    pub json: bool,
    /// No progress bar, even on a terminal (for cron)
    #[arg(long, short)]
    pub quiet: bool,
    /// Run as the schedule does: afterwards verify by policy, copy offsite, prune, alert
    #[arg(long)]
    pub scheduled: bool,
}

/// Runs `pgkeep backup`.
pub async fn run(ctx: &Context, args: BackupArgs) -> Result<i32> {
    let target = match ctx.target().await {
        Err(e) if args.scheduled => return super::schedule::scheduled_unreachable(ctx, e).await,
        t => t?,
    };
    let what = format!("backup of {}", target.database());
    let sink = progress_bar::stderr_sink(
        JobKind::Backup,
        &what,
        show_progress(args.quiet || args.json),
    );
    let cancel = progress_bar::cancel_on_signals();
    let opts = BackupOptions {
        label: args.label.clone(),
        compression_level: ctx.config.compression_level,
    };
    let result = backup::backup(
        target.as_ref(),
        &ctx.config.backup_dir,
        &opts,
        &sink,
        &cancel,
    )
    .await;
    if args.scheduled {
        return super::schedule::finish_scheduled(ctx, target.as_ref(), result, &sink).await;
    }
    match result {
        Ok(out) => {
            sink.emit(JobEvent::Finished(out.path.display().to_string()));
            if args.json {
                let v = serde_json::json!({
                    "file": out.path,
                    "name": out.path.file_name().map(|n| n.to_string_lossy().into_owned()),
                    "manifest": out.manifest,
                });
                println!("{}", serde_json::to_string(&v)?);
            } else {
                println!("{}", out.path.display());
                for w in &out.manifest.warnings {
                    eprintln!("pgkeep: {w}");
                }
            }
            Ok(0)
        }
        Err(e) => {
            sink.emit(JobEvent::Failed(e.to_string()));
            Err(e.into())
        }
    }
}
