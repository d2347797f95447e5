//! The console's point-in-time restore job: the same engine entry point as
//! `pgkeep restore --time` (so what the engine supports or refuses — the compose target
//! included — is what the console does), with a safety backup and the live database kept.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::engine::physical::pitr::{self, PitrOptions};
use crate::engine::physical::target_time::TargetTime;
use crate::engine::physical::window::local;
use crate::engine::progress::Sink;
use crate::target::Target;

/// Restores the target's database to `time`; Ok with the job's result line.
pub async fn run(
    target: Arc<dyn Target>,
    config: Config,
    time: TargetTime,
    sink: Sink,
    cancel: CancellationToken,
) -> crate::Result<String> {
    let opts = PitrOptions {
        time,
        into: None,
        safety_backup: true,
        compression_level: config.compression_level,
        wal_dir: config.wal_dir(),
        pg_bin: config.pg_bin.clone(),
        encrypt_to: config.local_recipients()?,
    };
    let out =
        pitr::restore_to_time(target.as_ref(), &config.backup_dir, &opts, &sink, &cancel).await?;
    Ok(format!(
        "{} is back as of {} (base backup {}); the replaced one is kept as {}",
        out.restore.database,
        local(out.target),
        out.base,
        out.restore.previous.as_deref().unwrap_or("-")
    ))
}
