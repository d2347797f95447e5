//! A scratch PostgreSQL server for point-in-time recovery: a base backup unpacked into a
//! private temporary folder, started on a free port with its socket in that folder, WAL read
//! from the archive, archiving off. It is never the live server, and it is stopped and
//! deleted when dropped (also after an error or a cancel).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::engine::local_server::{free_port, ServerUser};
use crate::engine::progress::Sink;
use crate::error::{Error, Result};

/// A running (or starting) scratch server.
#[derive(Debug)]
pub struct ScratchServer {
    pub(super) root: PathBuf,
    /// Its data directory.
    pub data: PathBuf,
    /// The folder holding its unix socket.
    pub socket_dir: PathBuf,
    /// Its port.
    pub port: u16,
    pub(super) user: ServerUser,
    pub(super) pg_ctl: PathBuf,
    /// Set for a data directory that is not inside `root` and stays after drop.
    pub(super) keep_data: bool,
}

/// How the scratch server should recover.
#[derive(Debug, Clone)]
pub struct RecoverySettings {
    /// The archive folder of the cluster (`<wal dir>/<system identifier>`).
    pub archive: PathBuf,
    /// `recovery_target_time` with its offset, or None for the end of the archive.
    pub target_time: Option<String>,
    /// Whether segments read from the live server's pg_wal are in [`ScratchServer::live_wal_dir`].
    pub use_live_wal: bool,
}

/// What the server said about the recovery.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    /// "recovery stopping before commit of transaction ..., time ...".
    pub stopped_before: Option<String>,
    /// "last completed transaction was at log time ...".
    pub last_transaction: Option<String>,
}

impl ScratchServer {
    /// Unpacks `base` (a `.tar.gz`) into a new private folder under the system's temp dir.
    pub async fn unpack(base: &Path, pg_ctl: PathBuf, sink: &Sink) -> Result<ScratchServer> {
        Self::unpack_into(base, None, pg_ctl, sink).await
    }

    /// Unpacks `base` into `data` (a new or empty folder that stays after drop), or into a
    /// new folder inside the private temp folder when `data` is None.
    pub async fn unpack_into(
        base: &Path,
        data: Option<PathBuf>,
        pg_ctl: PathBuf,
        sink: &Sink,
    ) -> Result<ScratchServer> {
        let server = Self::create(data, pg_ctl)?;
        server.unpack_base(base, sink).await?;
        Ok(server)
    }

    /// Creates the private temp folder (and `data`, or a data folder inside it when None)
    /// and picks a free port; nothing is unpacked yet.
    pub fn create(data: Option<PathBuf>, pg_ctl: PathBuf) -> Result<ScratchServer> {
        let user = ServerUser::detect()?;
        let root = std::env::temp_dir().join(format!(
            "pgkeep-pitr-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_millis()
        ));
        user.make_dir(&root)?;
        let server = ScratchServer {
            keep_data: data.is_some(),
            data: data.unwrap_or_else(|| root.join("data")),
            socket_dir: root.clone(),
            root,
            port: free_port()?,
            user,
            pg_ctl,
        };
        server.user.make_dir(&server.data)?;
        server.user.make_dir(&server.live_wal_dir())?;
        Ok(server)
    }

