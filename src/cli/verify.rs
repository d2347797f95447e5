//! `pgkeep verify`: prove a backup restores: checksum, stream, test restore, row counts. (Built by the restore issue.)

use clap::Args;
use color_eyre::eyre::{bail, Result};

use super::Context;

/// Arguments of `pgkeep verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {}

/// Runs `pgkeep verify`.
pub async fn run(ctx: &Context, args: VerifyArgs) -> Result<i32> {
    let _ = (ctx, args);
    bail!("`pgkeep verify` is not available in this build yet")
}
