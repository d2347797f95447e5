//! Helpers shared by the restore, verify and cleanup tests.

#![allow(dead_code)]

use std::path::Path;

use crate::common::{cluster, pgkeep, stderr};

/// Creates the role the fixture grants to (once per cluster).
pub fn ensure_clerk_role() {
    cluster().psql(
        "postgres",
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgkeep_clerk') THEN CREATE ROLE pgkeep_clerk; END IF; END $$",
    );
}

/// A database holding the invoicing fixture plus database-level settings, comment, grants.
pub fn invoicing_db(prefix: &str) -> String {
    ensure_clerk_role();
    let c = cluster();
    let db = c.new_db(prefix);
    c.psql(&db, include_str!("../fixtures/invoicing.sql"));
    c.psql(
        "postgres",
        &format!(
            "ALTER DATABASE \"{db}\" SET work_mem = '16MB';
             ALTER DATABASE \"{db}\" SET search_path = billing, \"CRM\", public;
             ALTER ROLE pgkeep_clerk IN DATABASE \"{db}\" SET statement_timeout = '5s';
             COMMENT ON DATABASE \"{db}\" IS 'Facturatie: invoices ''24';
             GRANT CONNECT, TEMPORARY ON DATABASE \"{db}\" TO pgkeep_clerk;
             REVOKE TEMPORARY ON DATABASE \"{db}\" FROM PUBLIC;
             ALTER DATABASE \"{db}\" CONNECTION LIMIT 50;
             ALTER DATABASE \"{db}\" OWNER TO pgkeep_clerk;"
        ),
    );
    db
}

pub fn databases_like(prefix: &str) -> Vec<String> {
    let out = cluster().psql(
        "postgres",
        &format!(
            "SELECT datname FROM pg_database WHERE starts_with(datname, '{prefix}') ORDER BY 1"
        ),
    );
    out.lines().map(str::to_string).collect()
}

pub fn plain_dump(db: &str) -> String {
    let out = cluster()
        .client_cmd("pg_dump")
        .args(["-d", db])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("\\restrict ") && !l.starts_with("\\unrestrict "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Equal texts, or a panic naming the first line that differs (dumps are long).
pub fn assert_same(got: &str, want: &str) {
    if got == want {
        return;
    }
    let (g, w): (Vec<_>, Vec<_>) = (got.lines().collect(), want.lines().collect());
    let i = g
        .iter()
        .zip(&w)
        .position(|(a, b)| a != b)
        .unwrap_or(g.len().min(w.len()));
    panic!(
        "dumps differ at line {}:\n  got:  {:?}\n  want: {:?}",
        i + 1,
        g.get(i),
        w.get(i)
    );
}

pub fn backup(db: &str, dir: &Path) {
    let out = pgkeep(db, dir, &["backup", "--quiet"]);
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
}

/// The pgkeep command set up like `common::pgkeep`, to spawn instead of waiting.
pub fn pgkeep_cmd(db: &str, backup_dir: &Path, args: &[&str]) -> std::process::Command {
    let c = cluster();
    let mut cmd = std::process::Command::new(crate::common::pgkeep_bin());
    cmd.arg("--backup-dir").arg(backup_dir).args(args);
    cmd.env_remove("PGKEEP_URL")
        .env_remove("PGKEEP_CONFIG")
        .env("PGKEEP_TARGET", "direct");
    for (k, v) in c.pgkeep_env(db) {
        cmd.env(k, v);
    }
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env(
        "PATH",
        format!("{}:{path}", crate::common::pg_bin().display()),
    );
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

/// The SQL inside a `.sql.gz`.
pub fn gunzip(path: &Path) -> String {
    let mut s = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()),
        &mut s,
    )
    .unwrap();
    s
}

/// Writes `sql` gzip-compressed to `path`.
pub fn gzip_to(path: &Path, sql: &str) {
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    std::io::Write::write_all(&mut e, sql.as_bytes()).unwrap();
    e.finish().unwrap();
}

/// Polls `f` every 50 ms for up to `secs` seconds.
pub fn wait_for(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..secs * 20 {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}
