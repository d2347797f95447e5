//! `pgkeep logs`: print the database server's log (docker logs for the compose target). (Built by the compose issue.)

use clap::Args;
use color_eyre::eyre::{bail, Result};

use super::Context;

/// Arguments of `pgkeep logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {}

/// Runs `pgkeep logs`.
pub async fn run(ctx: &Context, args: LogsArgs) -> Result<i32> {
    let _ = (ctx, args);
    bail!("`pgkeep logs` is not available in this build yet")
}
