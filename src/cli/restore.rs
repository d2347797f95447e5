//! `pgkeep restore`: restore a backup into the live database, safely (scratch load, then swap). (Built by the restore issue.)

use clap::Args;
use color_eyre::eyre::{bail, Result};

use super::Context;

/// Arguments of `pgkeep restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {}

/// Runs `pgkeep restore`.
pub async fn run(ctx: &Context, args: RestoreArgs) -> Result<i32> {
    let _ = (ctx, args);
    bail!("`pgkeep restore` is not available in this build yet")
}
