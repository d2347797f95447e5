//! `pgkeep cleanup`: lists the databases restores left behind (`_pre_restore_` and abandoned
//! scratch databases), refuses to drop without consent, drops them with `--yes`.
//! (Its own test binary, so its own cluster: cleanup is server-wide.)

mod common;
mod restore_support;

use common::{cluster, pgkeep, stderr, stdout};
use restore_support::{backup, databases_like};

#[test]
fn cleanup_lists_asks_and_drops_leftovers() {
    let c = cluster();
    let db = c.new_db("clean");
    c.psql(&db, "CREATE TABLE t (a int); INSERT INTO t VALUES (1)");
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    let out = pgkeep(
        &db,
        dir.path(),
        &["restore", "latest", "--yes", "--no-safety-backup"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // A scratch database whose pgkeep is gone (as after a SIGKILL).
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let abandoned = format!("{db}_pgkeep_scratch_{}_0", gone.id());
    c.psql("postgres", &format!("CREATE DATABASE \"{abandoned}\""));
    let left = databases_like(&db);
    assert_eq!(left.len(), 3, "{left:?}");

    let out = pgkeep(&db, dir.path(), &["cleanup"]);
    assert!(!out.status.success(), "cleanup dropped without consent");
    assert!(
        stderr(&out)
            .lines()
            .next()
            .unwrap_or_default()
            .contains("--yes"),
        "{}",
        stderr(&out)
    );
    for n in &left[1..] {
        assert!(
            stdout(&out).contains(n.as_str()),
            "{n} not listed: {}",
            stdout(&out)
        );
    }
    assert_eq!(
        databases_like(&db),
        left,
        "something was dropped without consent"
    );

    let out = pgkeep(&db, dir.path(), &["cleanup", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(databases_like(&db), vec![db.clone()]);
    assert_eq!(c.psql(&db, "SELECT count(*) FROM t"), "1");

    let out = pgkeep(&db, dir.path(), &["cleanup", "--yes"]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("nothing to clean up"),
        "{}",
        stdout(&out)
    );
}
