//! `pgkeep schedule`: show, install or remove the backup schedule (cron).

use chrono::{Local, Utc};
use clap::{Args, Subcommand};
use color_eyre::eyre::{bail, Result};

use super::Context;
use crate::schedule::{self, crontab, next, save, CrontabState};

/// Arguments of `pgkeep schedule`.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// What to do [default: show]
    #[command(subcommand)]
    pub action: Option<ScheduleAction>,
}

/// The schedule actions.
#[derive(Debug, Subcommand)]
pub enum ScheduleAction {
    /// The schedule in words, its zone, the next runs and whether cron has it
    Show,
    /// The next runs, one per line
    Next {
        /// How many runs
        #[arg(long, short = 'n', default_value_t = 5,
              value_parser = clap::value_parser!(u16).range(1..=1000))]
        count: u16,
    },
    /// Write the schedule into your crontab (a marked block; other lines stay as they are)
    Install,
    /// Remove pgkeep's block from your crontab
    Remove,
}

/// Runs `pgkeep schedule`.
pub async fn run(ctx: &Context, args: ScheduleArgs) -> Result<i32> {
    let cfg = &ctx.config.schedule;
    match args.action.unwrap_or(ScheduleAction::Show) {
        ScheduleAction::Show => show(ctx),
        ScheduleAction::Next { count } => {
            let runs = schedule::next_runs(cfg, Utc::now(), count as usize)?;
            if runs.is_empty() {
                bail!(
                    "`{}` never runs (no such date): check the day-of-month and month fields",
                    cfg.cron
                );
            }
            for t in runs {
                println!("{}", run_line(&t));
            }
            Ok(0)
        }
        ScheduleAction::Install => {
            let wal_dir = ctx.config.wal_dir();
            let with_base = crate::engine::physical::base_catalog::pitr_in_use(
                &ctx.config.backup_dir,
                &wal_dir,
            );
            let (change, block) = save::install(
                cfg,
                &ctx.config.backup_dir,
                ctx.global.config.as_deref(),
                with_base,
            )?;
            match change {
                crontab::Change::Written => println!("installed in your crontab:"),
                crontab::Change::Unchanged => println!("already installed, crontab unchanged:"),
            }
            print!("{block}");
            if !with_base && !cfg.basebackup.trim().is_empty() {
                println!(
                    "base backup: not scheduled: no WAL archive in {} and no base backup yet; set the server's archive_command (`pgkeep wal archive-command`), then run `pgkeep schedule install` again",
                    wal_dir.display()
                );
            }
            warn_about_cron_environment();
            let paths =
                schedule::JobPaths::current(&ctx.config.backup_dir, ctx.global.config.as_deref())?;
            match schedule::cron_check::prove(&paths) {
                Ok(line) => println!("{line}"),
                Err(why) => eprintln!(
                    "pgkeep: warning: under cron's environment the job cannot reach the database: {why}; put the connection in pgkeep.toml and the password in ~/.pgpass, then run `pgkeep schedule install` again"
                ),
            }
            if let Some(w) = crate::offsite::check::missing_test_decryption(&ctx.config) {
                eprintln!("pgkeep: warning: {w}");
            }
            Ok(0)
        }
        ScheduleAction::Remove => {
            match save::remove()? {
                crontab::Change::Written => println!("removed pgkeep's schedule from your crontab"),
                crontab::Change::Unchanged => {
                    println!("no pgkeep schedule in your crontab; nothing changed")
                }
            }
            Ok(0)
        }
    }
}

fn warn_about_cron_environment() {
    if !crontab::daemon_running() {
        eprintln!("pgkeep: warning: no cron daemon is running on this machine, so the job will not run: start it (`sudo service cron start`) or use `pgkeep daemon` instead");
    }
    let env = crontab::env_cron_will_not_see();
    if !env.is_empty() {
        eprintln!(
            "pgkeep: note: cron will not see {} from this shell: put the settings in pgkeep.toml (in {}) and the password in ~/.pgpass",
            env.join(", "),
            std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default()
        );
    }
}

/// One run: the time in the schedule's zone, and in local time when that differs.
fn run_line(t: &chrono::DateTime<chrono_tz::Tz>) -> String {
    use chrono::Offset;
    let local = t.with_timezone(&Local);
    let main = t.format("%a %Y-%m-%d %H:%M %Z").to_string();
    if local.offset().fix() == t.offset().fix() {
        main
    } else {
        format!("{main}  ({} local time)", local.format("%a %H:%M"))
    }
}

