//! A backup's globals file travels with its dump: copied offsite and checked, pulled back,
//! and pruned together with it, here and offsite.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{cluster, complete_backups, pgkeep, stderr, stdout};

fn files(dir: &Path, suffix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix))
        .collect();
    v.sort();
    v
}

fn globals_of(name: &str) -> String {
    format!("{name}.globals.sql")
}

#[test]
fn globals_are_pushed_pulled_and_pruned_with_their_dump() {
    let c = cluster();
    let db = c.new_db("unit");
    c.psql(&db, "CREATE TABLE t(id int); INSERT INTO t VALUES (1)");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db_backups");
    let nas = tmp.path().join("nas");
    std::fs::create_dir(&nas).unwrap();
    let cfg = tmp.path().join("pgkeep.toml");
    std::fs::write(
        &cfg,
        format!(
            "[retention]\nkeep_last = 1\nkeep_daily = 0\nkeep_weekly = 0\nkeep_monthly = 0\nmin_age_hours = 0\n\
             [[offsite]]\nkind = \"dir\"\npath = \"{}\"\n",
            nas.display()
        ),
    )
    .unwrap();
    let cfg_s = cfg.to_str().unwrap();
    for _ in 0..2 {
        let out = pgkeep(&db, &dir, &["backup", "--quiet"]);
        assert!(out.status.success(), "backup failed: {}", stderr(&out));
    }
    let backups: Vec<PathBuf> = complete_backups(&dir);
    assert_eq!(backups.len(), 2);
    let names: Vec<String> = backups
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        files(&dir, ".globals.sql"),
        names.iter().map(|n| globals_of(n)).collect::<Vec<_>>()
    );

    let push = pgkeep(&db, &dir, &["--config", cfg_s, "offsite", "push"]);
    assert!(push.status.success(), "{}", stderr(&push));
    for n in &names {
        assert_eq!(
            std::fs::read(nas.join(globals_of(n))).unwrap(),
            std::fs::read(dir.join(globals_of(n))).unwrap(),
            "the offsite globals file of {n}"
        );
    }

    // The local copy is lost; the pull brings back the whole unit.
    std::fs::remove_dir_all(&dir).unwrap();
    let pull = pgkeep(
        &db,
        &dir,
        &["--config", cfg_s, "offsite", "pull", &names[0]],
    );
    assert!(pull.status.success(), "{}", stderr(&pull));
    assert_eq!(
        std::fs::read(dir.join(globals_of(&names[0]))).unwrap(),
        std::fs::read(nas.join(globals_of(&names[0]))).unwrap()
    );
    let pull = pgkeep(
        &db,
        &dir,
        &["--config", cfg_s, "offsite", "pull", &names[1]],
    );
    assert!(pull.status.success(), "{}", stderr(&pull));
    let restored = pgkeep(
        &db,
        &dir,
        &["restore", &names[0], "--yes", "--no-safety-backup"],
    );
    assert!(
        restored.status.success(),
        "restore of a pulled backup: {}",
        stderr(&restored)
    );

    // Prune keeps the newest and removes the older unit, here and offsite.
    let prune = Command::new(common::pgkeep_bin())
        .arg("--config")
        .arg(&cfg)
        .arg("--backup-dir")
        .arg(&dir)
        .args(["prune", "--yes"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(prune.status.success(), "{}", stderr(&prune));
    let (old, new) = if names[0] < names[1] {
        (&names[0], &names[1])
    } else {
        (&names[1], &names[0])
    };
    for place in [&dir, &nas] {
        let left = files(place, "");
        assert!(
            !left
                .iter()
                .any(|f| f.starts_with(old.trim_end_matches(".sql.gz"))),
            "{old} left in {}: {left:?} ({})",
            place.display(),
            stdout(&prune)
        );
        assert!(left.contains(&globals_of(new)), "{left:?}");
    }
}

#[test]
fn verify_checks_the_globals_file_too() {
    let c = cluster();
    let db = c.new_db("gverify");
    c.psql(&db, "CREATE TABLE t(id int); INSERT INTO t VALUES (1)");
    let dir = tempfile::tempdir().unwrap();
    let out = pgkeep(&db, dir.path(), &["backup", "--quiet"]);
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
    let name = complete_backups(dir.path())[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let globals = dir.path().join(globals_of(&name));
    let mut text = std::fs::read_to_string(&globals).unwrap();
    text = text.replace("-- Roles", "-- Roles (edited)");
    std::fs::write(&globals, text).unwrap();
    let out = pgkeep(&db, dir.path(), &["verify", "latest"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("globals file") && err.contains("sha256"),
        "{err}"
    );
    std::fs::remove_file(&globals).unwrap();
    let out = pgkeep(&db, dir.path(), &["verify", "latest"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("cannot be read"), "{}", stderr(&out));
}
