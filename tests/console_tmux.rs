//! End to end: the real binary in tmux at 120x40 against the private cluster. Open the
//! console, see the four panes, press `b`, see the backup appear on screen, press `q`.
//! Skipped (with a note) when tmux is not installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket);
        c
    }
    fn screen(&self) -> String {
        let out = self.cmd().args(["capture-pane", "-p"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn keys(&self, keys: &[&str]) {
        self.cmd().arg("send-keys").args(keys).status().unwrap();
    }
    fn alive(&self) -> bool {
        self.cmd()
            .arg("has-session")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }
    fn wait(&self, what: &str, secs: u64, f: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if f(&s) {
                return s;
            }
            assert!(
                Instant::now() < end,
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

fn have_tmux() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn write_script(dir: &Path, db: &str, backups: &Path, err: &Path) -> PathBuf {
    let c = common::cluster();
    let mut env = String::new();
    for (k, v) in c.pgkeep_env(db) {
        env.push_str(&format!("export {k}='{v}'\n"));
    }
    let script = dir.join("console.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n{env}export PGKEEP_TARGET=direct TERM=xterm-256color PATH='{}':\"$PATH\"\nunset PGKEEP_CONFIG PGKEEP_URL\ncd '{}'\nexec '{}' --backup-dir '{}' 2>'{}'\n",
            common::pg_bin().display(),
            dir.display(),
            common::pgkeep_bin().display(),
            backups.display(),
            err.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    script
}

#[test]
fn open_press_b_see_the_backup_press_q() {
    if !have_tmux() {
        eprintln!("note: tmux is not installed; skipping the end-to-end console test");
        return;
    }
    let c = common::cluster();
    let db = c.new_db("console_tmux");
    c.pgbench_init(&db, 1);
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("db_backups");
    let err = dir.path().join("stderr");
    let script = write_script(dir.path(), &db, &backups, &err);
    let tmux = Tmux {
        socket: dir.path().join("tmux.sock"),
    };
    let ok = tmux
        .cmd()
        .args(["new-session", "-d", "-x", "120", "-y", "40"])
        .arg(&script)
        .status()
        .unwrap()
        .success();
    assert!(ok, "tmux could not start");

    let screen = tmux.wait("the console", 30, |s| s.contains("No backups in"));
    for pane in ["status", "backups", "log", "schedule"] {
        assert!(screen.contains(pane), "no {pane} pane:\n{screen}");
    }
    tmux.wait("the status pane", 30, |s| s.contains("server       up"));
    let screen = tmux.screen().to_lowercase();
    for bad in ["error", "refused", "unreachable"] {
        assert!(
            !screen.contains(bad),
            "healthy console shows '{bad}':\n{screen}"
        );
    }

    tmux.keys(&["b"]);
    let screen = tmux.wait("the new backup on screen", 120, |s| {
        s.contains("complete")
            && s.contains("sha256")
            && !common::complete_backups(&backups).is_empty()
    });
    let files = common::complete_backups(&backups);
    assert_eq!(files.len(), 1, "exactly one backup file");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    // The file column may cut the name at the pane's edge; its time stamp is always shown.
    let stamp = &name[db.len() + 1..db.len() + 1 + 19];
    assert!(
        screen.contains(stamp),
        "the backup {name} is listed:\n{screen}"
    );
    assert!(!screen.contains(&c.password), "no password on screen");

    tmux.keys(&["q"]);
    let end = Instant::now() + Duration::from_secs(10);
    while tmux.alive() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!tmux.alive(), "q did not quit:\n{}", tmux.screen());
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    assert!(
        !stderr.contains("panicked"),
        "the console panicked: {stderr}"
    );
}
