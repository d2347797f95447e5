//! `pgkeep recover`: the whole cluster back into a new, empty data directory after the old
//! one is lost: the newest base backup plus every archived WAL segment, to the latest moment.
//! Recovery runs on a private port and socket with the cluster's own settings (archiving
//! included, so the new timeline continues the archive); the server is then stopped cleanly,
//! pgkeep's temporary settings are removed again, and the operator starts the service as usual.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio_util::sync::CancellationToken;

use super::base_catalog::{self, BaseBackup};
use super::cluster;
use super::scratch_server::ScratchServer;
use crate::engine::progress::{Phase, Sink};
use crate::error::{Error, Result};

/// What `recover` did.
#[derive(Debug, Clone)]
pub struct RecoverOutcome {
    /// The data directory now holding the cluster.
    pub data_dir: PathBuf,
    /// The base backup used.
    pub base: String,
    /// The cluster's system identifier.
    pub system_identifier: String,
    /// The server's words about the last replayed transaction.
    pub last_transaction: Option<String>,
}

/// Recovers the newest base backup (of `system_identifier`, when given) and all archived WAL
/// into `data_dir`, which must be missing or empty.
pub async fn recover_cluster(
    backup_dir: &Path,
    wal_dir: &Path,
    data_dir: &Path,
    system_identifier: Option<&str>,
    pg_bin: Option<&Path>,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<RecoverOutcome> {
    sink.phase(Phase::Check);
    refuse_unless_empty(data_dir)?;
    let base = newest_base(backup_dir, system_identifier)?;
    let m = &base.manifest;
    let major: u32 = m
        .server_version
        .split(['.', ' '])
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let pg_ctl = cluster::server_program("pg_ctl", major, pg_bin).ok_or_else(|| Error::ToolMissing {
        tool: "pg_ctl".into(),
        reason: format!("PostgreSQL {major} server programs are needed: install postgresql-{major} (or set pg_bin)"),
    })?;
    let archive = wal_dir.join(&m.system_identifier);
    sink.log(format!(
        "base backup {} of cluster {}, WAL from {}",
        base.name,
        m.system_identifier,
        archive.display()
    ));
    let data = absolute(data_dir);
    let server = ScratchServer::unpack_into(&base.path, Some(data.clone()), pg_ctl, sink).await?;
    let result = async {
        let conf_len = server.configure_for_cluster_recovery(&archive)?;
        let report = server.recover(sink, cancel).await?;
        server.finish_cluster_recovery(conf_len)?;
        Ok::<_, Error>(report)
    }
    .await;
    match result {
        Ok(report) => Ok(RecoverOutcome {
            data_dir: data,
            base: base.name.clone(),
            system_identifier: m.system_identifier.clone(),
            last_transaction: report.last_transaction,
        }),
        Err(e) => {
            server.stop();
            clear_dir(&data);
            Err(e)
        }
    }
}

fn newest_base(backup_dir: &Path, sysid: Option<&str>) -> Result<BaseBackup> {
    let bases = base_catalog::scan(backup_dir)?;
    bases
        .into_iter()
        .filter(|b| sysid.is_none_or(|s| b.manifest.system_identifier == s))
        .max_by_key(|b| b.manifest.finished_at)
        .ok_or_else(|| {
            Error::Refused(format!(
                "no base backup{} in {}: recover needs one: take them with `pgkeep basebackup`; with [[offsite]] destinations configured, recover fetches them from there itself",
                sysid.map(|s| format!(" of cluster {s}")).unwrap_or_default(),
                base_catalog::base_dir(backup_dir).display()
            ))
        })
}

/// Refuses a data directory that holds anything; names how to move a database aside.
fn refuse_unless_empty(dir: &Path) -> Result<()> {
    let Ok(mut rd) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    if rd.next().is_none() {
        return Ok(());
    }
    let d = dir.display();
    Err(Error::Refused(if dir.join("PG_VERSION").exists() {
        format!("{d} holds a database: nothing was changed; stop its server and move it aside (`mv {d} {d}.old`), then run `pgkeep recover` again")
    } else {
        format!("{d} is not empty: nothing was changed; recover writes only into a new or empty folder (move its files aside first)")
    }))
}

fn clear_dir(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

impl ScratchServer {
    /// Appends pgkeep's temporary recovery settings to postgresql.auto.conf (private port and
    /// socket, trust on that socket only, restore_command from the archive, latest timeline)
    /// and writes recovery.signal. Returns the file's length before, to cut them off again.
    pub fn configure_for_cluster_recovery(&self, archive: &Path) -> Result<u64> {
        let q = |p: &Path| p.display().to_string().replace('\'', "''");
        let auto = self.data.join("postgresql.auto.conf");
        let before = std::fs::metadata(&auto).map(|m| m.len()).unwrap_or(0);
        let hba = self.root.join("pg_hba.conf");
        std::fs::write(&hba, "local all all trust\n")
            .map_err(|e| Error::Other(format!("cannot write {}: {e}", hba.display())))?;
        let archive = q(archive).replace('"', "\\\"");
        let block = format!(
            "\n# pgkeep recover (temporary: removed when recovery is done)\nport = {}\nlisten_addresses = ''\nunix_socket_directories = '{}'\nhba_file = '{}'\nlogging_collector = off\nlog_destination = 'stderr'\nhot_standby = off\nrestore_command = 'cp \"{archive}/%f\" \"%p\"'\nrecovery_target_timeline = 'latest'\n",
            self.port,
            q(&self.root),
            q(&hba),
        );
        let write = |path: &Path, text: &str, append: bool| -> Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(append)
                .write(true)
                .truncate(!append)
                .open(path)
                .map_err(|e| Error::Other(format!("cannot write {}: {e}", path.display())))?;
            f.write_all(text.as_bytes())
                .map_err(|e| Error::Other(format!("cannot write {}: {e}", path.display())))
        };
        if !self.data.join("postgresql.conf").exists() {
            write(
                &self.data.join("postgresql.conf"),
                "# written by pgkeep recover: the old server kept its settings elsewhere\n",
                false,
            )?;
        }
        write(&auto, &block, true)?;
        write(&self.data.join("recovery.signal"), "", false)?;
        let _ = std::fs::remove_file(self.data.join("standby.signal"));
        if nix::unistd::geteuid().is_root() {
            let ok = std::process::Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&self.data)
                .arg(&hba)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                return Err(Error::Other(format!(
                    "cannot give {} to user postgres",
                    self.data.display()
                )));
            }
        }
        Ok(before)
    }

    /// Stops the recovered server cleanly and removes the temporary settings again.
    pub fn finish_cluster_recovery(&self, conf_len: u64) -> Result<()> {
        let out = self
            .user
            .command(&self.pg_ctl)
            .args(["stop", "-m", "fast", "-w", "-D"])
            .arg(&self.data)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::Other(format!("cannot run pg_ctl: {e}")))?;
        if !out.status.success() {
            return Err(Error::ToolFailed {
                tool: "pg_ctl stop".into(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        let auto = self.data.join("postgresql.auto.conf");
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&auto)
            .map_err(|e| Error::Other(format!("cannot open {}: {e}", auto.display())))?;
        f.set_len(conf_len)
            .map_err(|e| Error::Other(format!("cannot restore {}: {e}", auto.display())))?;
        f.sync_all()
            .map_err(|e| Error::Other(format!("cannot fsync {}: {e}", auto.display())))
    }
}
