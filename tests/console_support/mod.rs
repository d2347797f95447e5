//! Fixture data for the console's snapshot, update and bench tests: a state with backups
//! of every kind, a healthy server, a schedule and a log, at a fixed clock.

#![allow(dead_code)]

use std::path::PathBuf;

use chrono::{DateTime, Local, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pgkeep::console::msg::Msg;
use pgkeep::console::state::State;
use pgkeep::console::theme::Theme;
use pgkeep::engine::catalog::{BackupEntry, BackupStatus};
use pgkeep::engine::manifest::{Manifest, TableEntry, Verification};
use pgkeep::monitor::status::{Archiver, ServerFacts, ServerStatus};
use pgkeep::schedule::{CrontabState, ScheduleSummary};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

/// The fixed "now" of every fixture; also pins local time to UTC so snapshots do not
/// depend on the machine's time zone.
pub fn now() -> DateTime<Utc> {
    std::env::set_var("TZ", "UTC");
    Utc.with_ymd_and_hms(2026, 11, 24, 11, 0, 0).unwrap()
}

fn hours_ago(h: i64) -> DateTime<Utc> {
    now() - chrono::Duration::hours(h)
}

/// A manifest for a backup taken at `t`.
pub fn manifest(t: DateTime<Utc>, verification: Option<Verification>) -> Manifest {
    Manifest {
        format_version: 1,
        database: "shop".into(),
        server_version: "15.8".into(),
        pg_dump_version: "15.8".into(),
        started_at: t,
        finished_at: t + chrono::Duration::seconds(42),
        duration_secs: 42.3,
        raw_bytes: 120_000_000,
        compressed_bytes: 23_456_789,
        sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        compression_level: 6,
        label: None,
        pgkeep_version: "0.1.0".into(),
        target: "postgres@db:5432/shop".into(),
        database_size_bytes: Some(98_765_432),
        tables: vec![
            TableEntry {
                name: "public.invoice".into(),
                estimated_rows: 120_000,
                rows: Some(120_345),
            },
            TableEntry {
                name: "public.customer".into(),
                estimated_rows: 4_000,
                rows: Some(4_012),
            },
        ],
        verification,
        globals: None,
        large_objects: None,
        warnings: vec![],
        encryption: None,
    }
}

/// A backup entry.
pub fn entry(
    h: i64,
    status: BackupStatus,
    label: Option<&str>,
    with_manifest: bool,
) -> BackupEntry {
    let t = hours_ago(h);
    let name = format!(
        "shop_{}.sql.gz{}",
        t.format("%Y-%m-%dT%H-%M-%SZ"),
        if status == BackupStatus::Interrupted {
            ".partial"
        } else {
            ""
        }
    );
    let verification = match &status {
        BackupStatus::Verified { at } => Some(Verification {
            at: *at,
            ok: true,
            message: "2 tables match".into(),
        }),
        BackupStatus::VerifyFailed { at, message } => Some(Verification {
            at: *at,
            ok: false,
            message: message.clone(),
        }),
        _ => None,
    };
    let mut m = with_manifest.then(|| manifest(t, verification));
    if let Some(m) = m.as_mut() {
        m.label = label.map(String::from);
    }
    BackupEntry {
        path: PathBuf::from("/srv/facturatie/db_backups").join(&name),
        name,
        database: "shop".into(),
        time: t,
        size: 23_456_789,
        label: label.map(String::from),
        status,
        manifest: m,
    }
}

/// Backups of every status, newest first.
pub fn backups() -> Vec<BackupEntry> {
    vec![
        entry(1, BackupStatus::Interrupted, None, false),
        entry(
            9,
            BackupStatus::Verified { at: hours_ago(8) },
            Some("nightly"),
            true,
        ),
        entry(33, BackupStatus::Complete, Some("before upgrade"), true),
        entry(
            57,
            BackupStatus::VerifyFailed {
                at: hours_ago(50),
                message: "row count of public.invoice differs: 120,345 in the manifest, 0 restored"
                    .into(),
            },
            None,
            true,
        ),
        entry(81, BackupStatus::ChecksumMismatch, None, true),
        entry(400, BackupStatus::NoManifest, None, false),
    ]
}

/// A healthy server.
pub fn healthy_status() -> ServerStatus {
    ServerStatus {
        checked_at: now(),
        target: "postgres@127.0.0.1:5432/shop".into(),
        database: "shop".into(),
        server: Some(ServerFacts {
            version: "15.8 (Debian 15.8-0+deb12u1)".into(),
            started_at: now() - chrono::Duration::hours(75),
            database_size: Some(98_765_432),
            connections: 7,
            max_connections: 100,
            wal_level: "logical".into(),
            archiver: Archiver {
                archive_mode: "on".into(),
                archived_count: 1234,
                last_archived_at: Some(now() - chrono::Duration::minutes(3)),
                failed_count: 0,
                last_failed_at: None,
            },
        }),
        problem: None,
        backup_dir: PathBuf::from("/srv/facturatie/db_backups"),
        free_bytes: Some(52_000_000_000),
        last_backup_at: Some(hours_ago(9)),
        leftovers: vec![],
        container: None,
        checks: vec![],
        recovery_window: None,
    }
}

/// A schedule with next runs.
pub fn schedule() -> ScheduleSummary {
    let day = |d: u32| Local.with_ymd_and_hms(2026, 11, d, 2, 0, 0).unwrap();
    ScheduleSummary {
        expression: "0 2 * * *".into(),
        timezone: "Europe/Amsterdam".into(),
        description: "every day at 02:00, Europe/Amsterdam".into(),
        error: None,
        next_runs: (25..30).map(day).collect(),
        crontab: CrontabState::Matches,
        cron_note: Some("cron runs this in Europe/Amsterdam, the system's time zone".into()),
    }
}

/// The full fixture state, colours on.
pub fn state() -> State {
    let mut s = State::new(
        "shop",
        PathBuf::from("/srv/facturatie/db_backups"),
        "pgkeep --backup-dir db_backups".into(),
        10_000,
    );
    s.now = now();
    s.theme = Theme { color: true };
    s.backups = backups();
    s.selected = 1;
    s.status = Some(healthy_status());
    s.schedule = Some(schedule());
    s.log.source = "/var/log/postgresql/postgresql-15-main.log".into();
    for l in [
        "2026-11-24 10:58:01 UTC [101] LOG:  checkpoint starting: time",
        "2026-11-24 10:58:04 UTC [101] LOG:  checkpoint complete: wrote 12 buffers (0.1%)",
        "2026-11-24 10:59:12 UTC [2201] app@shop WARNING:  there is no transaction in progress",
        "2026-11-24 10:59:40 UTC [2202] app@shop ERROR:  duplicate key value violates unique constraint \"invoice_pkey\"",
        "2026-11-24 10:59:41 UTC [2203] app@shop FATAL:  password authentication failed for user \"app\"",
        "2026-11-24 10:59:59 UTC [101] LOG:  checkpoint starting: time",
    ] {
        s.log.push(l.into());
    }
    s.dirty = false;
    s
}

/// A key press message.
pub fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

/// Runs a live console's loop until `done` holds; fails naming `what` (and the job
/// history) when `limit` passes first.
pub async fn run_until(
    app: &mut pgkeep::console::app::App,
    limit: std::time::Duration,
    what: &str,
    done: impl Fn(&pgkeep::console::app::App) -> bool,
) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done(app) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(
            !left.is_zero(),
            "timed out waiting for {what}; job history: {:?}",
            app.state.history
        );
        let _ = tokio::time::timeout(left, app.next()).await;
    }
}

/// A special key press message.
pub fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

/// Draws `state` on a w x h test terminal.
pub fn render(state: &State, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| pgkeep::console::layout::draw(f, state))
        .unwrap();
    term
}

/// The screen as text.
pub fn text(term: &Terminal<TestBackend>) -> String {
    let buf = term.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The cell where `needle` first starts on screen.
pub fn find(term: &Terminal<TestBackend>, needle: &str) -> Option<(u16, u16)> {
    let buf = term.backend().buffer();
    for y in 0..buf.area.height {
        let cells: Vec<&str> = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        let row: String = cells.concat();
        if let Some(byte) = row.find(needle) {
            let mut acc = 0;
            for (x, c) in cells.iter().enumerate() {
                if acc == byte {
                    return Some((x as u16, y));
                }
                acc += c.len();
            }
        }
    }
    None
}
