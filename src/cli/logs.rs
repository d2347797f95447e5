//! `pgkeep logs [-f] [-n N]`: print the database server's log. For the compose target that is
//! the container's `docker logs` (the same lines as `docker compose logs db`); with `-f` it
//! keeps following, across container restarts, until Ctrl-C.

use clap::Args;
use color_eyre::eyre::{bail, Result};
use tokio::sync::mpsc;

use super::Context;
use crate::monitor::docker_logs;
use crate::monitor::logs::{LogEvent, LogSource};

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
    let Some(source) = docker_logs::for_target(target.as_ref()) else {
        bail!(
            "`pgkeep logs` reads the container's log, and the target is {}: run pgkeep in the folder with docker-compose.yml or pass --target compose (a server outside docker logs to its own file; see log.file in pgkeep.toml for the console)",
            target.describe()
        );
    };
    if !args.follow {
        for line in source.tail(args.lines).await? {
            println!("{line}");
        }
        return Ok(0);
    }
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
