//! The console picks up new credentials: its password is refused (as after a container was
//! recreated with a new one), the credentials change (here ~/.pgpass, for compose the
//! container's environment or `.env`), and the status refresh reads them again and
//! recovers without a restart of the console. Its own test binary: it sets PGPASSFILE.

mod common;

use std::sync::Arc;
use std::time::Duration;

use pgkeep::config::{Config, TargetKind};
use pgkeep::console::app::App;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_password_is_read_again_and_the_console_recovers() {
    let c = common::cluster();
    let db = c.new_db("console_creds");
    let dir = tempfile::tempdir().unwrap();
    let passfile = dir.path().join("pgpass");
    let line = |pw: &str| format!("127.0.0.1:{}:*:{}:{pw}\n", c.port, c.user);
    std::fs::write(&passfile, line("not-the-password")).unwrap();
    std::fs::set_permissions(
        &passfile,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    for v in [
        "PGPASSWORD",
        "PGHOST",
        "PGPORT",
        "PGUSER",
        "PGDATABASE",
        "PGSERVICE",
    ] {
        std::env::remove_var(v);
    }
    std::env::set_var("PGPASSFILE", &passfile);
    let config = Config {
        backup_dir: dir.path().join("db_backups"),
        url: Some(format!("postgresql://{}@127.0.0.1:{}/{db}", c.user, c.port)),
        target: TargetKind::Direct,
        pg_bin: Some(common::pg_bin()),
        ..Default::default()
    };
    let target = pgkeep::target::from_config(&config).await.unwrap();
    let mut app = App::new(config, Arc::from(target), "pgkeep".into());
    app.start_background();

    let refused = |a: &App| {
        a.state
            .status
            .as_ref()
            .and_then(|s| s.problem.as_deref())
            .is_some_and(|p| p.contains("password authentication failed"))
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !refused(&app) {
        assert!(tokio::time::Instant::now() < deadline, "never refused");
        let _ = tokio::time::timeout(Duration::from_secs(1), app.next()).await;
    }
    assert!(
        !app.state
            .status
            .as_ref()
            .unwrap()
            .problem
            .as_ref()
            .unwrap()
            .contains("not-the-password"),
        "no password in the message"
    );

    // The operator fixes the credentials; the console is not restarted.
    std::fs::write(&passfile, line(&c.password)).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while !app.state.status.as_ref().is_some_and(|s| s.reachable()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the console did not pick up the new password: {:?}",
            app.state.status.as_ref().and_then(|s| s.problem.clone())
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), app.next()).await;
    }
    app.shutdown().await;
}
