//! `pgkeep demo`: start a private demo database with sample invoices and open the console on it. (Built by the demo issue.)

use clap::Args;
use color_eyre::eyre::{bail, Result};

use super::Context;

/// Arguments of `pgkeep demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {}

/// Runs `pgkeep demo`.
pub async fn run(ctx: &Context, args: DemoArgs) -> Result<i32> {
    let _ = (ctx, args);
    bail!("`pgkeep demo` is not available in this build yet")
}
