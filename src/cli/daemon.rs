//! `pgkeep daemon`: run the backup schedule in the foreground (no cron needed). (Built by the schedule issue.)

use clap::Args;
use color_eyre::eyre::{bail, Result};

use super::Context;

/// Arguments of `pgkeep daemon`.
#[derive(Debug, Args)]
pub struct DaemonArgs {}

/// Runs `pgkeep daemon`.
pub async fn run(ctx: &Context, args: DaemonArgs) -> Result<i32> {
    let _ = (ctx, args);
    bail!("`pgkeep daemon` is not available in this build yet")
}
