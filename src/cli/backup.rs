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
    /// Fail when a table lock is held longer than SECS, naming the session holding it (overrides `lock_wait_timeout`; 0 waits as long as it takes)
    #[arg(long, value_name = "SECS", env = "PGKEEP_LOCK_WAIT_TIMEOUT")]
    pub lock_wait_timeout: Option<u64>,
    /// Run as the schedule does: afterwards verify by policy, copy offsite, prune, alert
    #[arg(long)]
    pub scheduled: bool,
}

/// Runs `pgkeep backup`.
pub async fn run(ctx: &Context, args: BackupArgs) -> Result<i32> {
    if let Some(l) = args
        .label
        .as_deref()
        .filter(|l| l.chars().any(char::is_control))
    {
        color_eyre::eyre::bail!(
            "the label {l:?} contains a line break or another control character: give a one-line label"
        );
    }
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
        lock_wait_timeout: Some(
            args.lock_wait_timeout
                .unwrap_or(ctx.config.lock_wait_timeout),
        )
        .filter(|s| *s > 0)
        .map(std::time::Duration::from_secs),
        dir_policy: crate::engine::fsutil::DirPolicy::Private,
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
