//! No file is ever written through a symlink or outside the backup directory: a lock-file
//! symlink planted by another user, a world-writable or foreign backup directory, and a
//! database named `/../../../../tmp/x/evil`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{cluster, complete_backups, pgkeep, stderr, stdout};

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Runs `f` as user nobody (in a forked child), for planting files as another user.
fn as_nobody(f: impl FnOnce()) {
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            let ok =
                nix::unistd::setgid(nobody.gid).is_ok() && nix::unistd::setuid(nobody.uid).is_ok();
            if ok {
                f();
            }
            unsafe { nix::libc::_exit(if ok { 0 } else { 1 }) };
        }
        nix::unistd::ForkResult::Parent { child } => {
            let st = nix::sys::wait::waitpid(child, None).unwrap();
            assert_eq!(st, nix::sys::wait::WaitStatus::Exited(child, 0));
        }
    }
}

fn one_error_line(out: &std::process::Output) -> String {
    let err = stderr(out);
    assert!(!out.status.success(), "expected failure: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    err
}

#[test]
fn a_lock_symlink_planted_by_nobody_never_truncates_its_target() {
    if !is_root() {
        return;
    }
    let c = cluster();
    let db = c.new_db("planted");
    c.psql(&db, "CREATE TABLE t AS SELECT 1 AS a");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db_backups");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let lock = dir.join(format!(".{db}.lock"));
    let rlock = dir.join(format!(".{db}.restore.lock"));
    as_nobody(|| {
        std::os::unix::fs::symlink(&victim, &lock).unwrap();
        std::os::unix::fs::symlink(&victim, &rlock).unwrap();
    });

    // The world-writable directory itself is refused, with the fix.
    for args in [&["backup"][..], &["restore", "--yes", "latest"][..]] {
        let out = pgkeep(&db, &dir, args);
        let err = one_error_line(&out);
        if args[0] == "backup" {
            assert!(err.contains("world-writable"), "{err}");
            assert!(err.contains("chmod go-w"), "{err}");
        }
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");

    // Closed to others, the symlink nobody left is still never followed.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = pgkeep(&db, &dir, &["backup"]);
    let err = one_error_line(&out);
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert!(complete_backups(&dir).is_empty());

    // A directory owned by another user is refused too.
    std::fs::remove_file(&lock).unwrap();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    nix::unistd::chown(&dir, Some(nobody.uid), None).unwrap();
    let err = one_error_line(&pgkeep(&db, &dir, &["backup"]));
    assert!(err.contains("belongs to uid"), "{err}");
    assert!(err.contains("sudo chown"), "{err}");
}

#[test]
fn a_database_named_with_slashes_stays_inside_the_backup_dir() {
    let c = cluster();
    let outside = tempfile::Builder::new()
        .prefix("x")
        .tempdir_in("/tmp")
        .unwrap();
    let evil = format!("/../../../..{}/evil", outside.path().display());
    c.psql("postgres", &format!("CREATE DATABASE \"{evil}\""));
    c.psql(
        &evil,
        "CREATE TABLE t AS SELECT g FROM generate_series(1, 50) g",
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db_backups");

    let out = pgkeep(&evil, &dir, &["backup"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        0,
        "nothing may be written outside the backup dir"
    );
    let files = complete_backups(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].parent().unwrap(), dir);
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("%2F..%2F"), "{name}");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{}.json", files[0].display())).unwrap())
            .unwrap();
    assert_eq!(m["database"], evil.as_str());
    for f in std::fs::read_dir(&dir).unwrap().flatten() {
        let n = f.file_name().to_string_lossy().into_owned();
        assert!(!n.contains('/'), "{n}");
    }

    let list = pgkeep(&evil, &dir, &["list", "--json"]);
    assert!(stdout(&list).contains(&evil), "{}", stdout(&list));

    // restore --into another hostile name: its lock stays inside too.
    let into = format!("/../..{}/into", outside.path().display());
    let out = pgkeep(
        &evil,
        &dir,
        &["restore", "--yes", "--into", &into, "latest"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(c.psql(&into, "SELECT count(*) FROM t"), "50");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    let out = pgkeep(&evil, &dir, &["verify", "latest"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn plain_names_keep_their_file_names() {
    let c = cluster();
    let db = c.new_db("plain");
    let dir = tempfile::tempdir().unwrap();
    let out = pgkeep(&db, dir.path(), &["backup"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let files = complete_backups(dir.path());
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(&format!("{db}_")), "{name}");
    assert!(Path::new(&dir.path().join(format!(".{db}.lock"))).exists());
}
