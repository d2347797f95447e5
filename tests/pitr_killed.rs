//! A `restore --time` killed with SIGKILL leaves its scratch server running and its temp
//! folder behind; the next pgkeep command finds them through the marker the restore wrote,
//! stops the server and removes the folder.

mod common;
mod pitr_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pitr_support::ArchivingCluster;

/// Whether `pid` is a live (not zombie) process.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z')))
        .unwrap_or(false)
}

/// The data directory a marker in `backups` names, once there is one.
fn marked_data_dir(backups: &Path) -> Option<PathBuf> {
    let rd = std::fs::read_dir(backups.join(".scratch-servers")).ok()?;
    rd.flatten().find_map(|e| {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
        v["data"].as_str().map(PathBuf::from)
    })
}

#[test]
fn a_killed_restore_to_a_moment_leaves_nothing_running_after_the_next_command() {
    let c = ArchivingCluster::start();
    c.psql("postgres", "CREATE DATABASE shop");
    c.psql(
        "shop",
        "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 200000) g",
    );
    let base = c.pgkeep("shop", &["basebackup"]);
    assert!(
        base.status.success(),
        "{}",
        String::from_utf8_lossy(&base.stderr)
    );
    c.psql("shop", "DELETE FROM t WHERE id > 100000");

    let mut child = c
        .pgkeep_command(
            "shop",
            &["restore", "--time", "latest", "--yes", "--no-safety-backup"],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill pgkeep itself as soon as its scratch server runs.
    let deadline = Instant::now() + Duration::from_secs(120);
    let (data, postmaster) = loop {
        assert!(
            Instant::now() < deadline,
            "the scratch server never started"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "restore ended before it could be killed"
        );
        let found = marked_data_dir(&c.backups).and_then(|d| {
            let pid = std::fs::read_to_string(d.join("postmaster.pid")).ok()?;
            let pid: i32 = pid.lines().next()?.trim().parse().ok()?;
            Some((d, pid))
        });
        if let Some(f) = found {
            break f;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let root = data.parent().unwrap().to_path_buf();
    assert!(
        alive(postmaster),
        "the scratch server should outlive a SIGKILLed pgkeep"
    );
    assert!(root.exists());

    let out = c.pgkeep("shop", &["cleanup", "--yes"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "cleanup failed: {said}");
    assert!(
        said.contains("removed the scratch server(s) of a killed point-in-time restore")
            && said.contains(&root.display().to_string()),
        "{said}"
    );
    assert!(
        !alive(postmaster),
        "the abandoned scratch server still runs"
    );
    assert!(!root.exists(), "{} is still there", root.display());
    assert!(
        marked_data_dir(&c.backups).is_none(),
        "the marker is still there"
    );
    // The live database was not touched by the killed run.
    assert_eq!(c.psql("shop", "SELECT count(*) FROM t"), "100000");
}
