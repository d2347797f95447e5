//! `pgkeep prune`: delete old backups by the retention policy. (Built by the schedule issue.)

use clap::Args;
use color_eyre::eyre::{bail, Result};

use super::Context;

/// Arguments of `pgkeep prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {}

/// Runs `pgkeep prune`.
pub async fn run(ctx: &Context, args: PruneArgs) -> Result<i32> {
    let _ = (ctx, args);
    bail!("`pgkeep prune` is not available in this build yet")
}
