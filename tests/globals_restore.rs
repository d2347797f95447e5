//! Restore applies the backup's globals: the database's properties as they were at backup
//! time (not the live database's), missing roles created and listed, existing roles left
//! alone unless `--update-roles`; a missing tablespace or a role that may not restore is
//! refused in one line before any time is spent; statistics exist after the restore.

mod common;

use common::{
    cluster, complete_backups, pgkeep, pgkeep_cmd, stderr, stdout, Cluster, OwnedCluster,
};

fn backup(db: &str, dir: &std::path::Path) {
    let out = pgkeep(db, dir, &["backup", "--quiet"]);
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
}

/// A database owned by a role of its own, with a member role, settings, grants, a comment.
fn db_with_roles(c: &Cluster, tag: &str) -> (String, String, String) {
    let db = c.new_db(tag);
    let owner = format!("{tag}{}_own", std::process::id());
    let member = format!("{tag}{}_mem", std::process::id());
    c.psql(
        "postgres",
        &format!(
            "CREATE ROLE {owner} LOGIN PASSWORD 'own-pw';
             CREATE ROLE {member} LOGIN PASSWORD 'mem-pw' CONNECTION LIMIT 3;
             GRANT {owner} TO {member} WITH ADMIN OPTION;
             ALTER DATABASE \"{db}\" OWNER TO {owner};
             ALTER DATABASE \"{db}\" SET search_path = app, public;
             ALTER ROLE {member} IN DATABASE \"{db}\" SET work_mem = '9MB';
             COMMENT ON DATABASE \"{db}\" IS 'as backed up';
             ALTER DATABASE \"{db}\" CONNECTION LIMIT 30;
             REVOKE CONNECT ON DATABASE \"{db}\" FROM PUBLIC;
             GRANT CONNECT ON DATABASE \"{db}\" TO {member};"
        ),
    );
    c.psql(
        &db,
        &format!(
            "CREATE SCHEMA app AUTHORIZATION {owner};
             CREATE TABLE app.item (id int PRIMARY KEY, name text);
             ALTER TABLE app.item OWNER TO {owner};
             INSERT INTO app.item SELECT g, 'item ' || g FROM generate_series(1, 2000) g;
             GRANT SELECT ON app.item TO {member};"
        ),
    );
    (db, owner, member)
}

fn role_row(c: &Cluster, role: &str) -> String {
    c.psql(
        "postgres",
        &format!(
            "SELECT rolcanlogin, rolconnlimit, rolpassword,
                    ARRAY(SELECT pg_get_userbyid(roleid) || ':' || admin_option FROM pg_auth_members WHERE member = a.oid)
               FROM pg_authid a WHERE rolname = '{role}'"
        ),
    )
}

#[test]
fn in_place_restore_brings_back_the_backups_properties_and_statistics() {
    let c = cluster();
    let (db, _owner, member) = db_with_roles(c, "props");
    let dir = tempfile::tempdir().unwrap();
    c.psql(&db, "ANALYZE");
    let before = c.dump_create(&db);
    backup(&db, dir.path());
    c.psql(
        "postgres",
        &format!(
            "ALTER DATABASE \"{db}\" RESET search_path;
             COMMENT ON DATABASE \"{db}\" IS 'changed';
             GRANT CONNECT ON DATABASE \"{db}\" TO PUBLIC;
             ALTER ROLE {member} IN DATABASE \"{db}\" RESET work_mem;
             ALTER DATABASE \"{db}\" CONNECTION LIMIT -1;"
        ),
    );
    assert_ne!(c.dump_create(&db), before);
    let out = pgkeep(&db, dir.path(), &["restore", "latest", "--yes"]);
    assert!(out.status.success(), "restore failed: {}", stderr(&out));
    assert_eq!(c.dump_create(&db), before);
    let stats = c.psql(
        &db,
        "SELECT count(*) FROM pg_stats WHERE schemaname = 'app' AND tablename = 'item'",
    );
    assert_ne!(stats, "0", "no statistics after the restore");
}

