//! `pgkeep status`: show server, backups, WAL archiving and schedule status. (Built by the console issue.)

use clap::Args;
use color_eyre::eyre::{bail, Result};

use super::Context;

/// Arguments of `pgkeep status`.
#[derive(Debug, Args)]
pub struct StatusArgs {}

/// Runs `pgkeep status`.
pub async fn run(ctx: &Context, args: StatusArgs) -> Result<i32> {
    let _ = (ctx, args);
    bail!("`pgkeep status` is not available in this build yet")
}
