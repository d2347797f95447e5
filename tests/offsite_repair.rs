//! A killed `offsite push` is repaired by the next push: the abandoned staging file of the
//! upload is removed, and a copy that arrived without its manifest is sent again.

mod common;

use std::time::{Duration, SystemTime};

use common::{cluster, pgkeep, stderr, stdout, DirOffsite};

#[test]
fn the_next_push_removes_abandoned_uploads_and_resends_a_copy_without_manifest() {
    let c = cluster();
    let db = c.new_db("offrepair");
    c.psql(
        &db,
        "CREATE TABLE t AS SELECT g FROM generate_series(1, 100) g",
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db_backups");
    let offsite = DirOffsite::new(tmp.path(), "");
    let (nas, cfg) = (&offsite.nas, offsite.cfg());
    let out = pgkeep(&db, &dir, &["backup", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let name = std::path::Path::new(stdout(&out).trim())
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let out = pgkeep(&db, &dir, &["--config", cfg, "offsite", "push"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // What a push killed after the file and before its manifest leaves, plus the staging
    // file of an upload killed half-way.
    std::fs::remove_file(nas.join(format!("{name}.json"))).unwrap();
    let staged = nas.join(format!("{name}#17"));
    std::fs::write(&staged, b"half an upload").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&staged)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(600))
        .unwrap();

    let out = pgkeep(&db, &dir, &["--config", cfg, "offsite", "push"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("copied {name}")),
        "{}",
        stdout(&out)
    );
    assert!(nas.join(format!("{name}.json")).exists());
    assert!(!staged.exists(), "the abandoned upload is removed");
}
