//! `pgkeep restore --time`: bring the database back to a moment (point-in-time restore).

use std::io::{BufRead, IsTerminal, Write};

use color_eyre::eyre::{bail, eyre, Result};

use super::restore::RestoreArgs;
use super::{progress_bar, show_progress, Context};
use crate::engine::physical::pitr::{self, PitrOptions};
use crate::engine::physical::target_time::{self, TargetTime};
use crate::engine::physical::window::local;
use crate::engine::progress::{JobEvent, JobKind};

/// Runs `pgkeep restore --time TIME`.
pub async fn run(ctx: &Context, args: &RestoreArgs, time: &str) -> Result<i32> {
    let when = target_time::parse(time).map_err(|e| eyre!(e))?;
    let target = ctx.target().await?;
    let dest = args
        .into
        .clone()
        .unwrap_or_else(|| target.database().to_string());
    let moment = match when {
        TargetTime::At(t) => local(t),
        TargetTime::Latest => "the newest archived change".into(),
    };
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            bail!("not restoring without confirmation: stdin is not a terminal; run it on a terminal, or pass --yes to restore {dest} to {moment}");
        }
        let mut err = std::io::stderr().lock();
        if args.into.is_some() {
            writeln!(
                err,
                "This creates the new database \"{dest}\" as \"{}\" was at {moment}.",
                target.database()
            )?;
        } else {
            writeln!(
                err,
                "This REPLACES database \"{dest}\" with its state at {moment}."
            )?;
            writeln!(err, "  the current database is kept as {dest}_pre_restore_<time> until `pgkeep cleanup`")?;
        }
        write!(err, "Type the database name ({dest}) to continue: ")?;
        err.flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != dest {
            bail!("the name typed did not match \"{dest}\"; nothing was changed");
        }
    }
    super::recover::pull_physical(ctx, args.identity.as_deref()).await?;
    let sink = progress_bar::stderr_sink(
        JobKind::Restore,
        &format!("restore of {dest} to {moment}"),
        show_progress(args.quiet || args.json),
    );
    let cancel = progress_bar::cancel_on_signals();
    let opts = PitrOptions {
        time: when,
        into: args.into.clone(),
        safety_backup: !args.no_safety_backup,
        compression_level: ctx.config.compression_level,
        wal_dir: ctx.config.wal_dir(),
        pg_bin: ctx.config.pg_bin.clone(),
    };
    match pitr::restore_to_time(
        target.as_ref(),
        &ctx.config.backup_dir,
        &opts,
        &sink,
        &cancel,
    )
    .await
    {
        Ok(out) => {
            sink.emit(JobEvent::Finished(format!(
                "{} restored",
                out.restore.database
            )));
            if args.json {
                let v = serde_json::json!({
                    "database": out.restore.database,
                    "target_time": out.target.to_rfc3339(),
                    "base_backup": out.base,
                    "server_said": out.server_said,
                    "previous": out.restore.previous,
                    "safety_backup": out.restore.safety_backup,
                });
                println!("{}", serde_json::to_string(&v)?);
            } else {
                println!(
                    "restored {} to {} (base backup {})",
                    out.restore.database,
                    local(out.target),
                    out.base
                );
                if let Some(said) = &out.server_said {
                    println!("the recovery server said: {said}");
                }
                super::restore::print_kept(&out.restore);
            }
            Ok(0)
        }
        Err(e) => super::restore::failed(&sink, e),
    }
}