fn show(ctx: &Context) -> Result<i32> {
    let cfg = &ctx.config.schedule;
    let s = schedule::summary(cfg);
    println!("schedule:   {}  ({})", s.expression, s.description);
    println!(
        "time zone:  {} (system: {})",
        s.timezone,
        next::system_zone()
    );
    match schedule::crontab_fields(cfg, Utc::now()) {
        Ok((fields, note)) => println!("cron line:  {fields}  ({note})"),
        Err(e) => println!("cron line:  cannot be installed: {e}"),
    }
    let state = match &s.crontab {
        CrontabState::NotInstalled => "not installed (run `pgkeep schedule install`)".to_string(),
        CrontabState::Matches => "installed, matches the configuration".to_string(),
        CrontabState::Differs(line) => format!(
            "installed but DIFFERS from the configuration: {line} (run `pgkeep schedule install`)"
        ),
        CrontabState::Unavailable(why) => format!("unavailable: {why}"),
    };
    println!("crontab:    {state}");
    if !crontab::daemon_running() {
        println!("warning:    no cron daemon is running here: start it (`sudo service cron start`) or use `pgkeep daemon`");
    }
    println!("next runs:");
    for t in schedule::next_runs(cfg, Utc::now(), schedule::SUMMARY_RUNS).unwrap_or_default() {
        println!("  {}", run_line(&t));
    }
    let base = show_base(cfg);
    if let Some(e) = &s.error {
        eprintln!("pgkeep: warning: {e}");
        return Ok(1);
    }
    Ok(if base { 0 } else { 1 })
}

/// The base backup schedule's part of `schedule show`; false when its expression is invalid.
fn show_base(cfg: &crate::config::ScheduleConfig) -> bool {
    match schedule::parse_base(cfg) {
        Ok(None) => {
            println!("base backup: disabled (`[schedule] basebackup = \"\"`)");
            true
        }
        Ok(Some((expr, _))) => {
            println!(
                "base backup: {}  ({}; `pgkeep basebackup --scheduled`)",
                cfg.basebackup,
                schedule::describe::describe(&expr)
            );
            if let Ok(Some(fields)) = schedule::base_crontab_fields(cfg, Utc::now()) {
                println!("cron line:  {fields}");
            }
            println!("next base backups:");
            for t in schedule::next_base_runs(cfg, Utc::now(), schedule::SUMMARY_RUNS)
                .unwrap_or_default()
            {
                println!("  {}", run_line(&t));
            }
            true
        }
        Err(e) => {
            println!("base backup: invalid: {e}");
            eprintln!("pgkeep: warning: {e}");
            false
        }
    }
}

/// Ends `pgkeep backup --scheduled`: prints the file (or the error), runs the pipeline
/// (verify, offsite, prune, alerts) and prints one log line per step. Exit 1 when anything failed.
pub async fn finish_scheduled(
    ctx: &Context,
    target: &dyn crate::target::Target,
    result: crate::Result<crate::engine::backup::BackupOutcome>,
    sink: &crate::engine::progress::Sink,
) -> Result<i32> {
    use crate::engine::progress::JobEvent;
    use crate::schedule::pipeline;
    let stamp = || Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    let log = ctx.config.backup_dir.join(schedule::CRON_LOG_NAME);
    if let Err(e) = schedule::trim_log(&log, schedule::CRON_LOG_MAX_BYTES) {
        eprintln!("pgkeep: warning: cannot trim {}: {e}", log.display());
    }
    match result {
        Ok(out) => {
            sink.emit(JobEvent::Finished(out.path.display().to_string()));
            println!("{} backup ok: {}", stamp(), out.path.display());
            let report = pipeline::after_backup(&ctx.config, target, &out.path).await;
            for l in report.lines() {
                println!("{l}");
            }
            let message = match report.ok() {
                true => format!("backup ok: {}", out.path.display()),
                false => format!(
                    "backup ok ({}), but a later step failed: {}",
                    out.path.display(),
                    report.failures().join("; ")
                ),
            };
            schedule::last_run::record(&ctx.config.backup_dir, report.ok(), &message);
            Ok(if report.ok() { 0 } else { 1 })
        }
        Err(e) => {
            sink.emit(JobEvent::Failed(e.to_string()));
            println!("{} backup FAILED: {e}", stamp());
            schedule::last_run::record(
                &ctx.config.backup_dir,
                false,
                &format!("backup FAILED: {e}"),
            );
            let report = pipeline::after_failure(&ctx.config, target.database(), &e).await;
            for l in report.lines() {
                println!("{l}");
            }
            Err(e.into())
        }
    }
}

/// `pgkeep backup --scheduled` when the target cannot even be set up (container down, bad
/// config): the failure alert still goes out.
pub async fn scheduled_unreachable(ctx: &Context, e: crate::Error) -> Result<i32> {
    let stamp = Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    println!("{stamp} backup FAILED: {e}");
    if ctx.config.backup_dir.is_dir() {
        crate::schedule::last_run::record(
            &ctx.config.backup_dir,
            false,
            &format!("backup FAILED: {e}"),
        );
    }
    let database = ctx
        .config
        .url
        .as_deref()
        .and_then(|u| u.parse::<tokio_postgres::Config>().ok())
        .and_then(|c| c.get_dbname().map(String::from));
    let database = database
        .or_else(|| std::env::var("PGDATABASE").ok())
        .unwrap_or_else(|| "the database".into());
    let report = crate::schedule::pipeline::after_failure(&ctx.config, &database, &e).await;
    for l in report.lines() {
        println!("{l}");
    }
    Err(e.into())
}
