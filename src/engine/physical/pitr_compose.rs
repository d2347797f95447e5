//! The scratch server of `restore --time` for the compose target: never the live one. A new
//! temporary docker volume gets the base backup (unpacked by a temporary container of the
//! service's image); a temporary container of that image, without network and so without a
//! published port, recovers in it with `archive_mode = off`, an explicit
//! `recovery_target_action = promote`, the time with its offset, and `restore_command` reading
//! the archive mounted read-only. Its only socket is in a private folder of this host mounted
//! into it, so pgkeep queries it there, and pg_dump runs inside it (versions match). The
//! container and volume are removed when [`ComposeScratch`] is dropped (also after an error or
//! a cancel); a killed run's are removed by [`super::abandoned::reap`].

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::abandoned::{self, Marker, Scratch};
pub use super::pitr_compose_target::ScratchContainerTarget;
use super::recover_compose::unpack_into_volume;
use super::recovery_log::RecoveryLog;
use super::scratch_server::RecoveryReport;
use crate::engine::progress::Sink;
use crate::error::{Error, IoContext, Result};
use crate::target::docker::{self, output_of};
use crate::target::Target;

/// Label on the temporary container and volume: the pgkeep process that made them.
pub const LABEL: &str = "pgkeep.pitr";
/// Where the archive is mounted (read-only) in the temporary container.
const ARCHIVE_MOUNT: &str = "/pgkeep-archive";
/// Where segments read from the live server's pg_wal are mounted (read-only).
const LIVE_WAL_MOUNT: &str = "/pgkeep-wal-live";
/// Where the server's socket folder (a folder on this host) is mounted.
pub(super) const SOCKET_MOUNT: &str = "/pgkeep-sock";

/// A temporary container and volume, and a private folder on this host.
#[derive(Debug)]
pub struct ComposeScratch {
    container: String,
    volume: String,
    root: PathBuf,
    docker_removed: bool,
    user: String,
    database: String,
    _marker: Option<Marker>,
}

/// What the compose scratch server recovers.
#[derive(Debug, Clone)]
pub struct ComposePlan<'a> {
    /// The base backup (`.tar.gz`).
    pub base: &'a Path,
    /// The cluster's archive folder on this host.
    pub archive: &'a Path,
    /// `recovery_target_time` with its offset, or None for the end of the WAL.
    pub target_time: Option<String>,
}

impl ComposeScratch {
    /// Records the scratch in the backup dir and creates the private folder; nothing in
    /// docker exists yet. `live` is the compose target's container.
    pub fn create(backup_dir: &Path, live: &dyn Target) -> Result<ComposeScratch> {
        let name = format!(
            "pgkeep-pitr-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_millis()
        );
        let root = std::env::temp_dir().join(&name);
        let marker = abandoned::record(
            backup_dir,
            &Scratch::Container {
                pid: std::process::id() as i32,
                container: name.clone(),
                volume: name.clone(),
                root: root.clone(),
            },
        )?;
        let scratch = ComposeScratch {
            container: name.clone(),
            volume: name,
            root,
            docker_removed: false,
            user: live.user().to_string(),
            database: live.database().to_string(),
            _marker: Some(marker),
        };
        let mkdir = |dir: &Path, mode: u32| -> Result<()> {
            std::fs::create_dir_all(dir).ctx(|| format!("cannot create {}", dir.display()), dir)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
                .ctx(|| format!("cannot set the mode of {}", dir.display()), dir)
        };
        mkdir(&scratch.root, 0o700)?;
        // The container's postgres user (another uid) writes its socket here; the folder
        // around it is this user's only.
        mkdir(&scratch.socket_dir(), 0o777)?;
        mkdir(&scratch.live_wal_dir(), 0o755)?;
        Ok(scratch)
    }

    /// Where segments read from the live server's pg_wal go before recovery starts.
    pub fn live_wal_dir(&self) -> PathBuf {
        self.root.join("wal-live")
    }

