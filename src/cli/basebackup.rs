//! `pgkeep basebackup`: a physical base backup of the whole cluster (for point-in-time
//! restores and `recover`).

use clap::Args;
use color_eyre::eyre::{bail, Result};

use super::{progress_bar, show_progress, Context};
use crate::engine::physical::basebackup;
use crate::engine::progress::{JobEvent, JobKind};

/// Arguments of `pgkeep basebackup`.
#[derive(Debug, Args)]
pub struct BasebackupArgs {
    /// Print one JSON object with the result
    #[arg(long)]
    pub json: bool,
    /// No progress output
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs `pgkeep basebackup`.
pub async fn run(ctx: &Context, args: BasebackupArgs) -> Result<i32> {
    crate::engine::fsutil::accept_world_writable_for_archive();
    let target = ctx.target().await?;
    let sink = progress_bar::stderr_sink(
        JobKind::Backup,
        "base backup",
        show_progress(args.quiet || args.json),
    );
    let cancel = progress_bar::cancel_on_signals();
    match basebackup::take(
        target.as_ref(),
        &ctx.config.backup_dir,
        ctx.config.pg_bin.as_deref(),
        &sink,
        &cancel,
    )
    .await
    {
        Ok(out) => {
            sink.emit(JobEvent::Finished("base backup written".into()));
            if args.json {
                let mut v = serde_json::to_value(&out.manifest)?;
                v["path"] = serde_json::json!(out.path);
                println!("{}", serde_json::to_string(&v)?);
            } else {
                println!("{}", out.path.display());
            }
            Ok(0)
        }
        Err(e) => {
            sink.emit(JobEvent::Failed(e.to_string()));
            bail!("base backup failed: {e}")
        }
    }
}