    /// The private temp folder (removed on drop).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Unpacks `base` (a `.tar.gz`) into the data folder.
    pub async fn unpack_base(&self, base: &Path, sink: &Sink) -> Result<()> {
        let server = self;
        sink.log(format!(
            "unpacking base backup into {}",
            server.data.display()
        ));
        let file = std::fs::File::open(base)
            .map_err(|e| Error::Other(format!("cannot open {}: {e}", base.display())))?;
        let mut cmd = server.user.command(Path::new("tar"));
        cmd.arg("-xzf").arg("-").arg("-C").arg(&server.data);
        cmd.stdin(Stdio::from(file))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .map_err(|e| Error::Other(e.to_string()))?
            .map_err(|e| Error::Other(format!("cannot run tar: {e}")))?;
        if !out.status.success() {
            return Err(Error::ToolFailed {
                tool: "tar".into(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(())
    }

    /// Writes the recovery settings (they come last in postgresql.auto.conf, so they win
    /// over the live server's own), a trust-only pg_hba.conf for the private socket, and
    /// recovery.signal.
    pub fn configure(&self, s: &RecoverySettings) -> Result<()> {
        let q = |p: &Path| p.display().to_string().replace('\'', "''");
        let mut conf = String::from(
            "\n# pgkeep point-in-time recovery: a scratch server, never the live one\n",
        );
        let _ = writeln!(conf, "port = {}", self.port);
        let _ = writeln!(conf, "listen_addresses = ''");
        let _ = writeln!(conf, "unix_socket_directories = '{}'", q(&self.socket_dir));
        conf.push_str("archive_mode = off\narchive_command = ''\nhot_standby = off\n");
        conf.push_str("logging_collector = off\nlog_destination = 'stderr'\nssl = off\n");
        conf.push_str(
            "shared_buffers = '128MB'\nprimary_conninfo = ''\nsynchronous_standby_names = ''\n",
        );
        conf.push_str("cluster_name = 'pgkeep-pitr'\n");
        let _ = writeln!(conf, "hba_file = '{}'", q(&self.data.join("pg_hba.conf")));
        let _ = writeln!(
            conf,
            "ident_file = '{}'",
            q(&self.data.join("pg_ident.conf"))
        );
        let archive = q(&s.archive).replace('"', "\\\"");
        let mut restore = format!("cp \"{archive}/%f\" \"%p\"");
        if s.use_live_wal {
            let live = q(&self.live_wal_dir()).replace('"', "\\\"");
            restore = format!("{restore} 2>/dev/null || cp \"{live}/%f\" \"%p\"");
        }
        let _ = writeln!(conf, "restore_command = '{restore}'");
        if let Some(t) = &s.target_time {
            let _ = writeln!(conf, "recovery_target_time = '{t}'");
            conf.push_str("recovery_target_inclusive = off\n");
        }
        conf.push_str("recovery_target_timeline = 'latest'\nrecovery_target_action = 'promote'\n");
        let write = |name: &str, text: &str, append: bool| -> Result<()> {
            use std::io::Write;
            let path = self.data.join(name);
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(append)
                .write(true)
                .truncate(!append)
                .open(&path)
                .map_err(|e| Error::Other(format!("cannot write {}: {e}", path.display())))?;
            f.write_all(text.as_bytes())
                .map_err(|e| Error::Other(format!("cannot write {}: {e}", path.display())))
        };
        if !self.data.join("postgresql.conf").exists() {
            write(
                "postgresql.conf",
                "# written by pgkeep: the live server keeps its own elsewhere\n",
                false,
            )?;
        }
        write("postgresql.auto.conf", &conf, true)?;
        write("pg_hba.conf", "local all all trust\n", false)?;
        write("pg_ident.conf", "", true)?;
        write("recovery.signal", "", false)?;
        let _ = std::fs::remove_file(self.data.join("standby.signal"));
        // Files written by root: hand them to the server user.
        self.give_to_server_user()
    }

    /// Where segments read from the live server's pg_wal go.
    pub fn live_wal_dir(&self) -> PathBuf {
        self.root.join("wal-live")
    }

    fn give_to_server_user(&self) -> Result<()> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(());
        }
        let status = std::process::Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&self.data)
            .arg(self.live_wal_dir())
            .status()
            .map_err(|e| Error::Other(format!("chown: {e}")))?;
        if !status.success() {
            return Err(Error::Other(format!(
                "cannot give {} to user postgres",
                self.data.display()
            )));
        }
        Ok(())
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.root.join("server.log")
    }

    /// Starts the server and waits until recovery ended and it accepts connections, reading
    /// its log; each known FATAL becomes one line with the fix.
    pub async fn recover(&self, sink: &Sink, cancel: &CancellationToken) -> Result<RecoveryReport> {
        let log = self.log_path();
        let mut cmd = self.user.command(&self.pg_ctl);
        cmd.arg("start")
            .arg("-W")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&log);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let out = cmd
            .output()
            .map_err(|e| Error::Other(format!("cannot run pg_ctl: {e}")))?;
        if !out.status.success() {
            return Err(Error::ToolFailed {
                tool: "pg_ctl".into(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        let mut reader = super::recovery_log::RecoveryLog::default();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = cancel.cancelled() => return Err(Error::Cancelled),
            }
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if reader.feed(&text, sink)? {
                return Ok(reader.report);
            }
            if !self.running() {
                let tail = crate::engine::local_server::last_lines(&text, 2);
                return Err(Error::Other(format!(
                    "the scratch server stopped during recovery: {tail}"
                )));
            }
        }
    }

    pub(super) fn running(&self) -> bool {
        self.data.join("postmaster.pid").exists()
    }

    /// Stops the server (immediately: nothing in it is kept); its folder stays until drop.
    /// A kept data directory is stopped cleanly by [`Self::finish_cluster_recovery`] first.
    pub fn stop(&self) {
        if self.running() {
            let _ = self
                .user
                .command(&self.pg_ctl)
                .args(["stop", "-m", "immediate", "-w", "-D"])
                .arg(&self.data)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for ScratchServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.root);
        if !self.keep_data {
            let _ = std::fs::remove_dir_all(&self.data);
        }
    }
}

/// One line with the fix for a FATAL the recovering server logged.
pub fn explain_fatal(line: &str) -> String {
    let msg = line
        .find("FATAL:")
        .or(line.find("PANIC:"))
        .map(|i| line[i..].trim())
        .unwrap_or(line);
    let fix = if msg.contains("recovery ended before configured recovery target was reached") {
        "the archive ends before the target time: WAL is missing (see `pgkeep status` for the window) or the archiver is behind; choose an earlier time"
    } else if msg.contains("before consistent recovery point") {
        "the target lies before the base backup finished: choose a later time or an older base backup"
    } else if msg.contains("could not locate required checkpoint record")
        || msg.contains("could not find redo location")
    {
        "the WAL the base backup starts with is not in the archive: take a new `pgkeep basebackup`"
    } else if msg.contains("is not a child of this server's history") {
        "the archive's timelines do not lead from the base backup to the target: take a new `pgkeep basebackup` on the current timeline"
    } else if msg.contains("could not create lock file") || msg.contains("could not bind") {
        "the scratch server could not start on its port or socket: run the restore again"
    } else {
        "the point-in-time recovery failed; the live database was not changed"
    };
    format!("the recovery server said \"{msg}\": {fix}")
}