    /// Where the recovered database is dumped to.
    pub fn dump_dir(&self) -> PathBuf {
        self.root.join("dump")
    }

    fn socket_dir(&self) -> PathBuf {
        self.root.join("sock")
    }

    /// The temporary container's name.
    pub fn container(&self) -> &str {
        &self.container
    }

    /// Unpacks the base backup into a new volume and starts the recovering container;
    /// waits until the server's log says it promoted. `live_container` names the service's
    /// container (its image and data path are used).
    pub async fn recover(
        &self,
        live_container: &str,
        plan: &ComposePlan<'_>,
        sink: &Sink,
        cancel: &CancellationToken,
    ) -> Result<RecoveryReport> {
        let info = docker::inspect(live_container).await?;
        let image = info["Config"]["Image"].as_str().unwrap_or_default();
        let pgdata = docker::container_env(&info)
            .get("PGDATA")
            .cloned()
            .unwrap_or_else(|| "/var/lib/postgresql/data".into());
        let archive = std::fs::canonicalize(plan.archive).ctx(
            || format!("the archive {}", plan.archive.display()),
            plan.archive,
        )?;
        self.give_live_wal_to_container()?;
        let mut create = tokio::process::Command::new("docker");
        create
            .args(["volume", "create", "--label"])
            .arg(format!("{LABEL}={}", std::process::id()))
            .arg(&self.volume)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        output_of(create, "docker volume create").await?;
        sink.log(format!(
            "unpacking the base backup into the temporary volume {}",
            self.volume
        ));
        let out = unpack_into_volume(image, &self.volume, &pgdata, plan.base).await?;
        if !out.status.success() {
            return Err(Error::Docker(format!(
                "unpacking the base backup into {} failed: {}",
                self.volume,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let mut run = tokio::process::Command::new("docker");
        run.args(["run", "-d", "--name", &self.container, "--label"])
            .arg(format!("{LABEL}={}", std::process::id()))
            .args(["--network", "none", "-u", "postgres", "--entrypoint", "sh"])
            .arg("-e")
            .arg(format!("PGDATA={pgdata}"))
            .arg("-v")
            .arg(format!("{}:{pgdata}", self.volume))
            .arg("-v")
            .arg(format!("{}:{ARCHIVE_MOUNT}:ro", archive.display()))
            .arg("-v")
            .arg(format!(
                "{}:{LIVE_WAL_MOUNT}:ro",
                self.live_wal_dir().display()
            ))
            .arg("-v")
            .arg(format!("{}:{SOCKET_MOUNT}", self.socket_dir().display()))
            .arg(image)
            .arg("-c")
            .arg(recovery_script(plan.target_time.as_deref()))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        output_of(run, "docker run (the recovery container)").await?;
        self.wait_for_promotion(sink, cancel).await
    }

    /// Reads the container's log until the server promoted; a FATAL becomes one line.
    async fn wait_for_promotion(
        &self,
        sink: &Sink,
        cancel: &CancellationToken,
    ) -> Result<RecoveryReport> {
        let mut reader = RecoveryLog::default();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(300)) => {}
                _ = cancel.cancelled() => return Err(Error::Cancelled),
            }
            let text = self.log().await;
            if reader.feed(&text, sink)? {
                return Ok(reader.report);
            }
            let info = docker::inspect(&self.container).await?;
            if info["State"]["Running"].as_bool() != Some(true) {
                let text = self.log().await;
                reader.feed(&text, sink)?;
                return Err(Error::Other(format!(
                    "the recovery container stopped during recovery: {}",
                    crate::engine::local_server::last_lines(&text, 2)
                )));
            }
        }
    }

    /// The server's log so far (the container's output).
    async fn log(&self) -> String {
        let out = tokio::process::Command::new("docker")
            .args(["logs", &self.container])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await;
        match out {
            Ok(o) => format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(_) => String::new(),
        }
    }

    /// The segments read from the live server are this user's 0600 files; the container's
    /// postgres (another uid) reads them through the read-only mount.
    fn give_live_wal_to_container(&self) -> Result<()> {
        let dir = self.live_wal_dir();
        for ent in std::fs::read_dir(&dir).ctx(|| format!("reading {}", dir.display()), &dir)? {
            let path = ent
                .ctx(|| format!("reading {}", dir.display()), &dir)?
                .path();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).ctx(
                || format!("cannot set the mode of {}", path.display()),
                &path,
            )?;
        }
        Ok(())
    }

