//! `pgkeep demo`: a private PostgreSQL cluster with a generated invoicing database under
//! `./.pgkeep-demo/`, and a pgkeep config pointing at it (direct target, its own backup dir,
//! the server's log file for the log pane). UI-free: progress goes through a `say` callback.
//!
//! Layout of the demo folder (mode 0711, so the server user can pass through):
//! `data/` the cluster and `run/` its socket and `server.log` and `wal/` the WAL archive
//! (all three owned by the server user, 0700); `backups/` (the invoking user's, 0700);
//! `pgkeep.toml`; `port`; `ready` once the data is fully loaded. When the server user
//! cannot enter the demo folder (a project under `/root`, run as root), data, run and wal
//! live in `/var/tmp/pgkeep-demo-<hash>/` instead, linked from the demo folder as `server`.

pub mod load;
pub mod settings;

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::engine::fsutil;
use crate::engine::local_server as server;
use crate::error::{Error, IoContext, Result};
use server::ServerUser;

/// The demo folder's name, in the current directory.
pub const DEMO_DIR: &str = ".pgkeep-demo";
/// The link to the server's files when they cannot live in the demo folder itself.
const SERVER_LINK: &str = "server";

/// The demo database's name (the reference deployment's invoicing application).
pub const DATABASE: &str = "facturatie";

/// Paths inside a demo folder.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The demo folder itself.
    pub root: PathBuf,
    /// Where the server's files are: `root`, or the target of `root/server`.
    pub server_root: PathBuf,
}

impl Layout {
    /// The layout of the demo folder `root` (made absolute against the current directory).
    pub fn new(root: &Path) -> Result<Layout> {
        let root = if root.is_absolute() {
            root.to_path_buf()
        } else {
            std::env::current_dir()
                .ctx(|| "cannot read the current directory".into(), root)?
                .join(root)
        };
        let server_root =
            std::fs::read_link(root.join(SERVER_LINK)).unwrap_or_else(|_| root.clone());
        Ok(Layout { root, server_root })
    }
    /// The cluster's data directory.
    pub fn data(&self) -> PathBuf {
        self.server_root.join("data")
    }
    /// The socket directory, also holding the server log.
    pub fn run(&self) -> PathBuf {
        self.server_root.join("run")
    }
    /// The server's log file (the console's log pane follows it).
    pub fn log_file(&self) -> PathBuf {
        self.run().join("server.log")
    }
    /// Where the server archives WAL segments.
    pub fn wal(&self) -> PathBuf {
        self.server_root.join("wal")
    }
    /// The demo's backup directory.
    pub fn backups(&self) -> PathBuf {
        self.root.join("backups")
    }
    /// The pgkeep config for the demo.
    pub fn config_file(&self) -> PathBuf {
        self.root.join(crate::config::CONFIG_FILE_NAME)
    }
    fn port_file(&self) -> PathBuf {
        self.root.join("port")
    }
    fn ready_marker(&self) -> PathBuf {
        self.root.join("ready")
    }
}

/// A running demo.
#[derive(Debug, Clone)]
pub struct Running {
    /// The config file to open the console with.
    pub config_file: PathBuf,
    /// The server's TCP port on 127.0.0.1.
    pub port: u16,
    /// Whether this call created and loaded the database.
    pub created: bool,
    /// Whether the server was already running.
    pub was_running: bool,
}

/// Creates (the first time) and starts the demo cluster in `layout`, loads the invoicing
/// database once, writes the config; returns where it runs. `pg_bin` overrides where the
/// server programs are.
pub async fn prepare(
    layout: &Layout,
    pg_bin: Option<&Path>,
    say: &dyn Fn(&str),
) -> Result<Running> {
    let mut layout = layout.clone();
    let layout = &mut layout;
    let mut bin = server::find_bin(pg_bin)?;
    let user = ServerUser::detect()?;
    let ready = layout.ready_marker().exists() && layout.data().join("PG_VERSION").exists();
    if ready && pg_bin.is_none() {
        bin = server_bin_for(layout)?; // the major the cluster was made with
    }
    if !ready && layout.root.exists() {
        say("a previous demo setup did not finish: starting over…");
        stop_server(layout, &bin, &user)?;
        for dir in [layout.data(), layout.run(), layout.wal()] {
            remove_dir(&dir)?;
        }
    }
    if !ready {
        say(&format!(
            "creating demo cluster in {}…",
            layout.root.display()
        ));
        create_cluster(layout, &bin, &user, say)?;
    }
    let was_running = server::is_running(&user, &bin, &layout.data());
    let port = match was_running {
        true => server::running_port(&layout.data()).ok_or_else(|| {
            Error::Other(format!(
                "the demo server runs but its port is unknown: run `pgkeep demo --stop`, then `pgkeep demo` ({})",
                layout.data().join("postmaster.pid").display()
            ))
        })?,
        false => {
            if ready {
                say("starting the demo cluster…");
            }
            start_server(layout, &bin, &user)?
        }
    };
    if !ready {
        load::load(&layout.run(), port, DATABASE, say).await?;
        load::start_archiving(&layout.run(), port, layout).await?;
        std::fs::write(layout.ready_marker(), "loaded\n").ctx(
            || "cannot mark the demo as ready".into(),
            &layout.ready_marker(),
        )?;
    }
    fsutil::ensure_private_dir(&layout.backups())?;
    settings::write_config(layout, &bin, port)?;
    Ok(Running {
        config_file: layout.config_file(),
        port,
        created: !ready,
        was_running,
    })
}

