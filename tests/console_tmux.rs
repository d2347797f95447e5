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

/// Starts the console script in a fresh tmux server at 120x40.
fn start(dir: &Path, script: &Path, name: &str) -> Tmux {
    let tmux = Tmux {
        socket: dir.join(name),
    };
    let ok = tmux
        .cmd()
        .args(["new-session", "-d", "-x", "120", "-y", "40"])
        .arg(script)
        .status()
        .unwrap()
        .success();
    assert!(ok, "tmux could not start");
    tmux
}

fn quit(tmux: &Tmux) {
    tmux.keys(&["q"]);
    let end = Instant::now() + Duration::from_secs(10);
    while tmux.alive() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!tmux.alive(), "q did not quit:\n{}", tmux.screen());
}

fn verified_ok(backup: &Path) -> bool {
    let manifest = PathBuf::from(format!("{}.json", backup.display()));
    std::fs::read_to_string(manifest)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v["verification"]["ok"] == serde_json::Value::Bool(true))
}

/// The README's "press b, then v to verify it" verifies the NEW backup when an older one
/// exists; the job history survives into the next console run (the journal).
#[test]
fn b_then_v_verifies_the_new_backup_and_the_next_console_remembers() {
    if !have_tmux() {
        eprintln!("note: tmux is not installed; skipping the end-to-end console test");
        return;
    }
    let c = common::cluster();
    let db = c.new_db("console_bv");
    c.pgbench_init(&db, 1);
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("db_backups");
    let out = common::pgkeep(&db, &backups, &["backup", "--label", "old"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let older = common::complete_backups(&backups);
    assert_eq!(older.len(), 1);
    std::thread::sleep(Duration::from_millis(1100)); // a new second: a new file name
    let err = dir.path().join("stderr");
    let script = write_script(dir.path(), &db, &backups, &err);

    let tmux = start(dir.path(), &script, "tmux1.sock");
    tmux.wait("the console", 30, |s| s.contains("backups (1/1)"));
    tmux.keys(&["b"]);
    tmux.wait("the new backup, selected", 120, |s| {
        s.contains("backups (1/2)") && common::complete_backups(&backups).len() == 2
    });
    tmux.wait("the backup job to end", 60, |s| !s.contains("c cancels"));
    tmux.keys(&["v"]);
    let files = common::complete_backups(&backups);
    let newest = files.iter().find(|f| !older.contains(f)).unwrap().clone();
    let end = Instant::now() + Duration::from_secs(120);
    while !verified_ok(&newest) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        verified_ok(&newest),
        "v after b did not verify the new backup {}:\n{}",
        newest.display(),
        tmux.screen()
    );
    assert!(
        !verified_ok(&older[0]),
        "the older backup was verified instead"
    );
    tmux.wait("the verify job to end", 60, |s| !s.contains("c cancels"));
    quit(&tmux);

    let journal = backups.join(".pgkeep-journal.jsonl");
    let mode = std::fs::metadata(&journal).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600,
        "the journal is private"
    );

    let tmux = start(dir.path(), &script, "tmux2.sock");
    tmux.wait("the second console", 30, |s| s.contains("backups (1/2)"));
    tmux.keys(&["J"]);
    let screen = tmux.wait("the job history from the journal", 10, |s| {
        s.contains("job history") && s.contains("verification of") && s.contains("backup of")
    });
    assert!(
        screen.contains(&format!("$ pgkeep --backup-dir {} ", backups.display()))
            || screen.contains("$ pgkeep"),
        "the short command is shown:\n{screen}"
    );
    assert!(
        !screen.contains("postgresql://"),
        "no URL in the command:\n{screen}"
    );
    tmux.keys(&["J"]); // closes the history (Esc then q could read as Alt-q)
    std::thread::sleep(Duration::from_millis(300));
    quit(&tmux);
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    assert!(
        !stderr.contains("panicked"),
        "the console panicked: {stderr}"
    );
}
