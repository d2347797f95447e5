//! Bad inputs end in one clear line with what to do: a port that is not a number, a label
//! with a line break, an endless input given as a backup, a bad cron expression in the config.

mod common;

use common::{cluster, pgkeep, pgkeep_cmd, stderr};

fn one_line(out: &std::process::Output, needles: &[&str]) {
    let err = stderr(out);
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in {err}");
    }
}

#[test]
fn bad_inputs_are_one_clear_line() {
    let c = cluster();
    let db = c.new_db("msgs");
    let dir = tempfile::tempdir().unwrap();

    let out = pgkeep_cmd(&db, dir.path(), &["backup"])
        .env("PGPORT", "notaport")
        .output()
        .unwrap();
    one_line(&out, &["PGPORT", "notaport", "port number"]);

    let out = pgkeep(&db, dir.path(), &["backup", "--label", "two\nlines"]);
    one_line(&out, &["label", "one-line"]);
    assert!(common::complete_backups(dir.path()).is_empty());
    let out = pgkeep(&db, dir.path(), &["restore", "--yes", "/dev/zero"]);
    one_line(&out, &["/dev/zero", "not a regular file"]);

    // A label with a line break written by an older version never breaks `list`.
    assert!(pgkeep(&db, dir.path(), &["backup", "--label", "ok"])
        .status
        .success());
    let file = common::complete_backups(dir.path()).remove(0);
    let mpath = format!("{}.json", file.display());
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    m["label"] = "two\nlines".into();
    std::fs::write(&mpath, serde_json::to_vec(&m).unwrap()).unwrap();
    let list = common::stdout(&pgkeep(&db, dir.path(), &["list"]));
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(list.contains("two\\nlines"), "{list}");

    let cfg = dir.path().join("pgkeep.toml");
    std::fs::write(&cfg, "[schedule]\ncron = \"61 2 * * *\"\n").unwrap();
    let out = pgkeep_cmd(
        &db,
        dir.path(),
        &["--config", cfg.to_str().unwrap(), "list"],
    )
    .output()
    .unwrap();
    let err = stderr(&out);
    assert!(
        err.contains("schedule") && err.contains("not valid"),
        "{err}"
    );
}