/// Stops the demo cluster; false when there was none running.
pub fn stop(layout: &Layout) -> Result<bool> {
    if !layout.data().join("PG_VERSION").exists() {
        return Ok(false);
    }
    let bin = server_bin_for(layout)?;
    stop_server(layout, &bin, &ServerUser::detect()?)
}

/// Stops the demo cluster and deletes the demo folder (data, backups, config); false when
/// there was no demo folder.
pub fn reset(layout: &Layout) -> Result<bool> {
    if !layout.root.exists() {
        return Ok(false);
    }
    stop(layout)?;
    if layout.server_root != layout.root {
        remove_dir(&layout.server_root)?;
    }
    remove_dir(&layout.root)?;
    Ok(true)
}

/// The server programs of the major version the cluster was made with (`data/PG_VERSION`).
fn server_bin_for(layout: &Layout) -> Result<PathBuf> {
    let major = std::fs::read_to_string(layout.data().join("PG_VERSION")).unwrap_or_default();
    let bin = PathBuf::from(format!("/usr/lib/postgresql/{}/bin", major.trim()));
    if bin.join("pg_ctl").is_file() {
        Ok(bin)
    } else {
        server::find_bin(None)
    }
}

fn create_cluster(
    layout: &mut Layout,
    bin: &Path,
    user: &ServerUser,
    say: &dyn Fn(&str),
) -> Result<()> {
    make_dir(&layout.root, 0o711)?;
    if layout.server_root == layout.root {
        if let Err(blocked) = user.check_can_enter(&layout.root) {
            let elsewhere = outside_folder(&layout.root);
            say(&format!(
                "{blocked}: keeping the server's files in {}",
                elsewhere.display()
            ));
            make_dir(&elsewhere, 0o711)?;
            let link = layout.root.join(SERVER_LINK);
            std::os::unix::fs::symlink(&elsewhere, &link)
                .ctx(|| format!("cannot create {}", link.display()), &link)?;
            layout.server_root = elsewhere;
        }
    }
    for dir in [layout.data(), layout.run(), layout.wal()] {
        user.make_dir(&dir)?;
    }
    server::run(
        user.command(&bin.join("initdb"))
            .arg("-D")
            .arg(layout.data())
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]),
        "initdb",
    )?;
    let conf = settings::server_settings(layout);
    let path = layout.data().join("postgresql.conf");
    let mut text =
        std::fs::read_to_string(&path).ctx(|| "cannot read postgresql.conf".into(), &path)?;
    text.push_str(&conf);
    std::fs::write(&path, text).ctx(|| "cannot write postgresql.conf".into(), &path)
}

/// Starts the server on its saved port (a new free one if that is taken); returns the port.
fn start_server(layout: &Layout, bin: &Path, user: &ServerUser) -> Result<u16> {
    let saved = std::fs::read_to_string(layout.port_file())
        .ok()
        .and_then(|s| s.trim().parse::<u16>().ok())
        .filter(|p| server::port_is_free(*p));
    let port = match saved {
        Some(p) => p,
        None => server::free_port()?,
    };
    std::fs::write(layout.port_file(), format!("{port}\n"))
        .ctx(|| "cannot save the demo's port".into(), &layout.port_file())?;
    let started = server::run(
        user.command(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(layout.data())
            .arg("-l")
            .arg(layout.log_file())
            .args(["-w", "-t", "60", "-o", &format!("-p {port}"), "start"]),
        "pg_ctl start",
    );
    if let Err(e) = started {
        let log = std::fs::read_to_string(layout.log_file()).unwrap_or_default();
        return Err(Error::Other(format!(
            "the demo server did not start: {e}; its log says: {} (see {})",
            server::last_lines(&log, 2),
            layout.log_file().display()
        )));
    }
    Ok(port)
}

/// Stops the server if it runs; true when it was running.
fn stop_server(layout: &Layout, bin: &Path, user: &ServerUser) -> Result<bool> {
    if !layout.data().join("PG_VERSION").exists() || !server::is_running(user, bin, &layout.data())
    {
        return Ok(false);
    }
    server::run(
        user.command(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(layout.data())
            .args(["-m", "fast", "-w", "-t", "60", "stop"]),
        "pg_ctl stop",
    )?;
    Ok(true)
}

/// A folder for the server's files outside a demo folder the server user cannot enter,
/// unique per demo folder.
fn outside_folder(root: &Path) -> PathBuf {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(root.as_os_str().as_encoded_bytes());
    PathBuf::from(format!("/var/tmp/pgkeep-demo-{}", &hex::encode(hash)[..12]))
}

/// Creates `dir` (and parents) and gives it `mode`.
fn make_dir(dir: &Path, mode: u32) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .ctx(|| format!("cannot create {}", dir.display()), dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .ctx(|| format!("cannot set the mode of {}", dir.display()), dir)
}

fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(
            format!("cannot remove {}", dir.display()),
            e,
            dir,
        )),
    }
}
