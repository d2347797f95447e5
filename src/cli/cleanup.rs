//! `pgkeep cleanup`: drop databases left by restores (`_pre_restore_` databases and abandoned
//! scratch databases), after listing them and asking (or `--yes`).

use std::io::{BufRead, IsTerminal, Write};

use clap::Args;
use color_eyre::eyre::{bail, Result};

use super::Context;
use crate::engine::{scratch, verify};

/// Arguments of `pgkeep cleanup`.
#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Drop without asking (needed when not on a terminal)
    #[arg(long, short)]
    pub yes: bool,
}

/// Runs `pgkeep cleanup`.
pub async fn run(ctx: &Context, args: CleanupArgs) -> Result<i32> {
    let target = ctx.target().await?;
    let dir = &ctx.config.backup_dir;
    let mut stale = if dir.is_dir() {
        crate::engine::leftovers::remove_stale(dir)
    } else {
        Vec::new()
    };
    stale.extend(crate::engine::physical::base_leftovers::remove_stale_if_idle(dir));
    if let Some(line) = crate::engine::leftovers::removed_line(&stale) {
        println!("{line}");
    }
    let names = verify::leftover_databases(target.as_ref()).await?;
    if names.is_empty() {
        println!("no leftover databases: nothing to clean up");
        return Ok(0);
    }
    let admin = scratch::admin_connect(target.as_ref()).await?;
    println!("databases left by restores on {}:", target.describe());
    for n in &names {
        let size = admin
            .query_one("SELECT pg_database_size($1::text::name)", &[n])
            .await
            .map(|r| crate::format::size(r.get::<_, i64>(0).max(0) as u64))
            .unwrap_or_else(|_| "?".into());
        println!("  {n}  ({size})");
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            bail!("not dropping without confirmation: stdin is not a terminal; pass --yes to drop the databases listed above");
        }
        eprint!("Drop these {} database(s)? [y/N] ", names.len());
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("nothing dropped");
            return Ok(1);
        }
    }
    let mut code = 0;
    for n in &names {
        // One database that cannot be dropped does not keep the others.
        match scratch::drop_in(target.as_ref(), &admin, n).await {
            Ok(()) => println!("dropped {n}"),
            Err(e) => {
                eprintln!("pgkeep: could not drop {n}: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}
