//! End to end: the real console in tmux, run as a test user (`pgkeepconsole`, created when
//! missing; never the developer's crontab): edit the schedule in the schedule pane, see it
//! saved to pgkeep.toml, install it into the user's real crontab only after `y`, remove it
//! again; the user's own crontab line stays. Skipped (with a note) without root, tmux or cron.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const USER: &str = "pgkeepconsole";

fn ok(cmd: &mut Command) -> bool {
    cmd.output().map(|o| o.status.success()).unwrap_or(false)
}

fn ensure_user() -> bool {
    if !nix::unistd::geteuid().is_root()
        || !ok(Command::new("tmux").arg("-V"))
        || !ok(Command::new("which").arg("crontab"))
    {
        eprintln!("note: needs root, tmux and crontab; console schedule test skipped");
        return false;
    }
    if !ok(Command::new("id").arg(USER)) {
        assert!(ok(Command::new("useradd").args(["-m", USER])), "useradd");
    }
    true
}

fn crontab_text() -> String {
    common::crontab_of(USER)
}

fn set_crontab(text: &str) {
    common::set_crontab_of(USER, text)
}

struct Tmux(std::path::PathBuf);

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.0);
        c
    }
    fn keys(&self, keys: &[&str]) {
        self.cmd().arg("send-keys").args(keys).status().unwrap();
    }
    fn text(&self, s: &str) {
        self.cmd().args(["send-keys", "-l", s]).status().unwrap();
    }
    fn wait(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self.cmd().args(["capture-pane", "-p"]).output().unwrap();
            let s = String::from_utf8_lossy(&out.stdout).into_owned();
            if f(&s) {
                return s;
            }
            assert!(Instant::now() < end, "timed out waiting for {what}:\n{s}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

fn script(dir: &Path, db: &str) -> std::path::PathBuf {
    let c = common::cluster();
    let mut env = String::new();
    for (k, v) in c.pgkeep_env(db) {
        env.push_str(&format!("export {k}='{v}'\n"));
    }
    let p = dir.join("console.sh");
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\n{env}export PGKEEP_TARGET=direct TERM=xterm-256color PATH='{}':\"$PATH\"\nunset PGKEEP_CONFIG PGKEEP_URL\ncd '{}'\nexec '{}' --backup-dir '{}/db_backups' 2>'{}/stderr'\n",
            common::pg_bin().display(),
            dir.display(),
            common::pgkeep_bin().display(),
            dir.display(),
            dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    p
}

#[test]
fn edit_save_install_after_yes_and_remove_from_the_console() {
    if !ensure_user() {
        return;
    }
    let c = common::cluster();
    let db = c.new_db("console_sched");
    let d = tempfile::Builder::new()
        .prefix("pgkeep-console-sched-")
        .tempdir()
        .unwrap();
    let dir = d.path();
    let toml = "# the operator's settings\n[schedule]\ncron = \"0 2 * * *\"  # nightly\n";
    std::fs::write(dir.join("pgkeep.toml"), toml).unwrap();
    let sh = script(dir, &db);
    let user = nix::unistd::User::from_name(USER).unwrap().unwrap();
    for p in [dir.to_path_buf(), dir.join("pgkeep.toml"), sh.clone()] {
        nix::unistd::chown(&p, Some(user.uid), Some(user.gid)).unwrap();
    }
    let mine = "# mine\n17 4 * * * /usr/bin/true\n";
    set_crontab(mine);

    let tmux = Tmux(dir.join("tmux.sock"));
    let started = tmux
        .cmd()
        .args([
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "40",
            "runuser",
            "-u",
            USER,
            "--",
        ])
        .arg(&sh)
        .status()
        .unwrap()
        .success();
    assert!(started, "tmux could not start");
    tmux.wait("the schedule pane", |s| s.contains("NOT installed"));

    // backups → log → schedule, edit, a bad expression first
    tmux.keys(&["Tab", "Tab", "e"]);
    tmux.wait("the editor", |s| s.contains("editing"));
    tmux.keys(&["BSpace"; 9]);
    tmux.text("0 3 * * 9");
    tmux.wait("the parser's error", |s| s.contains("out of range"));
    tmux.keys(&["Enter"]);
    tmux.wait("the refusal", |s| s.contains("not saved"));
    tmux.keys(&["BSpace"]);
    tmux.text("0");
    tmux.wait("the words", |s| s.contains("Sundays at 03:00"));
    tmux.keys(&["Enter"]);
    tmux.wait("saved", |s| s.contains("saved to the config"));
    let saved = std::fs::read_to_string(dir.join("pgkeep.toml")).unwrap();
    assert_eq!(saved, toml.replace("0 2 * * *", "0 3 * * 0"));

    // install: n refuses, y installs
    tmux.keys(&["i"]);
    tmux.wait("the question", |s| s.contains("yes (y)"));
    tmux.keys(&["n"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(crontab_text(), mine, "n changes nothing");
    tmux.keys(&["i"]);
    tmux.wait("the question", |s| s.contains("yes (y)"));
    tmux.keys(&["y"]);
    tmux.wait("installed", |s| s.contains("installed, matches"));
    let table = crontab_text();
    assert!(table.starts_with(mine), "{table}");
    assert!(table.contains("# BEGIN pgkeep"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("0 3 * * 0 cd ") && l.contains(" backup --quiet --scheduled")),
        "{table}"
    );

    tmux.keys(&["u"]);
    tmux.wait("the question", |s| s.contains("Remove pgkeep's schedule"));
    tmux.keys(&["y"]);
    tmux.wait("removed", |s| s.contains("NOT installed"));
    assert_eq!(crontab_text(), mine);
    tmux.keys(&["q"]);
    let stderr = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
    assert!(!stderr.contains("panicked"), "{stderr}");
}
