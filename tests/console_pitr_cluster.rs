//! The console's "restore to a moment" against a real archiving cluster: the app loop (no
//! terminal) lists the base backup beside the dumps, computes the timeline from the real
//! archive, and `t`, a typed time, Enter, the typed database name and Enter run the engine's
//! point-in-time restore as a job — afterwards the database holds exactly the rows of that
//! moment.

mod common;
mod console_support;
mod pitr_support;

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pgkeep::config::Config;
use pgkeep::console::app::App;
use pgkeep::console::dialogs::restore_moment::{check, Check};
use pgkeep::console::msg::Msg;
use pgkeep::console::state::{Dialog, JobOutcome, ListRow};
use pgkeep::target::direct::DirectTarget;
use pgkeep::target::{ConnParams, Target};
use pitr_support::{ok, ArchivingCluster};

/// How long a step of the live console may take.
const LIMIT: Duration = Duration::from_secs(180);

fn press(app: &mut App, code: KeyCode) {
    app.handle(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_to_a_moment_from_the_console_brings_back_its_rows() {
    let c = ArchivingCluster::start();
    c.psql("postgres", "CREATE DATABASE shop");
    c.psql("shop", "CREATE TABLE t(id int primary key, v text)");
    ok(&c.pgkeep("shop", &["basebackup"]), "basebackup");
    c.psql(
        "shop",
        "INSERT INTO t SELECT g, 'first' FROM generate_series(1, 100) g",
    );
    std::thread::sleep(Duration::from_millis(1100));
    let moment = c.psql("shop", "SELECT now()");
    std::thread::sleep(Duration::from_millis(1100));
    c.psql("shop", "DELETE FROM t WHERE id % 2 = 0");
    // The switch puts the deletion into the archive, so the moment lies inside the window.
    c.psql("postgres", "SELECT pg_switch_wal()");

    let target: Arc<dyn Target> = Arc::new(DirectTarget::new(
        ConnParams {
            host: c.dir.display().to_string(),
            port: c.port,
            user: "postgres".into(),
            password: None,
            dbname: "shop".into(),
        },
        Some(common::pg_bin()),
    ));
    let config = Config {
        backup_dir: c.backups.clone(),
        pg_bin: Some(common::pg_bin()),
        ..Default::default()
    };
    let mut app = App::new(config, target, "pgkeep".into());
    app.start_background();
    console_support::run_until(&mut app, LIMIT, "the base backup and the timeline", |a| {
        !a.state.bases.is_empty() && a.state.pitr.as_ref().is_some_and(|p| !p.bases.is_empty())
    })
    .await;
    assert!(app.state.rows().contains(&ListRow::Base(0)));
    let pitr = app.state.pitr.clone().unwrap();
    assert!(pitr.window.from.is_some(), "{:?}", pitr.window);
    assert!(!pitr.run.is_empty() && pitr.run.iter().all(|t| t.is_some()));

    press(&mut app, KeyCode::Char('t'));
    for _ in 0..20 {
        press(&mut app, KeyCode::Backspace);
    }
    type_text(&mut app, &moment);
    match check(&app.state, &moment) {
        Check::Ready(_, Some(plan)) => {
            assert_eq!(plan.base, app.state.bases[0].name);
            assert!(plan.segments >= 1, "{plan:?}");
        }
        other => panic!("the dialog does not accept {moment}: {other:?}"),
    }
    press(&mut app, KeyCode::Enter);
    assert!(
        matches!(&app.state.dialog, Some(Dialog::RestoreMoment(d)) if d.confirming),
        "{:?}",
        app.state.dialog
    );
    type_text(&mut app, "shop");
    press(&mut app, KeyCode::Enter);
    assert!(app.state.job_running(), "{:?}", app.state.flash);
    console_support::run_until(&mut app, LIMIT, "the restore to finish", |a| {
        !a.state.job_running()
    })
    .await;
    let job = app.state.history.last().unwrap().clone();
    match &job.outcome {
        JobOutcome::Succeeded(m) => assert!(m.contains("shop is back as of"), "{m}"),
        other => panic!("{other:?}: {:?}", job.log),
    }
    assert!(
        job.log.iter().any(|l| l.starts_with("WAL replayed")),
        "{:?}",
        job.log
    );
    assert_eq!(
        c.psql("shop", "SELECT count(*) || '/' || sum(id) FROM t"),
        "100/5050",
        "the rows as of the moment, before the deletion"
    );
    app.shutdown().await;
}
