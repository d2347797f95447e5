//! A private cluster that archives WAL through `pgkeep wal archive-command`, one per test
//! (archive_mode needs a restart, so the shared test cluster cannot be used).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::pg_bin;

/// A running archiving cluster and its backup dir.
pub struct ArchivingCluster {
    /// Temp dir with data, socket, log.
    pub dir: PathBuf,
    /// Port.
    pub port: u16,
    /// The backup dir (0711, pgkeep's; the server archives into `<it>/wal`, which it owns).
    pub backups: PathBuf,
    _tmp: tempfile::TempDir,
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c.current_dir("/");
        c
    } else {
        Command::new(program)
    }
}

impl ArchivingCluster {
    /// initdb, start with archive_mode=on, then set pgkeep's archive command.
    pub fn start() -> ArchivingCluster {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::Builder::new()
            .prefix("pgkeep-pitr-test-")
            .tempdir()
            .unwrap();
        let dir = tmp.path().to_path_buf();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let backups = dir.join("backups");
        std::fs::create_dir(&backups).unwrap();
        // As the README says: the backup dir is pgkeep's (0711, so the server can reach
        // into it), its wal/ folder the server's.
        std::fs::set_permissions(&backups, std::fs::Permissions::from_mode(0o711)).unwrap();
        let wal = backups.join("wal");
        std::fs::create_dir(&wal).unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o700)).unwrap();
        if is_root() {
            let user = nix::unistd::User::from_name("postgres").unwrap().unwrap();
            nix::unistd::chown(&wal, Some(user.uid), Some(user.gid)).unwrap();
        }
        let data = dir.join("data");
        let out = as_server_user(&pg_bin().join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c wal_level=replica -c archive_mode=on",
            dir.display()
        );
        let out = as_server_user(&pg_bin().join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-w", "-o", &opts, "start"])
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let c = ArchivingCluster {
            dir,
            port,
            backups,
            _tmp: tmp,
        };
        let ac = c.pgkeep("postgres", &["wal", "archive-command"]);
        assert!(
            ac.status.success(),
            "{}",
            String::from_utf8_lossy(&ac.stderr)
        );
        let ac = String::from_utf8(ac.stdout).unwrap();
        c.psql(
            "postgres",
            &format!("ALTER SYSTEM SET archive_command = $q${}$q$", ac.trim()),
        );
        c.psql("postgres", "SELECT pg_reload_conf()");
        c
    }

    /// Runs SQL through psql over the socket; panics on failure; returns stdout trimmed.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(pg_bin().join("psql"))
            .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.dir)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Runs pgkeep (direct target, this cluster, database `db`).
    pub fn pgkeep(&self, db: &str, args: &[&str]) -> Output {
        self.pgkeep_command(db, args).output().unwrap()
    }

    /// The command [`Self::pgkeep`] runs, not started yet (to spawn and kill it).
    pub fn pgkeep_command(&self, db: &str, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pgkeep"));
        c.arg("--backup-dir")
            .arg(&self.backups)
            .args(args)
            .env_remove("PGKEEP_URL")
            .env_remove("PGKEEP_CONFIG")
            .env_remove("RUST_BACKTRACE")
            .env("PGKEEP_TARGET", "direct")
            .env("PGHOST", &self.dir)
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", "postgres")
            .env("PGDATABASE", db)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    pg_bin().display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .stdin(Stdio::null());
        c
    }

    /// The cluster's archive folder (`<backups>/wal/<system identifier>`).
    pub fn archive(&self) -> PathBuf {
        let id = self.psql(
            "postgres",
            "SELECT system_identifier FROM pg_control_system()",
        );
        self.backups.join("wal").join(id)
    }
}

impl Drop for ArchivingCluster {
    fn drop(&mut self) {
        let _ = as_server_user(&pg_bin().join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl ArchivingCluster {
    /// Stops the server at once (as a lost disk would), keeping nothing in memory.
    pub fn crash(&self) {
        let out = as_server_user(&pg_bin().join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Starts a server on `data` (port and socket in `data`'s parent), runs `sql` on `db` with
/// psql, stops it; returns psql's output.
pub fn query_cluster_at(data: &Path, db: &str, sql: &str) -> String {
    let dir = data.parent().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let opts = format!("-p {port} -k {} -c listen_addresses=''", dir.display());
    let out = as_server_user(&pg_bin().join("pg_ctl"))
        .arg("-D")
        .arg(data)
        .arg("-l")
        .arg(dir.join("recovered.log"))
        .args(["-w", "-o", &opts, "start"])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "start of the recovered cluster: {}",
        std::fs::read_to_string(dir.join("recovered.log")).unwrap_or_default()
    );
    let q = Command::new(pg_bin().join("psql"))
        .args(["-X", "-At", "-h"])
        .arg(dir)
        .args([
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-d",
            db,
            "-c",
            sql,
        ])
        .output()
        .unwrap();
    let _ = as_server_user(&pg_bin().join("pg_ctl"))
        .arg("-D")
        .arg(data)
        .args(["-m", "fast", "-w", "stop"])
        .stdout(Stdio::null())
        .status();
    assert!(
        q.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&q.stderr)
    );
    String::from_utf8(q.stdout).unwrap().trim().to_string()
}

/// The stdout of a command that must have succeeded; panics with `what` and its stderr.
pub fn ok(out: &std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
