//! Test harness: a private PostgreSQL cluster (initdb + pg_ctl in a temp dir, a free port,
//! a unix socket in the temp dir; run as user `postgres` when the tests run as root), shared
//! by the tests of one test binary, with one fresh database per test. Never a mock.

#![allow(dead_code)]

pub mod moto;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

/// The PostgreSQL server binaries (newest installed major).
pub fn pg_bin() -> PathBuf {
    if let Ok(p) = std::env::var("PGKEEP_TEST_PG_BIN") {
        return PathBuf::from(p);
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed: run scripts/test.sh, which installs it")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
        .expect("no initdb under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Runs a server-side program, as `postgres` when we are root.
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running private cluster.
pub struct Cluster {
    /// Temp dir holding data, socket and log.
    pub dir: PathBuf,
    /// TCP port on 127.0.0.1.
    pub port: u16,
    /// Superuser name.
    pub user: String,
    /// The superuser's password (scram-sha-256 over TCP; trust over the socket).
    pub password: String,
    _tmp: tempfile::TempDir,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static COUNTER: Mutex<u32> = Mutex::new(0);

/// The cluster shared by this test binary, started on first use and stopped at exit.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(Cluster::start)
}

impl Cluster {
    fn start() -> Cluster {
        let c = Cluster::start_unregistered();
        register_stop(&pg_bin(), &c.dir.join("data"));
        c
    }

    fn start_unregistered() -> Cluster {
        let tmp = tempfile::Builder::new()
            .prefix("pgkeep-test-")
            .tempdir()
            .unwrap();
        let dir = tmp.path().to_path_buf();
        let bin = pg_bin();
        let pwfile = dir.join("pw");
        let password = "t3st-Secret-pw".to_string();
        std::fs::write(&pwfile, &password).unwrap();
        if is_root() {
            chown_postgres(&dir);
            chown_postgres(&pwfile);
        }
        let data = dir.join("data");
        let out = as_server_user(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=100",
            dir.display()
        );
        let out = as_server_user(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-w", "-o", &opts, "start"])
            .stdout(Stdio::null())
            .output()
            .expect("pg_ctl runs");
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}",
            std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
        );
        Cluster {
            dir,
            port,
            user: "postgres".into(),
            password,
            _tmp: tmp,
        }
    }

    /// Socket directory (PGHOST for trust access).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The server's log file.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// A TCP URL with the password, to `db`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://{}:{}@127.0.0.1:{}/{}",
            self.user, self.password, self.port, db
        )
    }

    /// Creates a fresh database with a unique name starting with `prefix`.
    pub fn new_db(&self, prefix: &str) -> String {
        let n = {
            let mut c = COUNTER.lock().unwrap();
            *c += 1;
            *c
        };
        let name = format!("{prefix}_{}_{n}", std::process::id());
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        name
    }

    /// Runs SQL through psql over the socket with ON_ERROR_STOP; panics on failure; returns stdout.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self
            .client_cmd("psql")
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                db,
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql failed: {}\n{sql}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A client program (psql, pg_dump, pgbench) set up for the socket, as the superuser.
    pub fn client_cmd(&self, program: &str) -> Command {
        let mut c = Command::new(pg_bin().join(program));
        c.env("PGHOST", &self.dir)
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", &self.user)
            .env_remove("PGPASSWORD")
            .env_remove("PGDATABASE");
        c
    }

    /// `pg_dump --create` of `db` without the random \restrict token lines.
    pub fn dump_create(&self, db: &str) -> String {
        let out = self
            .client_cmd("pg_dump")
            .args(["--create", "-d", db])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        strip_restrict(&String::from_utf8_lossy(&out.stdout))
    }

    /// Fills `db` with pgbench tables at `scale`.
    pub fn pgbench_init(&self, db: &str, scale: u32) {
        let out = self
            .client_cmd("pgbench")
            .args(["-q", "-i", "-s", &scale.to_string(), db])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pgbench -i failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Whether database `db` exists.
    pub fn db_exists(&self, db: &str) -> bool {
        self.psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{db}'"),
        ) == "1"
    }

    /// Environment for running the pgkeep binary against `db` over TCP with the password in
    /// PGPASSWORD (never on the command line).
    pub fn pgkeep_env(&self, db: &str) -> Vec<(String, String)> {
        vec![
            ("PGHOST".into(), "127.0.0.1".into()),
            ("PGPORT".into(), self.port.to_string()),
            ("PGUSER".into(), self.user.clone()),
            ("PGPASSWORD".into(), self.password.clone()),
            ("PGDATABASE".into(), db.into()),
        ]
    }
}

