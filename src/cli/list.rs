//! `pgkeep list`: every backup, newest first; with offsite targets configured, also where
//! each lives (here, both).

use chrono::{DateTime, Local, Utc};
use clap::Args;
use color_eyre::eyre::Result;

use super::Context;
use crate::engine::catalog::{self, BackupEntry, BackupStatus};
use crate::format;
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
    if let Err(e) = crate::schedule::parse_config(&ctx.config.schedule) {
        eprintln!(
            "pgkeep: warning: the backup schedule in the config is not valid ({e}): scheduled backups will not run; fix [schedule] in pgkeep.toml (`pgkeep schedule show` explains)"
        );
    }
    let entries = catalog::scan(&ctx.config.backup_dir)?;
    let bases = crate::engine::physical::base_catalog::scan(&ctx.config.backup_dir)?;
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
            items.extend(bases.iter().rev().map(super::list_base::json));
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    super::list_base::print(&bases, Utc::now());
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
    let time_head = format!("TIME ({})", format::zone_name(now));
    println!(
        "{:<19}  {:>8}  {:>10}  {:<14}  {:<16}  {:<24}  {where_head}FILE",
        time_head, "AGE", "SIZE", "DATABASE", "LABEL", "STATUS"
    );
    for e in &entries {
        println!(
            "{:<19}  {:>8}  {:>10}  {:<14}  {:<16}  {:<24}  {}{}",
            e.time.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S"),
            age(now, e.time),
            format::size(e.size),
            e.database,
            one_line(e.label.as_deref().unwrap_or("")),
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

/// `s` with line breaks and other control characters shown escaped (`\n`), so a label
/// written by an older version or by hand never breaks the table.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A short age, as everywhere else: "45s", "12m", "3h02m", "5d".
pub fn age(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    format::age((now - t).to_std().unwrap_or_default())
}
