//! `pgkeep doctor`: run the troubleshooting checks and print the fix for each failure. (Built by the compose issue.)

use clap::Args;
use color_eyre::eyre::{bail, Result};

use super::Context;

/// Arguments of `pgkeep doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {}

/// Runs `pgkeep doctor`.
pub async fn run(ctx: &Context, args: DoctorArgs) -> Result<i32> {
    let _ = (ctx, args);
    bail!("`pgkeep doctor` is not available in this build yet")
}
