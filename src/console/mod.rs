//! The terminal console. (Console issue.)

use crate::cli::Context;

/// Opens the console on a terminal; returns the process exit code.
pub async fn run(ctx: &Context) -> color_eyre::Result<i32> {
    let _ = ctx;
    color_eyre::eyre::bail!("the console is not built yet: use the subcommands (pgkeep --help)")
}
