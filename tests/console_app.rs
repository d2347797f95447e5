//! The app loop without a terminal, against the private cluster: pressing `b` runs a real
//! backup job until the new backup is in the state's list; the log pane follows the
//! server's real log file; the status snapshot is read from the real server.

mod common;
mod console_support;

use std::sync::Arc;
use std::time::Duration;

use pgkeep::config::Config;
use pgkeep::console::app::App;
use pgkeep::console::state::JobOutcome;
use pgkeep::engine::catalog::BackupStatus;
use pgkeep::target::direct::DirectTarget;
use pgkeep::target::{ConnParams, Target};

/// How long a step of the live console may take.
const LIMIT: Duration = Duration::from_secs(120);

fn target(db: &str) -> Arc<dyn Target> {
    let c = common::cluster();
    let params = ConnParams {
        host: "127.0.0.1".into(),
        port: c.port,
        user: c.user.clone(),
        password: Some(c.password.clone()),
        dbname: db.into(),
    };
    Arc::new(DirectTarget::new(params, Some(common::pg_bin())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pressing_b_runs_a_real_backup_until_it_is_listed() {
    let c = common::cluster();
    let db = c.new_db("console_app");
    c.pgbench_init(&db, 1);
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        backup_dir: dir.path().join("db_backups"),
        log: pgkeep::config::LogConfig {
            file: Some(c.log_file()),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut app = App::new(config, target(&db), "pgkeep --backup-dir db_backups".into());
    app.start_background();

    console_support::run_until(&mut app, LIMIT, "the first status snapshot", |a| {
        a.state.status.is_some()
    })
    .await;
    let status = app.state.status.clone().unwrap();
    assert!(status.reachable(), "status: {:?}", status.problem);
    assert!(status.server.as_ref().unwrap().database_size.unwrap() > 0);
    assert!(app.state.backups.is_empty());

    app.handle(console_support::key('b'));
    assert!(app.state.job_running());
    console_support::run_until(
        &mut app,
        LIMIT,
        "the backup to appear complete in the list",
        |a| {
            !a.state.job_running()
                && a.state
                    .backups
                    .iter()
                    .any(|e| e.status == BackupStatus::Complete)
        },
    )
    .await;
    let record = app.state.history.last().unwrap();
    assert!(
        matches!(record.outcome, JobOutcome::Succeeded(_)),
        "{record:?}"
    );
    assert_eq!(record.command, "pgkeep --backup-dir db_backups backup");
    let files = common::complete_backups(&app.state.backup_dir);
    assert_eq!(files.len(), 1);
    assert_eq!(app.state.backups[0].path, files[0]);
    let m = app.state.backups[0].manifest.as_ref().expect("manifest");
    assert!(m
        .tables
        .iter()
        .any(|t| t.name.contains("pgbench_accounts") && t.rows == Some(100_000)));
    assert!(
        !app.state.log.lines.iter().any(|l| l.contains(&c.password)),
        "no secret in the log pane"
    );

    // The log pane follows the server's log: a line the server writes now shows up.
    let marker = format!("pgkeep_console_marker_{}", std::process::id());
    let _ = c
        .client_cmd("psql")
        .args(["-X", "-q", "-d", &db, "-c", &format!("SELECT {marker}")])
        .output();
    console_support::run_until(&mut app, LIMIT, "the server's log line", |a| {
        a.state.log.lines.iter().any(|l| l.contains(&marker))
    })
    .await;
    let line = app
        .state
        .log
        .lines
        .iter()
        .find(|l| l.contains(&marker))
        .unwrap();
    assert!(line.contains("ERROR"), "{line}");

    app.handle(console_support::key('q'));
    assert!(app.state.quit);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_backup_leaves_nothing_complete_looking() {
    let c = common::cluster();
    let db = c.new_db("console_cancel");
    c.pgbench_init(&db, 5);
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        backup_dir: dir.path().join("db_backups"),
        ..Default::default()
    };
    let mut app = App::new(config, target(&db), "pgkeep".into());
    app.handle(console_support::key('b'));
    app.handle(console_support::key('c'));
    app.handle(console_support::key('y'));
    console_support::run_until(&mut app, LIMIT, "the cancelled job to end", |a| {
        !a.state.job_running()
    })
    .await;
    let outcome = &app.state.history.last().unwrap().outcome;
    // A very fast machine may finish before the cancel lands; then the backup is complete.
    match outcome {
        JobOutcome::Cancelled => {
            assert!(
                common::complete_backups(&app.state.backup_dir).is_empty(),
                "no .sql.gz after a cancel"
            );
            assert!(app.state.dialog.is_none());
        }
        JobOutcome::Succeeded(_) => {
            assert_eq!(common::complete_backups(&app.state.backup_dir).len(), 1)
        }
        other => panic!("unexpected outcome {other:?}"),
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_of_an_unreachable_server_says_so() {
    let params = ConnParams {
        host: "127.0.0.1".into(),
        port: 1,
        user: "postgres".into(),
        password: None,
        dbname: "shop".into(),
    };
    let t = DirectTarget::new(params, None);
    let dir = tempfile::tempdir().unwrap();
    let s = pgkeep::monitor::status::collect(&t, dir.path()).await;
    assert!(!s.reachable());
    assert!(s.problem.unwrap().contains("cannot reach"));
    assert!(s.free_bytes.unwrap() > 0);
}
