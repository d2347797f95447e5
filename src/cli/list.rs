//! `pgkeep list`: every backup, newest first.

use chrono::{DateTime, Local, Utc};
use clap::Args;
use color_eyre::eyre::Result;
use humansize::{format_size, BINARY};

use super::Context;
use crate::engine::catalog::{self, BackupEntry, BackupStatus};

/// Arguments of `pgkeep list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print a JSON array (times in UTC)
    #[arg(long)]
    pub json: bool,
}

/// Runs `pgkeep list`.
pub async fn run(ctx: &Context, args: ListArgs) -> Result<i32> {
    let entries = catalog::scan(&ctx.config.backup_dir)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(0);
    }
    if entries.is_empty() {
        println!("no backups in {} yet: run `pgkeep backup`", ctx.config.backup_dir.display());
        return Ok(0);
    }
    let now = Utc::now();
    println!(
        "{:<19}  {:>8}  {:>10}  {:<14}  {:<16}  {:<24}  FILE",
        "TIME (local)", "AGE", "SIZE", "DATABASE", "LABEL", "STATUS"
    );
    for e in &entries {
        println!(
            "{:<19}  {:>8}  {:>10}  {:<14}  {:<16}  {:<24}  {}",
            e.time.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S"),
            age(now, e.time),
            format_size(e.size, BINARY),
            e.database,
            e.label.as_deref().unwrap_or(""),
            status_text(e, now),
            e.name
        );
    }
    Ok(0)
}

/// Status with ages: "verified 2h ago", "FAILED verification 1d ago".
pub fn status_text(e: &BackupEntry, now: DateTime<Utc>) -> String {
    match &e.status {
        BackupStatus::Verified { at } => format!("verified {} ago", age(now, *at)),
        BackupStatus::VerifyFailed { at, .. } => format!("FAILED verify {} ago", age(now, *at)),
        s => s.label().to_string(),
    }
}

/// A short age: "45s", "12m", "3h", "5d".
pub fn age(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds().max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}
