//! `pgkeep verify`: prove a backup restores: checksum, stream, test restore into a scratch
//! database, row counts against the manifest. The result is recorded in the manifest.

use clap::Args;
use color_eyre::eyre::{bail, Result};

use super::{progress_bar, show_progress, Context};
use crate::engine::catalog::{self, BackupStatus};
use crate::engine::loader::LoadOptions;
use crate::engine::progress::{JobEvent, JobKind};
use crate::engine::verify;

/// Arguments of `pgkeep verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The backup: a name from `pgkeep list`, a path, `latest`, or `all`
    #[arg(value_name = "BACKUP|latest|all")]
    pub backup: String,
    /// Verify a backup whose manifest is damaged, without a checksum check (written in the job log)
    #[arg(long)]
    pub accept_unchecked: bool,
    /// Worker connections of the test restore: 1 loads serially with psql; default: one per
    /// core, within the server's free connections
    #[arg(long, short = 'j', value_name = "N", env = "PGKEEP_JOBS", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,
    /// Print a JSON array of results
    #[arg(long)]
    pub json: bool,
    /// No progress bar, even on a terminal
    #[arg(long, short)]
    pub quiet: bool,
    /// age identity to decrypt an encrypted backup (`.sql.gz.age`; kept off this server); a
    /// verification that passes is recorded as the test decryption `doctor` asks for
    #[arg(long, env = "PGKEEP_AGE_IDENTITY", value_name = "FILE")]
    pub identity: Option<std::path::PathBuf>,
}

/// Runs `pgkeep verify`: exit 0 only when every backup verified.
pub async fn run(ctx: &Context, args: VerifyArgs) -> Result<i32> {
    if let Some(id) = &args.identity {
        crate::engine::localcrypt::set_identity_file(id);
    }
    let target = ctx.target().await?;
    let dir = &ctx.config.backup_dir;
    let entries = if args.backup == "all" {
        let all: Vec<_> = catalog::scan(dir)?
            .into_iter()
            .filter(|e| e.status != BackupStatus::Interrupted)
            .collect();
        if all.is_empty() {
            bail!(
                "no finished backups in {} to verify: run `pgkeep backup` first",
                dir.display()
            );
        }
        all
    } else {
        vec![catalog::resolve(
            dir,
            &args.backup,
            Some(target.database()),
        )?]
    };
    let single = entries.len() == 1;
    let cancel = progress_bar::cancel_on_signals();
    let mut results = Vec::new();
    let mut failed = 0;
    for e in &entries {
        let sink = progress_bar::stderr_sink(
            JobKind::Verify,
            &format!("verify of {}", e.name),
            show_progress(args.quiet || args.json),
        );
        let mut accepted = e.clone();
        if args.accept_unchecked {
            if let Some(line) = catalog::accept_unchecked(&mut accepted) {
                if !show_progress(args.quiet || args.json) {
                    eprintln!("pgkeep: warning: {line}");
                }
                sink.log(line);
            }
        }
        let e = &accepted;
        let load_opts = LoadOptions {
            jobs: args.jobs.map(usize::from),
            ..Default::default()
        };
        let r = verify::verify_with(target.as_ref(), e, load_opts, &sink, &cancel).await;
        match &r {
            Ok(o) => sink.emit(JobEvent::Finished(o.message.clone())),
            Err(err) => sink.emit(JobEvent::Failed(err.to_string())),
        }
        if matches!(r, Err(crate::Error::Cancelled)) {
            return Err(r.unwrap_err().into());
        }
        if single && !args.json {
            let o = r?;
            println!("ok {}: {}", e.name, o.message);
            return Ok(0);
        }
        let (ok, message) = match r {
            Ok(o) => (true, o.message),
            Err(err) => (false, err.to_string()),
        };
        if !ok {
            failed += 1;
        }
        if !args.json {
            println!("{} {}: {message}", if ok { "ok" } else { "FAILED" }, e.name);
        }
        results.push(serde_json::json!({ "name": e.name, "ok": ok, "message": message }));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    if failed > 0 {
        eprintln!(
            "pgkeep: error: {failed} of {} backup(s) failed verification",
            entries.len()
        );
        return Ok(1);
    }
    Ok(0)
}
