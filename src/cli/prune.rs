//! `pgkeep prune`: delete old backups by the retention policy, saying for every backup
//! whether it is kept (and by which rule) or removed.

use std::io::{BufRead, IsTerminal, Write};

use chrono::Utc;
use clap::Args;
use color_eyre::eyre::{bail, Result};

use super::Context;
use crate::engine::catalog;
use crate::engine::retention::{self, Decision, Planned};
use crate::offsite;
use crate::schedule;

/// Arguments of `pgkeep prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Only show what would be kept and removed; delete nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Print the decisions as JSON
    #[arg(long)]
    pub json: bool,
    /// Delete without asking (for scripts; the scheduled pipeline prunes on its own)
    #[arg(long, short)]
    pub yes: bool,
}

/// Runs `pgkeep prune`.
pub async fn run(ctx: &Context, args: PruneArgs) -> Result<i32> {
    let policy = &ctx.config.retention;
    if !retention::policy_is_set(policy) {
        bail!("the retention policy keeps nothing (all keep_* are 0): set keep_last, keep_daily, keep_weekly or keep_monthly under [retention] in pgkeep.toml");
    }
    let (_, tz) = schedule::parse_config(&ctx.config.schedule).map_err(crate::Error::Config)?;
    let entries = catalog::scan(&ctx.config.backup_dir)?;
    let plan = retention::plan(&entries, policy, Utc::now(), tz);
    let removals: Vec<&Planned> = plan.iter().filter(|p| !p.decision.is_keep()).collect();
    let mut listing = String::new();
    if args.json {
        listing = serde_json::to_string_pretty(&plan_json(&plan))?;
    } else {
        for p in &plan {
            listing.push_str(&line(p));
            listing.push('\n');
        }
        let bytes: u64 = removals.iter().map(|p| p.entry.size).sum();
        let verb = if args.dry_run {
            "would remove"
        } else {
            "to remove"
        };
        listing.push_str(&format!(
            "{} backups: {} kept, {verb} {} ({})",
            plan.len(),
            plan.len() - removals.len(),
            removals.len(),
            crate::format::size(bytes)
        ));
    }
    if let Err(e) = writeln!(std::io::stdout().lock(), "{listing}") {
        // The reader went away (`pgkeep prune | head`): stop before deleting anything.
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(if args.dry_run { 0 } else { 1 });
        }
        return Err(e.into());
    }
    let now = Utc::now();
    let stores = offsite::open_all(&ctx.config)?;
    let mut offsite_removals = 0;
    for store in &stores {
        let remote = offsite::plan_prune(store, &entries, policy, now, tz).await?;
        let n = remote.iter().filter(|p| !p.decision.is_keep()).count();
        offsite_removals += n;
        if !args.json {
            let verb = if args.dry_run {
                "would remove"
            } else {
                "to remove"
            };
            println!(
                "offsite {}: {} copies, {verb} {n}",
                store.label,
                remote.len()
            );
        }
    }
    if args.dry_run || (removals.is_empty() && offsite_removals == 0) {
        if args.dry_run && !args.json {
            println!("dry run: nothing was deleted");
        }
        return Ok(0);
    }
    if !args.yes && !confirm(removals.len() + offsite_removals)? {
        eprintln!("nothing was deleted");
        return Ok(1);
    }
    let report = retention::apply(&plan);
    for (name, err) in &report.failed {
        eprintln!("pgkeep: cannot remove {name}: {err}");
    }
    if !args.json {
        println!("removed {} backup(s)", report.removed.len());
    }
    let mut ok = report.failed.is_empty();
    for store in &stores {
        match offsite::prune(store, &entries, policy, now, tz).await {
            Ok(removed) if !args.json => {
                println!("removed {} copies from {}", removed.len(), store.label)
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("pgkeep: {e}");
                ok = false;
            }
        }
    }
    Ok(if ok { 0 } else { 1 })
}

fn line(p: &Planned) -> String {
    let when = p
        .entry
        .time
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M");
    match &p.decision {
        Decision::Keep(rules) => {
            format!("keep    {}  {when}  ({})", p.entry.name, rules.join(", "))
        }
        Decision::Remove => format!("remove  {}  {when}", p.entry.name),
    }
}

fn plan_json(plan: &[Planned]) -> serde_json::Value {
    serde_json::Value::Array(
        plan.iter()
            .map(|p| {
                let (action, rules) = match &p.decision {
                    Decision::Keep(r) => ("keep", r.clone()),
                    Decision::Remove => ("remove", Vec::new()),
                };
                serde_json::json!({
                    "name": p.entry.name,
                    "database": p.entry.database,
                    "time": p.entry.time,
                    "size": p.entry.size,
                    "action": action,
                    "rules": rules,
                })
            })
            .collect(),
    )
}

fn confirm(n: usize) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("prune would delete {n} backup(s) and stdin is not a terminal: pass --yes to delete, or --dry-run to look first");
    }
    eprint!("delete {n} backup(s) and their manifests? type yes: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}
