//! PostgreSQL server programs on this host, for the demo cluster and the scratch servers of
//! point-in-time recovery: finding them, running them as the right user (`postgres` when
//! pgkeep runs as root, else the invoking user), initdb, start, stop, status, a free port.

use std::net::TcpListener;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, IoContext, Result};

/// The one-line message for a machine without PostgreSQL's server programs.
pub const INSTALL_HINT: &str =
    "install it with `sudo apt-get install postgresql` (or run scripts/demo.sh, which does), then run `pgkeep demo` again";

/// Where the PostgreSQL server programs are: `explicit` when given, else the newest
/// `/usr/lib/postgresql/<major>/bin` that has initdb.
pub fn find_bin(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
            return Ok(dir.to_path_buf());
        }
        return Err(Error::Other(format!(
            "no PostgreSQL server programs (initdb, pg_ctl) in {}: {INSTALL_HINT}",
            dir.display()
        )));
    }
    newest_under(Path::new("/usr/lib/postgresql")).ok_or_else(|| {
        Error::Other(format!(
            "PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin): {INSTALL_HINT}"
        ))
    })
}

/// The `<major>/bin` directory with the highest major version under `root` that has initdb.
fn newest_under(root: &Path) -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// Who runs the server: `postgres` when we are root (PostgreSQL refuses to run as root),
/// else ourselves.
#[derive(Debug, Clone, Copy)]
pub struct ServerUser {
    /// Set when the server must run as another user: (uid, gid) of `postgres`.
    other: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
}

impl ServerUser {
    /// Decides the server user for this process.
    pub fn detect() -> Result<ServerUser> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(ServerUser { other: None });
        }
        match nix::unistd::User::from_name("postgres") {
            Ok(Some(u)) => Ok(ServerUser {
                other: Some((u.uid, u.gid)),
            }),
            _ => Err(Error::Other(format!(
                "running as root, but there is no user `postgres` to run the demo server as: {INSTALL_HINT}"
            ))),
        }
    }

    /// A command running `program` as the server user, in `/` (the server user may not be
    /// allowed into the current directory).
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = match self.other {
            Some(_) => {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.current_dir("/");
        cmd
    }

    /// Creates `dir` with mode 0700, owned by the server user.
    pub fn make_dir(&self, dir: &Path) -> Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .ctx(|| format!("cannot create {}", dir.display()), dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .ctx(|| format!("cannot set the mode of {}", dir.display()), dir)?;
        if let Some((uid, gid)) = self.other {
            nix::unistd::chown(dir, Some(uid), Some(gid)).map_err(|e| {
                Error::Other(format!(
                    "cannot give {} to user postgres: {e}",
                    dir.display()
                ))
            })?;
        }
        Ok(())
    }

    /// Fails with the name of the folder that stops the server user from entering `dir`
    /// (a parent folder only its owner may enter, such as /root).
    pub fn check_can_enter(&self, dir: &Path) -> std::result::Result<(), String> {
        if self.other.is_none() {
            return Ok(());
        }
        let ok = self
            .command(Path::new("test"))
            .arg("-x")
            .arg(dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            return Ok(());
        }
        let blocker = dir
            .ancestors()
            .filter(|a| {
                std::fs::metadata(a)
                    .map(|m| m.permissions().mode() & 0o001 == 0)
                    .unwrap_or(false)
            })
            .last()
            .unwrap_or(dir);
        Err(format!(
            "the demo server runs as user postgres, which may not enter {}",
            blocker.display()
        ))
    }
}

/// Runs `cmd`, turning a failure into [`Error::ToolFailed`] with its last output lines.
pub fn run(cmd: &mut Command, tool: &str) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::ToolFailed {
            tool: tool.into(),
            message: format!("cannot start it: {e}"),
        })?;
    if out.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Err(Error::ToolFailed {
        tool: tool.into(),
        message: last_lines(&text, 3),
    })
}

/// The last `n` non-empty lines of `text`, joined with " | ".
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// Whether the cluster in `data` is running (`pg_ctl status`).
pub fn is_running(user: &ServerUser, bin: &Path, data: &Path) -> bool {
    user.command(&bin.join("pg_ctl"))
        .arg("status")
        .arg("-D")
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The port a running cluster listens on, from line 4 of `postmaster.pid`.
pub fn running_port(data: &Path) -> Option<u16> {
    let text = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
    text.lines().nth(3)?.trim().parse().ok()
}

/// Whether `port` on 127.0.0.1 is free now.
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A TCP port on 127.0.0.1 that is free now.
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::Other(format!("cannot find a free TCP port on 127.0.0.1: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::Other(format!("cannot find a free TCP port on 127.0.0.1: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_major_wins() {
        let tmp = tempfile::tempdir().unwrap();
        for major in ["9", "15", "13", "notes"] {
            let bin = tmp.path().join(major).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            std::fs::write(bin.join("initdb"), "").unwrap();
        }
        std::fs::create_dir_all(tmp.path().join("16/bin")).unwrap(); // client only: no initdb
        assert_eq!(newest_under(tmp.path()), Some(tmp.path().join("15/bin")));
    }

    #[test]
    fn missing_programs_name_the_install_command() {
        let tmp = tempfile::tempdir().unwrap();
        let e = find_bin(Some(tmp.path())).unwrap_err().to_string();
        assert!(e.contains("sudo apt-get install postgresql"), "{e}");
        assert!(newest_under(&tmp.path().join("absent")).is_none());
    }

    #[test]
    fn last_lines_skips_blanks() {
        assert_eq!(last_lines("a\n\nb\nc\n\n", 2), "b | c");
    }
}
