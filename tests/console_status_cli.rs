//! `pgkeep status [--json]` against the private cluster, and the log source selection.

mod common;

use pgkeep::config::Config;
use pgkeep::monitor::logs::{source_for, HOW_TO_CONFIGURE};
use pgkeep::target::direct::DirectTarget;
use pgkeep::target::ConnParams;

#[test]
fn status_json_reports_the_live_server_and_the_last_backup() {
    let c = common::cluster();
    let db = c.new_db("status_cli");
    c.psql(
        &db,
        "CREATE TABLE t AS SELECT generate_series(1, 1000) AS n",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = common::pgkeep(&db, dir.path(), &["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    assert_eq!(v["database"], db.as_str());
    assert!(!v["server"]["version"].as_str().unwrap().is_empty());
    assert!(v["server"]["database_size"].as_u64().unwrap() > 0);
    assert!(v["last_backup_at"].is_null());
    let health = v["health"].as_array().expect("health warnings in the JSON");
    assert!(
        health
            .iter()
            .any(|w| w.as_str().unwrap().contains("no complete backup")),
        "{health:?}"
    );

    let b = common::pgkeep(&db, dir.path(), &["backup", "-q"]);
    assert!(b.status.success(), "{}", common::stderr(&b));
    let out = common::pgkeep(&db, dir.path(), &["status"]);
    assert_eq!(out.status.code(), Some(0));
    let text = common::stdout(&out);
    assert!(text.contains("server       up"), "{text}");
    assert!(
        !text.contains("WARNING"),
        "a fresh backup is healthy: {text}"
    );
    assert!(
        text.contains("last backup  0s ago") || text.contains("s ago ("),
        "{text}"
    );
    assert!(!text.contains(&c.password) && !common::stderr(&out).contains(&c.password));
}

#[test]
fn status_of_a_stopped_server_exits_1_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::pgkeep_bin())
        .args(["--backup-dir"])
        .arg(dir.path())
        .args(["--target", "direct", "status"])
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", "1")
        .env("PGUSER", "postgres")
        .env("PGDATABASE", "shop")
        .env_remove("PGKEEP_URL")
        .env_remove("PGKEEP_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = common::stdout(&out);
    assert!(
        text.contains("UNREACHABLE: cannot reach the database server"),
        "{text}"
    );
    let err = common::stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"));
}

#[tokio::test]
async fn log_source_is_the_configured_file_or_a_notice_saying_how() {
    let params = ConnParams {
        host: "127.0.0.1".into(),
        port: 1,
        user: "postgres".into(),
        password: None,
        dbname: "shop".into(),
    };
    let target = DirectTarget::new(params, None);
    let mut config = Config::default();
    let none = source_for(&config, &target).await;
    assert_eq!(none.describe(), "no log source");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    none.follow(10, tx).await.unwrap();
    match rx.recv().await {
        Some(pgkeep::monitor::logs::LogEvent::Notice(n)) => {
            assert_eq!(n, HOW_TO_CONFIGURE);
            assert!(n.contains("[log]") && n.contains("pgkeep.toml"));
            for bad in ["error", "refused", "unreachable"] {
                assert!(!n.to_lowercase().contains(bad));
            }
        }
        other => panic!("expected a notice, got {other:?}"),
    }
    config.log.file = Some("/var/log/postgresql/x.log".into());
    assert_eq!(
        source_for(&config, &target).await.describe(),
        "/var/log/postgresql/x.log"
    );
}
