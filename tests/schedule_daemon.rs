//! `pgkeep daemon`: runs the scheduled backup (here `--now`, then waits for the schedule),
//! logs to stdout, and exits cleanly on SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{cluster, complete_backups, pg_bin, pgkeep_bin};

#[test]
fn daemon_backs_up_then_waits_and_stops_on_sigterm() {
    let c = cluster();
    let db = c.new_db("daemon");
    c.psql(
        &db,
        "CREATE TABLE t(x int); INSERT INTO t SELECT generate_series(1, 100)",
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db_backups");
    let cfg = tmp.path().join("pgkeep.toml");
    // schedules that will not fire during the test: once a year, the base backup an hour later
    std::fs::write(
        &cfg,
        "[schedule]\ncron = \"0 3 1 1 *\"\nbasebackup = \"0 4 1 1 *\"\ntimezone = \"UTC\"\n",
    )
    .unwrap();
    let mut cmd = Command::new(pgkeep_bin());
    cmd.arg("--config")
        .arg(&cfg)
        .arg("--backup-dir")
        .arg(&dir)
        .args(["daemon", "--now"]);
    cmd.env_remove("PGKEEP_URL").env("PGKEEP_TARGET", "direct");
    for (k, v) in c.pgkeep_env(&db) {
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
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    // read the log as it comes; stop the daemon (like systemd/docker would) once it waits
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut out = String::new();
    while !out.contains("next backup at") {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "daemon did not back up and wait: {out}"
        );
        if let Ok(line) = rx.recv_timeout(Duration::from_secs(1)) {
            out.push_str(&line);
            out.push('\n');
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "daemon exited early: {out}"
        );
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        out.push_str(&line);
        out.push('\n');
    }
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        status.success(),
        "daemon did not exit cleanly: {status:?}\n{out}\n{err}"
    );
    assert!(out.contains("backup ok:"), "{out}");
    assert!(
        out.contains("next backup at 20") && out.contains("-01-01 03:00 UTC"),
        "{out}"
    );
    assert!(
        out.contains("base backups: 0 4 1 1 * (next at 20") && out.contains("-01-01 04:00 UTC)"),
        "{out}"
    );
    assert!(out.contains("stopping"), "{out}");
    assert_eq!(complete_backups(&dir).len(), 1);
    assert!(!std::fs::read_dir(&dir).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".partial")));
}