fn chown_postgres(p: &Path) {
    let user = nix::unistd::User::from_name("postgres")
        .unwrap()
        .expect("user postgres exists");
    nix::unistd::chown(p, Some(user.uid), Some(user.gid)).unwrap();
}

/// Stops the cluster when the test process exits (a libc atexit hook: statics are not dropped).
fn register_stop(bin: &Path, data: &Path) {
    static STOP: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    let _ = STOP.set((bin.to_path_buf(), data.to_path_buf()));
    extern "C" fn stop() {
        if let Some((bin, data)) = STOP.get() {
            let _ = as_server_user(&bin.join("pg_ctl"))
                .arg("-D")
                .arg(data)
                .args(["-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = std::fs::remove_dir_all(data.parent().unwrap());
        }
    }
    unsafe {
        nix::libc::atexit(stop);
    }
}

/// The pgkeep binary built for these tests.
pub fn pgkeep_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pgkeep"))
}

/// Runs the pgkeep binary with `args` against `db` of the shared cluster, backups in `backup_dir`.
pub fn pgkeep(db: &str, backup_dir: &Path, args: &[&str]) -> Output {
    pgkeep_cmd(db, backup_dir, args).output().unwrap()
}

/// The command [`pgkeep`] runs (stdin null, no backtraces), to adjust or spawn it.
pub fn pgkeep_cmd(db: &str, backup_dir: &Path, args: &[&str]) -> Command {
    let c = cluster();
    let mut cmd = Command::new(pgkeep_bin());
    cmd.arg("--backup-dir").arg(backup_dir).args(args);
    cmd.env_remove("PGKEEP_URL")
        .env_remove("PGKEEP_CONFIG")
        .env("PGKEEP_TARGET", "direct");
    cmd.env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    for (k, v) in c.pgkeep_env(db) {
        cmd.env(k, v);
    }
    cmd.env(
        "PATH",
        format!(
            "{}:{}",
            pg_bin().display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    );
    cmd.stdin(Stdio::null());
    cmd
}

impl Cluster {
    /// `pg_dump` (plain, no `--create`) of `db` without the random \restrict token lines, to
    /// compare a database with one restored under another name.
    pub fn dump_plain(&self, db: &str) -> String {
        let out = self
            .client_cmd("pg_dump")
            .args(["-d", db])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        strip_restrict(&String::from_utf8_lossy(&out.stdout))
    }

    /// Loads a plain SQL dump into `db` with psql and ON_ERROR_STOP; panics on failure.
    pub fn load_sql(&self, db: &str, sql: &[u8]) {
        use std::io::Write;
        let mut child = self
            .client_cmd("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(sql).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "loading the dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Polls (every 20 ms, up to `secs`) until `sql` returns a non-empty first row; returns it.
    pub fn wait_for(&self, db: &str, sql: &str, secs: u64) -> Option<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            let v = self.psql(db, sql);
            if !v.is_empty() {
                return Some(v);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }
}

/// `text` without pg_dump's random `\restrict` / `\unrestrict` lines.
pub fn strip_restrict(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("\\restrict ") && !l.starts_with("\\unrestrict "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `*.sql.gz.partial` files in `dir`.
pub fn partial_backups(dir: &Path) -> Vec<PathBuf> {
    files_ending(dir, ".partial")
}

/// The files in `dir` whose names end with `suffix`, sorted.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The whole content of a gzip file.
pub fn gunzip(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// stdout of an Output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr of an Output as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The finished backups (`*.sql.gz`) in `dir`.
pub fn complete_backups(dir: &Path) -> Vec<PathBuf> {
    files_ending(dir, ".sql.gz")
}

/// The crontab of `user` as text (empty when there is none), read with the real `crontab`.
pub fn crontab_of(user: &str) -> String {
    let out = Command::new("crontab")
        .args(["-l", "-u", user])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Replaces the crontab of `user` with `text` through the real `crontab -`.
pub fn set_crontab_of(user: &str, text: &str) {
    use std::io::Write;
    let mut child = Command::new("crontab")
        .args(["-u", user, "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

/// A private cluster of its own (not the shared one), stopped and removed when dropped: for
/// tests that need a blank server.
pub struct OwnedCluster(pub Cluster);

impl OwnedCluster {
    /// Starts a fresh cluster.
    pub fn start() -> OwnedCluster {
        OwnedCluster(Cluster::start_unregistered())
    }
}

impl std::ops::Deref for OwnedCluster {
    type Target = Cluster;
    fn deref(&self) -> &Cluster {
        &self.0
    }
}

impl Drop for OwnedCluster {
    fn drop(&mut self) {
        let _ = as_server_user(&pg_bin().join("pg_ctl"))
            .arg("-D")
            .arg(self.0.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A directory owned by the server's user (for a tablespace), removed with `parent`.
pub fn server_owned_dir(parent: &Path, name: &str) -> PathBuf {
    let d = parent.join(name);
    std::fs::create_dir_all(&d).unwrap();
    if is_root() {
        chown_postgres(parent);
        chown_postgres(&d);
    }
    d
}

impl Cluster {
    /// The lines of `pg_dumpall --globals-only` that name one of `roles` (whole words), in
    /// pg_dumpall's order, to compare two servers' globals for the roles a database uses.
    /// Normalised away, as legitimately different between a source and a blank server: every
    /// line about other roles (other tests' roles, the bootstrap superuser with its own
    /// password verifier), and the header comments, `SET` lines and random `\restrict` token.
    pub fn globals_of(&self, roles: &[&str]) -> Vec<String> {
        let out = self
            .client_cmd("pg_dumpall")
            .args(["--globals-only", "-l", "postgres"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_dumpall failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let words = |line: &str| -> Vec<String> {
            line.split(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                .map(str::to_string)
                .collect()
        };
        text.lines()
            .filter(|l| !l.starts_with("--") && !l.starts_with('\\'))
            .filter(|l| words(l).iter().any(|w| roles.contains(&w.as_str())))
            .map(str::to_string)
            .collect()
    }
}

/// A directory offsite destination for a test: `<parent>/nas` and `<parent>/pgkeep.toml`
/// naming it (the same `[[offsite]]` block every offsite test starts from).
pub struct DirOffsite {
    /// The destination folder (what a NAS mount would be).
    pub nas: PathBuf,
    /// The config file.
    pub cfg: PathBuf,
}

impl DirOffsite {
    /// Creates `nas` in `parent` and writes a config of the `[[offsite]]` block followed by
    /// `extra`: more keys of the block (`encrypt_to = [...]`), then any other tables.
    pub fn new(parent: &Path, extra: &str) -> DirOffsite {
        let nas = parent.join("nas");
        std::fs::create_dir(&nas).unwrap();
        let d = DirOffsite {
            nas,
            cfg: parent.join("pgkeep.toml"),
        };
        d.configure(extra);
        d
    }

    /// The `[[offsite]]` block naming the destination.
    pub fn block(&self) -> String {
        format!(
            "[[offsite]]\nkind = \"dir\"\npath = \"{}\"\n",
            self.nas.display()
        )
    }

    /// Rewrites the config: the block followed by `extra` (as in [`DirOffsite::new`]).
    pub fn configure(&self, extra: &str) {
        std::fs::write(&self.cfg, format!("{}{extra}", self.block())).unwrap();
    }

    /// The config's path, for `--config`.
    pub fn cfg(&self) -> &str {
        self.cfg.to_str().unwrap()
    }
}
