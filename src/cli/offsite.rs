//! `pgkeep offsite`: copy backups to offsite storage, list or fetch them. (Built by the schedule issue.)

use clap::Args;
use color_eyre::eyre::{bail, Result};

use super::Context;

/// Arguments of `pgkeep offsite`.
#[derive(Debug, Args)]
pub struct OffsiteArgs {}

/// Runs `pgkeep offsite`.
pub async fn run(ctx: &Context, args: OffsiteArgs) -> Result<i32> {
    let _ = (ctx, args);
    bail!("`pgkeep offsite` is not available in this build yet")
}
