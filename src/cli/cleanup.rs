//! `pgkeep cleanup`: drop databases left by restores (_pre_restore_ and scratch databases). (Built by the restore issue.)

use clap::Args;
use color_eyre::eyre::{bail, Result};

use super::Context;

/// Arguments of `pgkeep cleanup`.
#[derive(Debug, Args)]
pub struct CleanupArgs {}

/// Runs `pgkeep cleanup`.
pub async fn run(ctx: &Context, args: CleanupArgs) -> Result<i32> {
    let _ = (ctx, args);
    bail!("`pgkeep cleanup` is not available in this build yet")
}
