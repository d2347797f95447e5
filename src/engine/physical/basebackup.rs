//! `pgkeep basebackup`: a physical copy of the whole cluster with `pg_basebackup -X stream`
//! into a plain folder, checked with `pg_verifybackup`, then packed with tar, gzip-compressed
//! into `<name>.tar.gz.partial`, fsynced and renamed; PostgreSQL's `backup_manifest` is kept
//! beside it and pgkeep's manifest records the WAL range, times, timeline and identifier.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use chrono::Utc;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::base_catalog::{self, BaseManifest, BASE_SUFFIX};
use super::base_leftovers;
use super::base_workspace::Workspace;
use super::cluster::{self, ClusterFacts};
use crate::engine::catalog::NAME_TIME_FORMAT;
use crate::engine::fsutil;
use crate::engine::pgtools;
use crate::engine::progress::{Phase, Sink};
use crate::error::{Error, IoContext, Result};
use crate::target::{PgTool, Target};

/// A finished base backup.
#[derive(Debug, Clone)]
pub struct BaseOutcome {
    /// The `.tar.gz` file.
    pub path: PathBuf,
    /// Its manifest.
    pub manifest: BaseManifest,
}

/// Takes a base backup of the target's cluster into `<backup_dir>/base/`.
pub async fn take(
    target: &dyn Target,
    backup_dir: &Path,
    pg_bin: Option<&Path>,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<BaseOutcome> {
    sink.phase(Phase::Check);
    let client = crate::engine::physical::cluster::connect_any(target).await?;
    let facts = ClusterFacts::read(&client).await?;
    let dir = base_catalog::base_dir(backup_dir);
    fsutil::ensure_backup_dir(backup_dir, fsutil::DirPolicy::SharedWithServer)?;
    fsutil::ensure_private_dir(&dir)?;
    let held = base_leftovers::lock(&dir)?;
    let removed = base_leftovers::remove_stale(&dir, &held);
    if let Some(line) = crate::engine::leftovers::removed_line(&removed) {
        sink.log(line);
    }
    if let Some(id) = target.container() {
        base_leftovers::remove_in_container(&id);
    }
    let started_at = Utc::now();
    let name = format!(
        "{}_{}{BASE_SUFFIX}",
        facts.system_identifier,
        started_at.format(NAME_TIME_FORMAT)
    );
    let work = match target.container() {
        Some(id) => Workspace::Container {
            id,
            dir: format!(
                "{}{}-{}",
                base_leftovers::CONTAINER_WORK_PREFIX,
                std::process::id(),
                started_at.timestamp_millis()
            ),
        },
        None => {
            // Per process: a killed run's pg_basebackup may still write into its own copy
            // while a new run of the same second starts.
            let work = dir.join(format!(".{name}.{}.work", std::process::id()));
            let _ = std::fs::remove_dir_all(&work);
            fsutil::ensure_private_dir(&work)?;
            Workspace::Host(work.join("data"))
        }
    };
    let result = take_into(target, &dir, &work, &name, &facts, pg_bin, sink, cancel).await;
    work.remove();
    let partial = dir.join(format!("{name}{}", base_leftovers::PARTIAL_SUFFIX));
    let path = dir.join(&name);
    let committed = result.and_then(|mut manifest| {
        // The manifests first, the `.tar.gz` last: a base backup is listed only when whole.
        manifest.started_at = started_at;
        base_catalog::write_manifest(&path, &manifest)?;
        std::fs::rename(&partial, &path)
            .ctx(|| format!("renaming {}", partial.display()), &partial)?;
        fsutil::fsync_dir(&dir).ctx(|| format!("fsync {}", dir.display()), &dir)?;
        Ok(manifest)
    });
    match committed {
        Ok(manifest) => Ok(BaseOutcome { path, manifest }),
        Err(e) => {
            base_leftovers::remove_stale(&dir, &held);
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn take_into(
    target: &dyn Target,
    dir: &Path,
    work: &Workspace,
    name: &str,
    facts: &ClusterFacts,
    pg_bin: Option<&Path>,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<BaseManifest> {
    sink.phase(Phase::Dump);
    sink.log(format!(
        "pg_basebackup -X stream of cluster {} ({})",
        facts.system_identifier, facts.version
    ));
    let mut cmd = target.command(PgTool::PgBasebackup, "postgres", "pgkeep-basebackup");
    cmd.arg("-D")
        .arg(work.dir_arg())
        .args(["-Fp", "-X", "stream", "-c", "fast", "--no-password", "-l"])
        .arg(format!("pgkeep {name}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .map_err(|e| pgtools::spawn_error(PgTool::PgBasebackup, e))?;
    let out = tokio::select! {
        out = child.wait_with_output() => out.map_err(|e| Error::Other(format!("pg_basebackup: {e}")))?,
        _ = cancel.cancelled() => return Err(Error::Cancelled),
    };
    if !out.status.success() {
        return Err(Error::ToolFailed {
            tool: "pg_basebackup".into(),
            message: pgtools::summarize_stderr(&String::from_utf8_lossy(&out.stderr)),
        });
    }
    let finished_at = Utc::now();
    let label = String::from_utf8_lossy(&work.read("backup_label")?).into_owned();
    let (start_lsn, timeline) = cluster::parse_backup_label(&label).ok_or_else(|| {
        Error::Other("pg_basebackup wrote a backup_label pgkeep cannot read".into())
    })?;
    let pg_manifest = work.read("backup_manifest")?;
    let stop_lsn = cluster::manifest_end_lsn(&pg_manifest).unwrap_or_else(|| start_lsn.clone());

    let verified = work.verify(facts, pg_bin, sink).await?;
    sink.phase(Phase::Finish);
    let partial = dir.join(format!("{name}{}", base_leftovers::PARTIAL_SUFFIX));
    let (compressed, raw, sha) = {
        let tar = work.tar();
        let partial = partial.clone();
        tokio::task::spawn_blocking(move || pack(tar, &partial))
            .await
            .map_err(|e| Error::Other(e.to_string()))??
    };
    if cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }
    let pm_path = dir.join(format!("{name}.backup_manifest"));
    fsutil::write_atomic(&pm_path, &pg_manifest)
        .ctx(|| "writing backup_manifest".into(), &pm_path)?;
    let manifest = BaseManifest {
        kind: "base".into(),
        system_identifier: facts.system_identifier.clone(),
        server_version: facts.version.clone(),
        timeline,
        start_lsn,
        stop_lsn,
        wal_segment_size: facts.wal_segment_size,
        started_at: finished_at,
        finished_at,
        compressed_bytes: compressed,
        raw_bytes: raw,
        sha256: sha,
        verified_by_pg_verifybackup: verified,
        target: target.kind_name().into(),
        pgkeep_version: env!("CARGO_PKG_VERSION").into(),
    };
    Ok(manifest)
}

/// `tar` (writing to stdout) → gzip → `partial` (0600, fsynced); returns (compressed bytes,
/// raw bytes, sha256).
fn pack(mut tar: std::process::Command, partial: &Path) -> Result<(u64, u64, String)> {
    let file = fsutil::create_private(partial)
        .ctx(|| format!("creating {}", partial.display()), partial)?;
    let mut tar = tar
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::ToolMissing {
            tool: "tar".into(),
            reason: e.to_string(),
        })?;
    let mut stdout = tar.stdout.take().expect("piped");
    let hashing = HashingWriter {
        inner: file,
        hash: Sha256::new(),
        bytes: 0,
    };
    let mut gz = flate2::write::GzEncoder::new(hashing, flate2::Compression::new(6));
    let mut buf = vec![0u8; 1 << 20];
    let mut raw = 0u64;
    loop {
        let n = stdout
            .read(&mut buf)
            .map_err(|e| Error::Other(format!("reading tar: {e}")))?;
        if n == 0 {
            break;
        }
        raw += n as u64;
        gz.write_all(&buf[..n])
            .ctx(|| format!("writing {}", partial.display()), partial)?;
    }
    let out = tar
        .wait_with_output()
        .map_err(|e| Error::Other(format!("tar: {e}")))?;
    if !out.status.success() {
        return Err(Error::ToolFailed {
            tool: "tar".into(),
            message: pgtools::summarize_stderr(&String::from_utf8_lossy(&out.stderr)),
        });
    }
    let hashing = gz
        .finish()
        .ctx(|| format!("writing {}", partial.display()), partial)?;
    hashing
        .inner
        .sync_all()
        .ctx(|| format!("fsync {}", partial.display()), partial)?;
    Ok((hashing.bytes, raw, hex::encode(hashing.hash.finalize())))
}

struct HashingWriter {
    inner: std::fs::File,
    hash: Sha256,
    bytes: u64,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