    /// Removes the container and the volume (idempotent); the private folder stays.
    pub fn remove_docker(&mut self) {
        if self.docker_removed {
            return;
        }
        for args in [
            vec!["rm", "-f", "-v", self.container.as_str()],
            vec!["volume", "rm", "-f", self.volume.as_str()],
        ] {
            let _ = std::process::Command::new("docker")
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        self.docker_removed = true;
    }

    /// A target for the recovering server: queries through its socket on this host,
    /// pg_dump inside the temporary container.
    pub fn target(&self) -> ScratchContainerTarget {
        ScratchContainerTarget {
            container: self.container.clone(),
            socket_dir: self.socket_dir(),
            user: self.user.clone(),
            database: self.database.clone(),
        }
    }
}

impl Drop for ComposeScratch {
    fn drop(&mut self) {
        self.remove_docker();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The shell script the recovery container runs: pgkeep's settings appended last to
/// postgresql.auto.conf (so they win), trust on the private socket only, recovery.signal,
/// then the server in the foreground (its log is the container's output).
fn recovery_script(target_time: Option<&str>) -> String {
    let target = match target_time {
        Some(t) => format!("recovery_target_time = '{t}'\nrecovery_target_inclusive = off\n"),
        None => String::new(),
    };
    format!(
        "cd \"$PGDATA\" || exit 1\n\
         [ -f postgresql.conf ] || : > postgresql.conf\n\
         printf 'local all all trust\\n' > /tmp/pgkeep_hba.conf\n\
         : > /tmp/pgkeep_ident.conf\n\
         cat >> postgresql.auto.conf <<'EOF'\n\
         \n# pgkeep point-in-time recovery: a scratch server, never the live one\n\
         port = 5432\n\
         listen_addresses = ''\n\
         unix_socket_directories = '{SOCKET_MOUNT}'\n\
         archive_mode = off\n\
         archive_command = ''\n\
         hot_standby = off\n\
         logging_collector = off\n\
         log_destination = 'stderr'\n\
         ssl = off\n\
         shared_buffers = '128MB'\n\
         primary_conninfo = ''\n\
         synchronous_standby_names = ''\n\
         cluster_name = 'pgkeep-pitr'\n\
         hba_file = '/tmp/pgkeep_hba.conf'\n\
         ident_file = '/tmp/pgkeep_ident.conf'\n\
         restore_command = 'cp \"{ARCHIVE_MOUNT}/%f\" \"%p\" 2>/dev/null || cp \"{LIVE_WAL_MOUNT}/%f\" \"%p\"'\n\
         {target}\
         recovery_target_timeline = 'latest'\n\
         recovery_target_action = 'promote'\n\
         EOF\n\
         rm -f standby.signal\n\
         : > recovery.signal\n\
         exec postgres -D \"$PGDATA\"\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_script_promotes_archives_nothing_and_reads_the_archive() {
        let s = recovery_script(Some("2026-12-01 14:31:00+01:00"));
        for want in [
            "archive_mode = off",
            "recovery_target_action = 'promote'",
            "recovery_target_time = '2026-12-01 14:31:00+01:00'",
            "restore_command = 'cp \"/pgkeep-archive/%f\" \"%p\"",
            "listen_addresses = ''",
            "exec postgres",
        ] {
            assert!(s.contains(want), "{want} missing in {s}");
        }
        assert!(!recovery_script(None).contains("recovery_target_time ="));
    }
}