#[test]
fn missing_roles_are_created_existing_ones_left_unless_asked() {
    let c = cluster();
    let (db, owner, member) = db_with_roles(c, "roles");
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    let member_then = role_row(c, &member);
    // The member changed since the backup; the owner is gone (with its objects' database).
    c.psql(
        "postgres",
        &format!("ALTER ROLE {member} NOLOGIN PASSWORD 'changed' CONNECTION LIMIT 1; REVOKE {owner} FROM {member};"),
    );
    let member_now = role_row(c, &member);
    let into = format!("{db}_copy");
    c.psql("postgres", &format!("DROP DATABASE \"{db}\""));
    c.psql(
        "postgres",
        &format!("DROP OWNED BY {owner}; DROP ROLE {owner}"),
    );

    let out = pgkeep(
        &db,
        dir.path(),
        &["restore", "latest", "--yes", "--into", &into],
    );
    assert!(out.status.success(), "restore failed: {}", stderr(&out));
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains(&format!("created role(s) from the backup: {owner}")),
        "{said}"
    );
    // The member existed: not altered (only the membership in the created role came back).
    let after = role_row(c, &member);
    assert_eq!(
        after.split('|').take(3).collect::<Vec<_>>(),
        member_now.split('|').take(3).collect::<Vec<_>>()
    );
    assert!(after.contains(&format!("{owner}:true")), "{after}");
    assert_eq!(
        c.psql(
            "postgres",
            &format!("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{into}'")
        ),
        owner
    );

    let again = format!("{db}_again");
    let out = pgkeep(
        &db,
        dir.path(),
        &[
            "restore",
            "latest",
            "--yes",
            "--into",
            &again,
            "--update-roles",
        ],
    );
    assert!(out.status.success(), "restore failed: {}", stderr(&out));
    assert_eq!(role_row(c, &member), member_then);
}

#[test]
fn blank_server_restore_with_pgkeep() {
    let c = cluster();
    let (db, owner, member) = db_with_roles(c, "blank");
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    let want = c.dump_create(&db);
    let roles = (role_row(c, &owner), role_row(c, &member));
    let want_globals = c.globals_of(&[&owner, &member]);
    assert!(
        want_globals.iter().any(|l| l.contains("WITH ADMIN OPTION")),
        "{want_globals:#?}"
    );

    let blank = OwnedCluster::start();
    let out = pgkeep_cmd(
        &db,
        dir.path(),
        &["restore", "latest", "--yes", "--into", &db],
    )
    .env("PGPORT", blank.port.to_string())
    .output()
    .unwrap();
    assert!(out.status.success(), "restore failed: {}", stderr(&out));
    assert_eq!(blank.dump_create(&db), want);
    assert_eq!((role_row(&blank, &owner), role_row(&blank, &member)), roles);
    assert_eq!(blank.globals_of(&[&owner, &member]), want_globals);
}

#[test]
fn a_missing_tablespace_is_one_line_with_what_to_do() {
    let c = cluster();
    let db = c.new_db("nots");
    let tmp = tempfile::tempdir().unwrap();
    let ts_dir = common::server_owned_dir(tmp.path(), "ts");
    let ts = format!("nots{}", std::process::id());
    c.psql(
        "postgres",
        &format!("CREATE TABLESPACE {ts} LOCATION '{}'", ts_dir.display()),
    );
    c.psql(
        &db,
        &format!("CREATE TABLE t(id int) TABLESPACE {ts}; INSERT INTO t VALUES (1)"),
    );
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    c.psql("postgres", &format!("DROP DATABASE \"{db}\""));
    c.psql("postgres", &format!("DROP TABLESPACE {ts}"));
    let into = format!("{db}_back");
    let out = pgkeep(
        &db,
        dir.path(),
        &["restore", "latest", "--yes", "--into", &into],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("tablespace \"{ts}\""))
            && err.contains("CREATE TABLESPACE")
            && err.contains("--tablespace-default"),
        "{err}"
    );
    assert!(!c.db_exists(&into));
    // The other choice: everything into the default tablespace.
    let out = pgkeep(
        &db,
        dir.path(),
        &[
            "restore",
            "latest",
            "--yes",
            "--into",
            &into,
            "--tablespace-default",
        ],
    );
    assert!(out.status.success(), "restore failed: {}", stderr(&out));
    assert_eq!(
        c.psql(&into, "SELECT count(*) || ':' || coalesce(max(reltablespace), 0) FROM t, pg_class WHERE relname = 't'"),
        "1:0"
    );
}

#[test]
fn a_restore_bound_to_fail_is_refused_before_the_safety_backup() {
    let c = cluster();
    let db = c.new_db("nopriv");
    let role = format!("nopriv{}", std::process::id());
    c.psql(
        "postgres",
        &format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'np'; GRANT CONNECT ON DATABASE \"{db}\" TO {role}"
        ),
    );
    c.psql(&db, "CREATE TABLE t(id int); INSERT INTO t VALUES (1)");
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    let out = pgkeep_cmd(&db, dir.path(), &["restore", "latest", "--yes"])
        .env("PGUSER", &role)
        .env("PGPASSWORD", "np")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("may not create databases"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(
        complete_backups(dir.path()).len(),
        1,
        "no safety backup was taken"
    );

    c.psql("postgres", &format!("ALTER ROLE {role} CREATEDB"));
    let out = pgkeep_cmd(&db, dir.path(), &["restore", "latest", "--yes"])
        .env("PGUSER", &role)
        .env("PGPASSWORD", "np")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(
        err.contains(&format!("does not own database \"{db}\"")),
        "{err}"
    );
    assert_eq!(
        complete_backups(dir.path()).len(),
        1,
        "no safety backup was taken"
    );
}
