//! The backup engine through the library API, as the console and the scheduler call it:
//! events in order, progress that never claims 100 % before the end, cancellation.

mod common;

use pgkeep::engine::backup::{backup, BackupOptions};
use pgkeep::engine::catalog::{self, BackupStatus};
use pgkeep::engine::progress::{JobEvent, JobKind, JobProgress, Phase, Sink};
use pgkeep::target::direct::DirectTarget;
use pgkeep::target::ConnParams;
use tokio_util::sync::CancellationToken;

use common::{cluster, complete_backups, partial_backups};

fn target(db: &str) -> DirectTarget {
    let c = cluster();
    let params = ConnParams {
        host: "127.0.0.1".into(),
        port: c.port,
        user: c.user.clone(),
        password: Some(c.password.clone()),
        dbname: db.into(),
    };
    DirectTarget::new(params, Some(common::pg_bin()))
}

fn opts() -> BackupOptions {
    BackupOptions {
        label: Some("engine".into()),
        compression_level: 1,
        lock_wait_timeout: None,
        dir_policy: Default::default(),
    }
}

#[tokio::test]
async fn events_arrive_in_order_and_progress_stays_below_100_until_finished() {
    let c = cluster();
    let db = c.new_db("events");
    c.pgbench_init(&db, 2);
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sink = Sink::channel(tx);
    let out = backup(
        &target(&db),
        dir.path(),
        &opts(),
        &sink,
        &CancellationToken::new(),
    )
    .await
    .expect("backup succeeds");
    drop(sink);

    let mut events = Vec::new();
    while let Some(e) = rx.recv().await {
        events.push(e);
    }
    let phases: Vec<Phase> = events
        .iter()
        .filter_map(|e| match e {
            JobEvent::Phase(p) => Some(*p),
            _ => None,
        })
        .collect();
    assert_eq!(phases, vec![Phase::Check, Phase::Dump, Phase::Finish]);

    let mut gauge = JobProgress::default();
    gauge.reduce(&JobEvent::Started {
        kind: JobKind::Backup,
        what: db.clone(),
    });
    let mut last_rows = 0;
    for e in &events {
        gauge.reduce(e);
        assert!(gauge.percent() < 100, "100% before Finished at {e:?}");
        if let JobEvent::Progress(p) = e {
            assert_eq!(
                p.rows_total,
                200_000 + 20 + 2,
                "pgbench scale 2 row estimate"
            );
            last_rows = p.rows_done;
        }
    }
    assert_eq!(
        last_rows,
        out.manifest.total_rows(),
        "the last sample counts every row"
    );
    assert_eq!(out.manifest.total_rows(), 200_022);
    gauge.reduce(&JobEvent::Finished(out.path.display().to_string()));
    assert_eq!(gauge.percent(), 100);

    let list = catalog::scan(dir.path()).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].status, BackupStatus::Complete);
    assert_eq!(list[0].label.as_deref(), Some("engine"));
    assert_eq!(
        catalog::resolve(dir.path(), "latest", Some(&db))
            .unwrap()
            .path,
        out.path
    );
}

#[tokio::test]
async fn cancelled_backup_leaves_nothing() {
    let c = cluster();
    let db = c.new_db("cancel");
    c.pgbench_init(&db, 2);
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let err = backup(&target(&db), dir.path(), &opts(), &Sink::none(), &cancel)
        .await
        .expect_err("a cancelled backup fails");
    assert!(matches!(err, pgkeep::Error::Cancelled), "{err}");
    assert!(complete_backups(dir.path()).is_empty());
    assert!(partial_backups(dir.path()).is_empty());
}
