//! `pgkeep logs [-f] [-n N]`: print the database server's log. For the compose target that is
//! the container's `docker logs` (the same lines as `docker compose logs db`); for the direct
//! target and the demo it is the server's log file (`[log] file` in pgkeep.toml, else
//! `pg_current_logfile()`, else the file a local server writes its standard error to).
//! With `-f` it keeps following (across container restarts and log rotation) until Ctrl-C.

use clap::Args;
use color_eyre::eyre::{bail, Result};
use tokio::sync::mpsc;

use super::Context;
use crate::monitor::docker_logs;
use crate::monitor::file_log::{self, FileLogSource};
use crate::monitor::logs::{self as log_sources, LogEvent, LogSource};

/// Arguments of `pgkeep logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing new lines as they come (Ctrl-C stops)
    #[arg(long, short)]
    pub follow: bool,
    /// How many of the last lines to print first
    #[arg(long = "tail", short = 'n', default_value_t = 100, value_name = "N")]
    pub lines: usize,
}

/// Runs `pgkeep logs`.
pub async fn run(ctx: &Context, args: LogsArgs) -> Result<i32> {
    let target = ctx.target().await?;
    let source: Box<dyn LogSource> = if let Some(docker) = docker_logs::for_target(target.as_ref())
    {
        if !args.follow {
            for line in docker.tail(args.lines).await? {
                println!("{line}");
            }
            return Ok(0);
        }
        Box::new(docker)
    } else {
        let path = match &ctx.config.log.file {
            Some(f) => Some(f.clone()),
            None => log_sources::current_logfile(target.as_ref()).await,
        };
        let Some(path) = path else {
            bail!(
                "cannot find the log of the server at {}: set file = \"/path/to/postgresql.log\" under [log] in pgkeep.toml, or turn on logging_collector in the server (then pg_current_logfile() names the file)",
                target.describe()
            );
        };
        if !args.follow {
            let lines = file_log::tail_lines(&path, args.lines).map_err(|e| {
                color_eyre::eyre::eyre!(
                    "cannot read the server's log {}: {e} (run pgkeep as a user that can read it, or set [log] file in pgkeep.toml)",
                    path.display()
                )
            })?;
            for line in lines {
                println!("{line}");
            }
            return Ok(0);
        }
        Box::new(FileLogSource::new(path))
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let task = source.follow(args.lines, tx);
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(LogEvent::Line(l)) => println!("{l}"),
                Some(LogEvent::Notice(n)) => eprintln!("pgkeep: {n}"),
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    task.abort();
    Ok(0)
}
