//! `pgkeep demo`: start a private demo database with sample invoices and open the console on
//! it; `--stop` stops it, `--reset` deletes it (after asking).

use std::io::{IsTerminal, Write};
use std::path::Path;

use clap::Args;
use color_eyre::eyre::{bail, Result};

use super::{Context, GlobalArgs};
use crate::demo::{self, Layout, DEMO_DIR};

/// Arguments of `pgkeep demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Stop the demo cluster (its data stays; `pgkeep demo` starts it again)
    #[arg(long, conflicts_with = "reset")]
    pub stop: bool,
    /// Stop the demo cluster and delete ./.pgkeep-demo/ (database, backups, config)
    #[arg(long)]
    pub reset: bool,
    /// With --reset: do not ask before deleting
    #[arg(long, short = 'y', requires = "reset")]
    pub yes: bool,
    /// Prepare and start the demo, print its config file's path, do not open the console
    #[arg(long, hide = true, conflicts_with_all = ["stop", "reset"])]
    pub no_console: bool,
}

/// Runs `pgkeep demo`.
pub async fn run(ctx: &Context, args: DemoArgs) -> Result<i32> {
    let layout = Layout::new(Path::new(DEMO_DIR))?;
    if args.stop {
        match demo::stop(&layout)? {
            true => println!("demo cluster stopped (start it again with `{} demo`)", me()),
            false => println!("the demo cluster is not running"),
        }
        return Ok(0);
    }
    if args.reset {
        return reset(&layout, args.yes);
    }
    let say = |line: &str| {
        println!("{line}");
        let _ = std::io::stdout().flush();
    };
    let running = demo::prepare(&layout, ctx.global.pg_bin.as_deref(), &say).await?;
    let config = running.config_file.display().to_string();
    if args.no_console {
        println!("{config}");
        return Ok(0);
    }
    if !(std::io::stdout().is_terminal() && std::io::stdin().is_terminal()) {
        println!(
            "demo ready on 127.0.0.1:{}; open the console on a terminal with: {} --config {config}",
            running.port,
            me()
        );
        return Ok(0);
    }
    say("opening the console…");
    let global = GlobalArgs {
        config: Some(running.config_file.clone()),
        ..GlobalArgs::default()
    };
    let demo_ctx = Context::from_args(&global)?;
    let code = crate::console::run(&demo_ctx).await?;
    println!(
        "the demo cluster keeps running: stop it with `{0} demo --stop`, delete it with `{0} demo --reset`",
        me()
    );
    Ok(code)
}

/// Deletes the demo folder after a y/N question (or `--yes`).
fn reset(layout: &Layout, yes: bool) -> Result<i32> {
    if !layout.root.exists() {
        println!("no demo here ({} does not exist)", layout.root.display());
        return Ok(0);
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "`pgkeep demo --reset` deletes {} with its backups: confirm with --yes when not on a terminal",
                layout.root.display()
            );
        }
        print!(
            "Delete the demo database, its backups and config in {}? [y/N] ",
            layout.root.display()
        );
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("nothing deleted");
            return Ok(1);
        }
    }
    demo::reset(layout)?;
    println!("demo deleted ({} removed)", layout.root.display());
    Ok(0)
}

/// How the user ran pgkeep (`target/release/pgkeep` after scripts/demo.sh), for the hints.
fn me() -> String {
    match std::env::args().next() {
        Some(a) if a.contains('/') => a,
        _ => "pgkeep".into(),
    }
}
