//! `pgkeep status`: show server, backups, WAL archiving and schedule status: the same
//! snapshot the console's status pane shows, with the health warnings (overdue backup,
//! failed verification) of `alerts::backup_health`.

use clap::Args;
use color_eyre::eyre::Result;

use super::Context;
use crate::alerts;
use crate::engine::catalog;
use crate::monitor::status::{self, backup_age_level, Level};
use crate::schedule;

/// Arguments of `pgkeep status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

/// The vanished-data alarm as a health warning with its fix, when the server answers.
async fn vanished_warning(
    target: &dyn crate::target::Target,
    entries: &[catalog::BackupEntry],
) -> Option<String> {
    let client = crate::target::connect(target, target.database())
        .await
        .ok()?;
    let check = crate::monitor::vanished::check(&client, entries, target.database()).await?;
    (!check.ok).then(|| format!("{}: run `{}`", check.detail, crate::monitor::vanished::FIX))
}

/// Runs `pgkeep status`: exit 0 when the server is reachable, 1 when not.
pub async fn run(ctx: &Context, args: StatusArgs) -> Result<i32> {
    let target = ctx.target().await?;
    let s = status::collect(target.as_ref(), &ctx.config.backup_dir).await;
    let sched = schedule::summary(&ctx.config.schedule);
    let code = if s.reachable() { 0 } else { 1 };
    let now = chrono::Utc::now();
    let mut health = match catalog::scan(&ctx.config.backup_dir) {
        Ok(entries) => {
            let mut h = alerts::backup_health(&entries, &ctx.config, now);
            h.extend(vanished_warning(target.as_ref(), &entries).await);
            h
        }
        Err(e) => vec![format!("cannot read the backups: {e}")],
    };
    for c in crate::monitor::cron_health::checks(&ctx.config.backup_dir, &sched.crontab) {
        if !c.ok {
            let fix = c.fix.map(|f| format!(" (fix: {f})")).unwrap_or_default();
            health.push(format!("{}: {}{fix}", c.name, c.detail));
        }
    }
    health.dedup();
    let window = match &s.server {
        Some(_) => super::wal::window(ctx, target.as_ref())
            .await
            .ok()
            .map(|(w, _)| w),
        None => None,
    };
    if args.json {
        let mut v = serde_json::to_value(&s)?;
        v["recovery_window"] = serde_json::to_value(&window)?;
        v["recovery_window_summary"] = serde_json::json!(window.as_ref().map(|w| w.summary(now)));
        v["health"] = serde_json::json!(health);
        v["next_run"] = serde_json::json!(sched.next_runs.first().map(|t| t.to_rfc3339()));
        v["schedule"] = serde_json::json!(sched.description);
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(code);
    }
    let ago = |t: chrono::DateTime<chrono::Utc>| crate::format::ago(t, now);
    let size = crate::format::size;
    println!("target       {} ({})", s.target, target.kind_name());
    match &s.server {
        Some(f) => {
            println!(
                "server       up · PostgreSQL {} · started {}",
                f.version,
                ago(f.started_at)
            );
            println!(
                "database     {} · {} · {}/{} connections",
                s.database,
                f.database_size.map(size).unwrap_or_else(|| "?".into()),
                f.connections,
                f.max_connections
            );
            let a = &f.archiver;
            println!(
                "WAL          wal_level {} · archive_mode {} · {} archived (last {}) · {}{}",
                f.wal_level,
                a.archive_mode,
                crate::format::count_i(a.archived_count),
                a.last_archived_at
                    .map(ago)
                    .unwrap_or_else(|| "never".into()),
                crate::format::plural(a.failed_count.max(0) as u64, "failed attempt"),
                match (a.level(), a.last_failed_at) {
                    (Level::Ok, _) | (_, None) => String::new(),
                    (_, Some(t)) => format!(" (last failure {})", ago(t)),
                }
            );
        }
        None => println!(
            "server       UNREACHABLE: {}",
            s.problem.clone().unwrap_or_default()
        ),
    }
    if let Some(w) = &window {
        println!("PITR         {}", w.summary(now));
        if let Some(g) = &w.gap {
            println!("             gap in the WAL archive: {g}");
        }
    }
    let age = s.last_backup_age(now);
    let last = match s.last_backup_at {
        Some(t) => format!("{} ({})", ago(t), crate::format::local_zoned(t)),
        None => "none yet: run `pgkeep backup`".into(),
    };
    let flag = match backup_age_level(age) {
        Level::Ok => "",
        Level::Warn => "  [overdue: older than 26 h]",
        Level::Fail => "  [OVERDUE: older than 50 h or missing]",
    };
    println!("last backup  {last}{flag}");
    println!(
        "backup dir   {} · {} free",
        s.backup_dir.display(),
        s.free_bytes.map(size).unwrap_or_else(|| "?".into())
    );
    println!(
        "schedule     {}{}",
        sched.description,
        sched
            .next_runs
            .first()
            .map(|t| format!(" · next {}", t.format("%Y-%m-%d %H:%M %Z")))
            .unwrap_or_default()
    );
    for w in &health {
        println!("WARNING      {w}");
    }
    if !s.leftovers.is_empty() {
        println!(
            "leftovers    {} (remove with `pgkeep cleanup`)",
            s.leftovers.join(", ")
        );
    }
    if !s.reachable() {
        eprintln!("pgkeep: the database server is not reachable: check that it runs, or run `pgkeep doctor`");
    }
    Ok(code)
}
