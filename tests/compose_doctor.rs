//! `pgkeep doctor` and `pgkeep logs` against the private PostgreSQL cluster (direct target),
//! and the compose target's errors with the real docker CLI but no reachable engine. The
//! docker end-to-end run (a real dockerd and compose service) is scripts/test-docker.sh.

mod common;

use std::path::Path;
use std::process::Command;

use common::{cluster, complete_backups, pgkeep, stderr, stdout};
use serde_json::Value;

fn doctor_json(db: &str, dir: &Path) -> (i32, Vec<Value>) {
    let out = pgkeep(db, dir, &["doctor", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON ({e}): {}{}",
            stdout(&out),
            stderr(&out)
        )
    });
    assert_eq!(v["ok"].as_bool(), Some(out.status.code() == Some(0)));
    (
        out.status.code().unwrap(),
        v["checks"].as_array().unwrap().clone(),
    )
}

fn check<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check named {name}: {checks:?}"))
}

#[test]
fn doctor_on_the_direct_target_reports_each_check_with_its_fix() {
    let c = cluster();
    let db = c.new_db("doctor");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db_backups");

    let (code, checks) = doctor_json(&db, &dir);
    assert_eq!(code, 1, "{checks:?}");
    let docker = check(&checks, "docker");
    assert_eq!(docker["ok"], true);
    assert!(docker["detail"].as_str().unwrap().contains("skipped"));
    assert_eq!(check(&checks, "database reachable")["ok"], true);
    assert_eq!(check(&checks, "pg_dump version")["ok"], true, "{checks:?}");
    assert_eq!(check(&checks, "WAL archiving")["ok"], true, "{checks:?}");
    let bd = check(&checks, "backup dir");
    assert_eq!(bd["ok"], false);
    assert_eq!(bd["fix"], format!("mkdir -p -m 700 {}", dir.display()));
    let last = check(&checks, "last backup");
    assert_eq!(
        (last["ok"].as_bool(), last["fix"].as_str()),
        (Some(false), Some("pgkeep backup"))
    );

    let out = pgkeep(&db, &dir, &["backup", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(complete_backups(&dir).len(), 1);
    let (_, checks) = doctor_json(&db, &dir);
    assert_eq!(check(&checks, "backup dir")["ok"], true, "{checks:?}");
    assert_eq!(check(&checks, "last backup")["ok"], true, "{checks:?}");
    assert_eq!(check(&checks, "free disk")["ok"], true, "{checks:?}");

    let text = pgkeep(&db, &dir, &["doctor"]);
    let shown = stdout(&text);
    assert!(shown.contains("ok    database reachable"), "{shown}");
    assert!(shown.lines().last().unwrap().contains("checks"), "{shown}");
    assert!(!shown.contains(&c.password) && !stderr(&text).contains(&c.password));
}

#[test]
fn doctor_prints_the_chown_for_a_backup_dir_owned_by_someone_else() {
    if !nix::unistd::geteuid().is_root() {
        return; // needs to give the directory away
    }
    let c = cluster();
    let db = c.new_db("doctor_owner");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db_backups");
    std::fs::create_dir(&dir).unwrap();
    let pg = nix::unistd::User::from_name("postgres").unwrap().unwrap();
    nix::unistd::chown(&dir, Some(pg.uid), Some(pg.gid)).unwrap();
    let (code, checks) = doctor_json(&db, &dir);
    assert_eq!(code, 1);
    let bd = check(&checks, "backup dir");
    assert_eq!(bd["ok"], false);
    let d = dir.display();
    assert_eq!(
        bd["fix"],
        format!("sudo chown 0:0 {d} && sudo chmod go-w {d}")
    );
    assert!(
        bd["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("uid {}", pg.uid)),
        "{bd}"
    );
}

#[test]
fn doctor_with_a_wrong_password_fails_cleanly_without_showing_it() {
    let c = cluster();
    let db = c.new_db("doctor_pw");
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(common::pgkeep_bin());
    cmd.arg("--backup-dir")
        .arg(tmp.path())
        .args(["doctor", "--json"]);
    for (k, v) in c.pgkeep_env(&db) {
        cmd.env(k, v);
    }
    cmd.env("PGPASSWORD", "Wr0ng-pass-word")
        .env("PGKEEP_TARGET", "direct")
        .env_remove("PGKEEP_URL");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let checks = v["checks"].as_array().unwrap();
    let reach = check(checks, "database reachable");
    assert_eq!(reach["ok"], false);
    assert!(
        reach["detail"]
            .as_str()
            .unwrap()
            .contains("password authentication failed"),
        "{reach}"
    );
    assert!(!stdout(&out).contains("Wr0ng-pass-word") && !stderr(&out).contains("Wr0ng-pass-word"));
}

#[test]
fn logs_on_the_direct_target_print_the_servers_log_file() {
    // Issue 13: `pgkeep logs` works on every target; for a server on this host it finds
    // the file the server writes its log to.
    let c = cluster();
    let db = c.new_db("logs_direct");
    let tmp = tempfile::tempdir().unwrap();
    let out = pgkeep(&db, tmp.path(), &["logs", "-n", "5"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 5);
}

/// pgkeep with the compose target in `dir`, docker pointed at an engine that is not there.
fn pgkeep_compose_unreachable(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(common::pgkeep_bin())
        .current_dir(dir)
        .args(args)
        .env(
            "DOCKER_HOST",
            format!("unix://{}/no-docker.sock", dir.display()),
        )
        .env("PGKEEP_TARGET", "compose")
        .env_remove("PGKEEP_URL")
        .env_remove("RUST_BACKTRACE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .output()
        .unwrap()
}

#[test]
fn compose_target_without_a_reachable_engine_fails_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = pgkeep_compose_unreachable(tmp.path(), &["backup"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no compose file here"),
        "{}",
        stderr(&out)
    );

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("docker-compose.yml"),
        tmp.path().join("docker-compose.yml"),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join(".env"),
        "POSTGRES_PASSWORD=Sh0uld-n0t-leak\n",
    )
    .unwrap();
    let out = pgkeep_compose_unreachable(tmp.path(), &["backup"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("pgkeep: error: docker: cannot reach the docker engine"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!err.contains("Sh0uld-n0t-leak"));
    assert!(
        !tmp.path().join("db_backups").exists()
            || complete_backups(&tmp.path().join("db_backups")).is_empty()
    );

    let out = pgkeep_compose_unreachable(tmp.path(), &["doctor"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(text.starts_with("FAIL  docker reachable"), "{text}");
    assert!(
        text.contains("fix: start the docker daemon listening on unix://"),
        "{text}"
    );
}
