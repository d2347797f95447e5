//! `pgkeep schedule`: show, install or remove the backup schedule (cron). (Built by the schedule issue.)

use clap::Args;
use color_eyre::eyre::{bail, Result};

use super::Context;

/// Arguments of `pgkeep schedule`.
#[derive(Debug, Args)]
pub struct ScheduleArgs {}

/// Runs `pgkeep schedule`.
pub async fn run(ctx: &Context, args: ScheduleArgs) -> Result<i32> {
    let _ = (ctx, args);
    bail!("`pgkeep schedule` is not available in this build yet")
}
