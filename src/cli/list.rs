//! `pgkeep list`: every backup, newest first; with offsite targets configured, also where
//! each lives (here, both).

use chrono::{DateTime, Local, Utc};
use clap::Args;
use color_eyre::eyre::Result;
use humansize::{format_size, BINARY};

use super::Context;
use crate::engine::catalog::{self, BackupEntry, BackupStatus};
use crate::offsite;
use std::collections::HashMap;

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
    let places = where_they_live(ctx, &entries).await;
    let place = |e: &BackupEntry| {
        places
            .as_ref()
            .and_then(|p| p.get(&e.name).copied())
            .unwrap_or("here")
    };
    if args.json {
        let mut v = serde_json::to_value(&entries)?;
        if let (Some(_), Some(items)) = (&places, v.as_array_mut()) {
            for (item, e) in items.iter_mut().zip(&entries) {
                item["where"] = serde_json::json!(place(e));
            }
        }
        if let Some(items) = v.as_array_mut() {
            for (item, e) in items.iter_mut().zip(&entries) {
                if let Some(g) = e.manifest.as_ref().and_then(|m| m.globals.as_ref()) {
                    item["globals"] = serde_json::json!({"status": g.status, "reason": g.reason});
                }
            }
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    if entries.is_empty() {
        println!(
            "no backups in {} yet: run `pgkeep backup`",
            ctx.config.backup_dir.display()
        );
        return Ok(0);
    }
    let now = Utc::now();
    let where_head = if places.is_some() { "WHERE    " } else { "" };
    let where_col = |e: &BackupEntry| match &places {
        Some(_) => format!("{:<7}  ", place(e)),
        None => String::new(),
    };
    println!(
        "{:<19}  {:>8}  {:>10}  {:<14}  {:<16}  {:<24}  {where_head}FILE",
        "TIME (local)", "AGE", "SIZE", "DATABASE", "LABEL", "STATUS"
    );
    for e in &entries {
        println!(
            "{:<19}  {:>8}  {:>10}  {:<14}  {:<16}  {:<24}  {}{}",
            e.time.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S"),
            age(now, e.time),
            format_size(e.size, BINARY),
            e.database,
            e.label.as_deref().unwrap_or(""),
            status_text(e, now),
            where_col(e),
            e.name
        );
    }
    if let Some(w) = entries
        .iter()
        .find_map(|e| e.manifest.as_ref().and_then(|m| m.globals_warning()))
    {
        println!("note: {w}{}", crate::engine::manifest::GLOBALS_HINT);
    }
    Ok(0)
}

/// Where each backup lives ("here" or "both") when offsite targets are configured; None
/// (with a warning on stderr) when none are, or one cannot be listed.
async fn where_they_live(
    ctx: &Context,
    entries: &[BackupEntry],
) -> Option<HashMap<String, &'static str>> {
    if ctx.config.offsite.is_empty() {
        return None;
    }
    let mut remote = Vec::new();
    let listed: crate::Result<()> = async {
        for s in offsite::open_all(&ctx.config)? {
            remote.push((s.label.clone(), s.list().await?));
        }
        Ok(())
    }
    .await;
    if let Err(e) = listed {
        eprintln!("pgkeep: warning: cannot tell which backups are offsite: {e}");
        return None;
    }
    Some(
        offsite::locations(entries, &remote)
            .iter()
            .map(|l| (l.name.clone(), l.word()))
            .collect(),
    )
}

/// Status with ages: "verified 2h ago", "FAILED verification 1d ago"; ", globals partial"
/// when the backup's roles or properties were not all captured.
pub fn status_text(e: &BackupEntry, now: DateTime<Utc>) -> String {
    let s = match &e.status {
        BackupStatus::Verified { at } => format!("verified {} ago", age(now, *at)),
        BackupStatus::VerifyFailed { at, .. } => format!("FAILED verify {} ago", age(now, *at)),
        s => s.label().to_string(),
    };
    match e.manifest.as_ref().and_then(|m| m.globals.as_ref()) {
        Some(g) if !g.is_complete() => format!("{s}, globals {}", g.status),
        _ => s,
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
