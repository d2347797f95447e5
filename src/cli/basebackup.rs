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
    /// Run as the schedule does: afterwards copy base backups and WAL offsite, prune old base
    /// backups by `[retention] keep_base`, alert on failure, record the outcome
    #[arg(long)]
    pub scheduled: bool,
}

/// Runs `pgkeep basebackup`.
pub async fn run(ctx: &Context, args: BasebackupArgs) -> Result<i32> {
    let target = match ctx.target().await {
        Ok(t) => t,
        Err(e) if args.scheduled => return scheduled_failed(ctx, e).await,
        Err(e) => return Err(e.into()),
    };
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
        Ok(out) if args.scheduled => {
            sink.emit(JobEvent::Finished("base backup written".into()));
            scheduled_done(ctx, &out.path).await
        }
        Err(e) if args.scheduled => {
            sink.emit(JobEvent::Failed(e.to_string()));
            scheduled_failed(ctx, e).await
        }
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

fn stamp() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Ends `pgkeep basebackup --scheduled` after a written base backup: the pipeline, one log
/// line per step, the recorded outcome. Exit 1 when a later step failed.
async fn scheduled_done(ctx: &Context, path: &std::path::Path) -> Result<i32> {
    use crate::schedule::{base_pipeline, last_run};
    println!("{} base backup ok: {}", stamp(), path.display());
    let report = base_pipeline::after_base(&ctx.config, path).await;
    for l in report.lines() {
        println!("{l}");
    }
    let message = match report.ok() {
        true => format!("base backup ok: {}", path.display()),
        false => format!(
            "base backup ok ({}), but a later step failed: {}",
            path.display(),
            report.failures().join("; ")
        ),
    };
    last_run::record_base(&ctx.config.backup_dir, report.ok(), &message);
    Ok(if report.ok() { 0 } else { 1 })
}

/// Ends `pgkeep basebackup --scheduled` after a failure: record it, alert, nothing pruned.
async fn scheduled_failed(ctx: &Context, e: crate::Error) -> Result<i32> {
    use crate::schedule::{base_pipeline, last_run};
    println!("{} base backup FAILED: {e}", stamp());
    if ctx.config.backup_dir.is_dir() {
        last_run::record_base(
            &ctx.config.backup_dir,
            false,
            &format!("base backup FAILED: {e}"),
        );
    }
    let report = base_pipeline::after_failure(&ctx.config, &e).await;
    for l in report.lines() {
        println!("{l}");
    }
    bail!("base backup failed: {e}")
}
