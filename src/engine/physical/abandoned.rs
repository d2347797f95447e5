//! Scratch servers of a point-in-time restore that was killed (SIGKILL, a power cut) before
//! it could stop them: every `restore --time` records its scratch server in a marker file,
//! `<backup dir>/.scratch-servers/<pid>-<n>.json`, before it creates anything, and removes
//! the marker after it removed the server. A marker whose process is gone names an abandoned
//! one: [`reap`] (run by the next pgkeep command and by `pgkeep cleanup`) stops it — the
//! postmaster of the temporary data directory, or the temporary container and volume of the
//! compose target — and removes its temp folder; what cannot be removed keeps its marker.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engine::fsutil;
use crate::engine::leftovers::pid_alive;
use crate::error::{Error, IoContext, Result};

/// The folder of the markers inside the backup dir.
pub const MARKER_DIR: &str = ".scratch-servers";

/// What a scratch server left behind when its pgkeep is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scratch {
    /// A server on this host in a temporary data directory (direct target).
    Server {
        /// The pgkeep process that started it.
        pid: i32,
        /// The private temp folder (holds the data directory, socket and log).
        root: PathBuf,
        /// The data directory.
        data: PathBuf,
    },
    /// A temporary container and volume (compose target).
    Container {
        /// The pgkeep process that started it.
        pid: i32,
        /// The container's name.
        container: String,
        /// The volume's name.
        volume: String,
        /// The private temp folder on this host (socket, dump).
        root: PathBuf,
    },
}

impl Scratch {
    fn pid(&self) -> i32 {
        match self {
            Scratch::Server { pid, .. } | Scratch::Container { pid, .. } => *pid,
        }
    }
}

/// A written marker; removed when dropped (after what it names is gone).
#[derive(Debug)]
pub struct Marker {
    path: PathBuf,
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Records `scratch` in the backup dir before it is created.
pub fn record(backup_dir: &Path, scratch: &Scratch) -> Result<Marker> {
    let dir = backup_dir.join(MARKER_DIR);
    fsutil::ensure_private_dir(&dir)?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("{}-{n}.json", std::process::id()));
    let text = serde_json::to_vec_pretty(scratch).map_err(|e| Error::Other(e.to_string()))?;
    fsutil::write_atomic(&path, &text).ctx(|| format!("writing {}", path.display()), &path)?;
    Ok(Marker { path })
}

/// What [`reap`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reaped {
    /// What was stopped and removed.
    pub removed: Vec<String>,
    /// What could not be removed, with why (their markers stay for the next try).
    pub failed: Vec<String>,
}

/// Stops and removes every scratch server whose pgkeep process is gone. Markers of running
/// processes are left alone; a marker stays when its server could not be removed.
pub fn reap(backup_dir: &Path) -> Reaped {
    let mut out = Reaped::default();
    let Ok(rd) = std::fs::read_dir(backup_dir.join(MARKER_DIR)) else {
        return out;
    };
    for ent in rd.flatten() {
        let path = ent.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Ok(scratch) = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Scratch>(&b).map_err(|e| e.to_string()))
        else {
            continue;
        };
        if pid_alive(scratch.pid()) {
            continue;
        }
        match remove(&scratch) {
            Ok(line) => {
                out.removed.extend(line);
                let _ = std::fs::remove_file(&path);
            }
            Err(why) => out.failed.push(why),
        }
    }
    out.removed.sort();
    out
}

