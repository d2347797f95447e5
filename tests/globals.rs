//! A backup is a recovery unit: the roles the database uses (with passwords, attributes,
//! memberships, settings), its tablespaces and its own properties are captured beside the
//! dump, and bring it back on a blank server — by hand with the README's commands, and with
//! `pgkeep restore`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{cluster, complete_backups, pgkeep, server_owned_dir, stderr, Cluster, OwnedCluster};

/// Role names unique to one test run.
struct Names {
    owner: String,
    group: String,
    member: String,
    reader: String,
    other: String,
    ts: String,
}

fn names(tag: &str) -> Names {
    let p = format!("{tag}{}", std::process::id());
    Names {
        owner: format!("{p}_owner"),
        group: format!("{p}_reporting"),
        member: format!("{p}_analyst"),
        reader: format!("{p}_reader"),
        other: format!("{p}_unrelated"),
        ts: format!("{p}_space"),
    }
}

/// A database using roles (owner, a group with grants and a member holding ADMIN OPTION, a
/// role granted CONNECT only), a tablespace, and every database-level property.
fn rich_db(c: &Cluster, n: &Names, ts_dir: &Path) -> String {
    let db = c.new_db("glob");
    c.psql(
        "postgres",
        &format!(
            "CREATE ROLE {o} LOGIN CREATEDB PASSWORD 'owner-pw' CONNECTION LIMIT 7 VALID UNTIL '2031-01-01 00:00:00+00';
             CREATE ROLE {g} NOLOGIN;
             CREATE ROLE {m} LOGIN PASSWORD 'analyst-pw';
             CREATE ROLE {r} LOGIN;
             CREATE ROLE {x} LOGIN;
             GRANT {g} TO {m} WITH ADMIN OPTION;
             GRANT pg_read_all_stats TO {m};
             ALTER ROLE {m} SET work_mem = '12MB';
             COMMENT ON ROLE {g} IS 'report readers';
             ALTER DATABASE \"{db}\" OWNER TO {o};
             COMMENT ON DATABASE \"{db}\" IS 'the shop''s data';
             ALTER DATABASE \"{db}\" CONNECTION LIMIT 40;
             ALTER DATABASE \"{db}\" SET search_path = app, public;
             ALTER ROLE {m} IN DATABASE \"{db}\" SET statement_timeout = '7s';
             REVOKE CONNECT, TEMPORARY ON DATABASE \"{db}\" FROM PUBLIC;
             GRANT CONNECT ON DATABASE \"{db}\" TO {g}, {r};",
            o = n.owner,
            g = n.group,
            m = n.member,
            r = n.reader,
            x = n.other,
        ),
    );
    c.psql(
        "postgres",
        &format!(
            "CREATE TABLESPACE {} OWNER {} LOCATION '{}'",
            n.ts,
            n.owner,
            ts_dir.display()
        ),
    );
    c.psql(
        &db,
        &format!(
            "CREATE SCHEMA app AUTHORIZATION {o};
             CREATE TABLE app.invoice (id int PRIMARY KEY, total numeric) TABLESPACE {ts};
             ALTER TABLE app.invoice OWNER TO {o};
             INSERT INTO app.invoice SELECT g, g * 1.5 FROM generate_series(1, 500) g;
             GRANT USAGE ON SCHEMA app TO {g};
             GRANT SELECT ON app.invoice TO {g};",
            o = n.owner,
            g = n.group,
            ts = n.ts
        ),
    );
    db
}

/// The roles' catalog rows that must come back: attributes, password verifier, settings,
/// memberships (with admin option), comments.
fn role_facts(c: &Cluster, n: &Names) -> String {
    let names = format!("'{}','{}','{}','{}'", n.owner, n.group, n.member, n.reader);
    c.psql(
        "postgres",
        &format!(
            "SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
                    rolreplication, rolbypassrls, rolconnlimit, rolvaliduntil, rolpassword,
                    (SELECT setconfig FROM pg_db_role_setting WHERE setrole = a.oid AND setdatabase = 0),
                    shobj_description(a.oid, 'pg_authid'),
                    ARRAY(SELECT pg_get_userbyid(m.roleid) || ':' || m.admin_option
                            FROM pg_auth_members m WHERE m.member = a.oid ORDER BY 1)
               FROM pg_authid a WHERE rolname IN ({names}) ORDER BY rolname"
        ),
    )
}

fn globals_file(dir: &Path) -> PathBuf {
    let backups = complete_backups(dir);
    assert_eq!(backups.len(), 1, "{backups:?}");
    let name = backups[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    dir.join(format!("{name}.globals.sql"))
}

fn manifest_json(dir: &Path) -> serde_json::Value {
    let backup = &complete_backups(dir)[0];
    serde_json::from_slice(&std::fs::read(format!("{}.json", backup.display())).unwrap()).unwrap()
}

#[test]
fn backup_captures_the_roles_and_properties_the_database_uses() {
    let c = cluster();
    let n = names("cap");
    let tmp = tempfile::tempdir().unwrap();
    let ts_dir = server_owned_dir(tmp.path(), "ts");
    let db = rich_db(c, &n, &ts_dir);
    let dir = tempfile::tempdir().unwrap();
    let out = pgkeep(&db, dir.path(), &["backup"]);
    assert!(out.status.success(), "backup failed: {}", stderr(&out));

    let file = globals_file(dir.path());
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&file).unwrap();
    let m = manifest_json(dir.path());
    let g = &m["globals"];
    assert_eq!(g["status"], "complete", "{m}");
    assert_eq!(g["bytes"].as_u64().unwrap(), meta.len());
    assert_eq!(
        g["file"].as_str().unwrap(),
        file.file_name().unwrap().to_str().unwrap()
    );
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(text.as_bytes()))
    };
    assert_eq!(g["sha256"].as_str().unwrap(), sha);

    for role in [&n.owner, &n.group, &n.member, &n.reader] {
        assert!(
            text.contains(&format!("CREATE ROLE \"{role}\"")),
            "{role} missing:\n{text}"
        );
    }
    assert!(!text.contains(&n.other), "an unrelated role was captured");
    assert!(text.contains("PASSWORD E'SCRAM-SHA-256$"), "{text}");
    assert!(text.contains(&format!(
        "GRANT \"{}\" TO \"{}\" WITH ADMIN OPTION;",
        n.group, n.member
    )));
    assert!(text.contains(&format!("GRANT \"pg_read_all_stats\" TO \"{}\";", n.member)));
    assert!(text.contains(&format!(
        "ALTER ROLE \"{}\" SET \"work_mem\" = E'12MB'",
        n.member
    )));
    assert!(text.contains(&format!("CREATE TABLESPACE \"{}\"", n.ts)));
    assert!(text.contains(&format!("REVOKE ALL ON DATABASE \"{db}\" FROM PUBLIC;")));
    // The tablespace's directory goes with `tmp`: the tablespace must go first.
    drop_everything(c, &db, &n);
}

