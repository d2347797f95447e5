//! `pgkeep daemon`: run the backup schedule in the foreground (for a container or a systemd
//! unit, on machines without cron). Sleeps until the next run of either schedule in the
//! configured zone, runs the same scheduled job as cron would (`backup --scheduled`, or
//! `basebackup --scheduled` for `[schedule] basebackup`), logs to stdout, and exits
//! cleanly on SIGTERM or Ctrl-C (a backup in progress is cancelled and leaves no file).

use chrono::Utc;
use clap::Args;
use color_eyre::eyre::{bail, Result};

use super::backup::{self, BackupArgs};
use super::basebackup::{self, BasebackupArgs};
use super::Context;
use crate::schedule;

/// Arguments of `pgkeep daemon`.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Take one backup right away before waiting for the schedule
    #[arg(long)]
    pub now: bool,
    /// Also serve Prometheus metrics over HTTP on this address (GET /metrics), e.g. 127.0.0.1:9187
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<std::net::SocketAddr>,
}

/// Longest single sleep, so a changed wall clock (suspend, NTP) is noticed.
const MAX_NAP: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs `pgkeep daemon`.
pub async fn run(ctx: &Context, args: DaemonArgs) -> Result<i32> {
    let summary = schedule::summary(&ctx.config.schedule);
    if let Some(e) = summary
        .error
        .as_ref()
        .filter(|_| summary.next_runs.is_empty())
    {
        bail!("{e}");
    }
    log(&format!(
        "pgkeep daemon: {} ({}), backups in {}",
        summary.expression,
        summary.description,
        ctx.config.backup_dir.display()
    ));
    let stop = super::progress_bar::cancel_on_signals();
    if let Some(addr) = args.metrics {
        super::metrics::serve(ctx.clone(), addr, stop.clone()).await?;
        log(&format!("metrics on http://{addr}/metrics"));
    }
    if let Some(base) = schedule::next_base_runs(&ctx.config.schedule, Utc::now(), 1)?.first() {
        log(&format!(
            "base backups: {} (next at {})",
            ctx.config.schedule.basebackup,
            base.format("%Y-%m-%d %H:%M %Z")
        ));
    }
    let mut first = args.now;
    loop {
        let mut base_due = false;
        let mut dump_at = Utc::now();
        if !first {
            let Some(dump) = schedule::next_runs(&ctx.config.schedule, Utc::now(), 1)?
                .into_iter()
                .next()
            else {
                bail!("`{}` never runs again", ctx.config.schedule.cron);
            };
            dump_at = dump.with_timezone(&Utc);
            let base = schedule::next_base_runs(&ctx.config.schedule, Utc::now(), 1)?
                .into_iter()
                .next();
            // Both at the same minute: the base backup first, then the dump.
            let next = match base {
                Some(b) if b <= dump => {
                    base_due = true;
                    b
                }
                _ => dump,
            };
            log(&format!(
                "next {} at {}",
                if base_due { "base backup" } else { "backup" },
                next.format("%Y-%m-%d %H:%M %Z")
            ));
            let next_utc = next.with_timezone(&Utc);
            while Utc::now() < next_utc {
                let left = (next_utc - Utc::now())
                    .to_std()
                    .unwrap_or_default()
                    .min(MAX_NAP);
                tokio::select! {
                    _ = tokio::time::sleep(left) => {}
                    _ = stop.cancelled() => {
                        log("stopping (signal); no backup was running");
                        return Ok(0);
                    }
                }
            }
        }
        first = false;
        if base_due {
            log("starting scheduled base backup");
            let quiet = BasebackupArgs {
                json: false,
                quiet: true,
                scheduled: true,
            };
            match basebackup::run(ctx, quiet).await {
                Ok(0) => log("scheduled base backup done"),
                Ok(code) => log(&format!(
                    "scheduled base backup done, but a later step failed (exit {code})"
                )),
                Err(e) => log(&format!(
                    "scheduled base backup FAILED: {}",
                    super::one_line(&e)
                )),
            }
            if stop.is_cancelled() {
                log("stopping (signal)");
                return Ok(0);
            }
            // A dump due at the same time (or while the base backup ran) runs now.
            if dump_at > Utc::now() {
                continue;
            }
        }
        log("starting scheduled backup");
        let quiet = BackupArgs {
            label: None,
            json: false,
            quiet: true,
            scheduled: true,
            lock_wait_timeout: None,
        };
        match backup::run(ctx, quiet).await {
            Ok(0) => log("scheduled backup done"),
            Ok(code) => log(&format!(
                "scheduled backup done, but a later step failed (exit {code})"
            )),
            Err(e) => log(&format!("scheduled backup FAILED: {}", super::one_line(&e))),
        }
        if stop.is_cancelled() {
            log("stopping (signal)");
            return Ok(0);
        }
    }
}

fn log(line: &str) {
    println!("{} {line}", Utc::now().format("%Y-%m-%dT%H:%M:%SZ"));
}