/// One line naming what [`reap`] removed and could not remove, if anything.
pub fn reaped_line(r: &Reaped) -> Option<String> {
    let mut parts = Vec::new();
    if !r.removed.is_empty() {
        parts.push(format!(
            "removed the scratch server(s) of a killed point-in-time restore: {}",
            r.removed.join("; ")
        ));
    }
    if !r.failed.is_empty() {
        parts.push(format!(
            "could not remove the scratch server(s) of a killed point-in-time restore: {}",
            r.failed.join("; ")
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Removes what `scratch` names; Ok(None) when nothing of it was left.
fn remove(scratch: &Scratch) -> Result<Option<String>, String> {
    match scratch {
        Scratch::Server { root, data, .. } => {
            let stopped = stop_postmaster(data)?;
            let existed = root.exists();
            if existed {
                std::fs::remove_dir_all(root)
                    .map_err(|e| format!("{} ({e}): remove it by hand", root.display()))?;
            }
            Ok((stopped || existed).then(|| {
                let how = if stopped {
                    "stopped the server in "
                } else {
                    ""
                };
                format!("{how}{}", root.display())
            }))
        }
        Scratch::Container {
            container,
            volume,
            root,
            ..
        } => {
            let rm = docker(&["rm", "-f", "-v", container]).map_err(|e| {
                format!("container {container} ({e}): remove it with `docker rm -f -v {container}`")
            })?;
            let vol = docker(&["volume", "rm", "-f", volume]).map_err(|e| {
                format!("volume {volume} ({e}): remove it with `docker volume rm {volume}`")
            })?;
            let _ = std::fs::remove_dir_all(root);
            Ok((rm || vol).then(|| format!("container {container} and volume {volume}")))
        }
    }
}

/// Runs docker; Ok(true) when it removed something, Ok(false) when there was nothing to
/// remove, Err with docker's words otherwise.
fn docker(args: &[&str]) -> Result<bool, String> {
    let out = std::process::Command::new("docker")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run docker: {e}"))?;
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if out.status.success() {
        Ok(!said.is_empty())
    } else if err.contains("No such") || err.contains("no such") {
        Ok(false)
    } else {
        Err(crate::engine::pgtools::last_lines(&err, 1))
    }
}

/// Stops the postmaster of `data` (immediate shutdown: nothing in it is kept) when its
/// `postmaster.pid` names a running postgres process of that very directory; Ok(false) when
/// none runs, Err when it may not be signalled (another user's server).
fn stop_postmaster(data: &Path) -> Result<bool, String> {
    let Ok(text) = std::fs::read_to_string(data.join("postmaster.pid")) else {
        return Ok(false);
    };
    let mut lines = text.lines();
    let Some(pid) = lines.next().and_then(|l| l.trim().parse::<i32>().ok()) else {
        return Ok(false);
    };
    if lines.next().map(Path::new) != Some(data) || !is_postgres(pid) {
        return Ok(false);
    }
    let pid = nix::unistd::Pid::from_raw(pid);
    use nix::sys::signal::{kill, Signal};
    if let Err(e) = kill(pid, Signal::SIGQUIT) {
        return Err(format!(
            "the server in {} (pid {pid}) cannot be stopped ({e}): run pgkeep as root or as the server's user, or stop it with `pg_ctl stop -m immediate -D {}`",
            data.display(),
            data.display()
        ));
    }
    for _ in 0..100 {
        if !is_postgres(pid.as_raw()) {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = kill(pid, Signal::SIGKILL);
    Ok(true)
}

/// Whether `pid` is a running postgres (postmaster) process.
fn is_postgres(pid: i32) -> bool {
    pid > 0
        && std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
            let argv0 = c.split(|b| *b == 0).next().unwrap_or_default();
            argv0.ends_with(b"postgres") || argv0.ends_with(b"postmaster")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_of_running_processes_stay_dead_ones_go() {
        let d = tempfile::tempdir().unwrap();
        let left = d.path().join("left");
        std::fs::create_dir_all(left.join("data")).unwrap();
        let dead = Scratch::Server {
            pid: 999_999_999,
            root: left.clone(),
            data: left.join("data"),
        };
        let mine = Scratch::Server {
            pid: std::process::id() as i32,
            root: d.path().join("mine"),
            data: d.path().join("mine/data"),
        };
        let kept = record(d.path(), &mine).unwrap();
        let gone = record(d.path(), &dead).unwrap();
        std::mem::forget(gone);
        let r = reap(d.path());
        assert_eq!(r.removed, [left.display().to_string()]);
        assert!(r.failed.is_empty());
        assert!(!left.exists());
        let markers = std::fs::read_dir(d.path().join(MARKER_DIR))
            .unwrap()
            .count();
        assert_eq!(markers, 1);
        drop(kept);
        assert_eq!(
            std::fs::read_dir(d.path().join(MARKER_DIR))
                .unwrap()
                .count(),
            0
        );
    }
}