#[test]
fn blank_server_by_hand_with_the_readme_commands() {
    let c = cluster();
    let n = names("hand");
    let tmp = tempfile::tempdir().unwrap();
    let ts_dir = server_owned_dir(tmp.path(), "ts");
    let db = rich_db(c, &n, &ts_dir);
    let dir = tempfile::tempdir().unwrap();
    let out = pgkeep(&db, dir.path(), &["backup"]);
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
    let want_dump = c.dump_create(&db);
    let want_roles = role_facts(c, &n);
    let used = [&n.owner, &n.group, &n.member, &n.reader].map(String::as_str);
    let want_globals = c.globals_of(&used);
    // The server is lost: its database, tablespace and roles are gone.
    drop_everything(c, &db, &n);

    let blank = OwnedCluster::start();
    let globals = globals_file(dir.path());
    let backup = &complete_backups(dir.path())[0];
    // The README's commands, as written there.
    run(blank
        .client_cmd("psql")
        .args(["-X", "-d", "postgres", "-f"])
        .arg(&globals));
    run(shell(&blank).args([
        "-c",
        &format!(
            "gunzip -c '{}' | psql -X -d {db} -v ON_ERROR_STOP=1 --single-transaction",
            backup.display()
        ),
    ]));
    run(blank
        .client_cmd("psql")
        .args(["-X", "-d", &db, "-c", "ANALYZE"]));

    assert_eq!(blank.dump_create(&db), want_dump);
    assert_eq!(role_facts(&blank, &n), want_roles);
    assert_eq!(blank.globals_of(&used), want_globals);
}

fn drop_everything(c: &Cluster, db: &str, n: &Names) {
    c.psql("postgres", &format!("DROP DATABASE \"{db}\""));
    c.psql("postgres", &format!("DROP TABLESPACE {}", n.ts));
    c.psql(
        "postgres",
        &format!(
            "DROP ROLE {m}; DROP ROLE {g}; DROP ROLE {r}; DROP ROLE {o}; DROP ROLE {x};",
            m = n.member,
            g = n.group,
            r = n.reader,
            o = n.owner,
            x = n.other
        ),
    );
}

/// `sh` with the client environment of `c` (socket, port, superuser) and the server's tools
/// on PATH.
fn shell(c: &Cluster) -> std::process::Command {
    let psql = c.client_cmd("psql");
    let mut cmd = std::process::Command::new("sh");
    for (k, v) in psql.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.env(
        "PATH",
        format!(
            "{}:{}",
            common::pg_bin().display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    );
    cmd
}

fn run(cmd: &mut std::process::Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_non_superuser_backup_says_its_globals_are_partial() {
    let c = cluster();
    let db = c.new_db("partial");
    let role = format!("np{}", std::process::id());
    c.psql(
        "postgres",
        &format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'np-secret'; ALTER DATABASE \"{db}\" OWNER TO {role}"
        ),
    );
    c.psql(
        &db,
        &format!("CREATE TABLE t(id int); ALTER TABLE t OWNER TO {role}; ALTER SCHEMA public OWNER TO {role}"),
    );
    let dir = tempfile::tempdir().unwrap();
    let as_role = |args: &[&str]| {
        common::pgkeep_cmd(&db, dir.path(), args)
            .env("PGUSER", &role)
            .env("PGPASSWORD", "np-secret")
            .output()
            .unwrap()
    };
    let out = as_role(&["backup"]);
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
    let m = manifest_json(dir.path());
    assert_eq!(m["globals"]["status"], "partial", "{m}");
    assert_eq!(
        m["globals"]["reason"],
        "no password verifiers (not superuser)"
    );
    let text = std::fs::read_to_string(globals_file(dir.path())).unwrap();
    assert!(text.contains(&format!("CREATE ROLE \"{role}\"")), "{text}");
    assert!(!text.contains("SCRAM-SHA-256$"), "{text}");

    let list = as_role(&["list"]);
    let shown = common::stdout(&list);
    assert!(shown.contains("complete, globals partial"), "{shown}");
    let notes: Vec<&str> = shown
        .lines()
        .filter(|l| l.contains("password verifiers"))
        .collect();
    assert_eq!(
        notes,
        ["note: globals partial: no password verifiers (not superuser): run backups as a superuser to capture every role's password"]
    );
    let status = as_role(&["status"]);
    assert!(
        common::stdout(&status).contains("globals partial: no password verifiers (not superuser)"),
        "{}",
        common::stdout(&status)
    );
}
