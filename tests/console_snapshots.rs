//! Snapshots of every pane and dialog at 120x40 and 80x24 with fixture data, and colour
//! asserts where colour carries meaning (failures red, warnings yellow).

mod console_support;

use console_support::*;
use crossterm::event::KeyCode;
use pgkeep::console::msg::{Dangerous, Msg};
use pgkeep::console::state::{Dialog, Pane};
use pgkeep::console::update::update;
use pgkeep::engine::progress::{JobEvent, Phase, Progress};
use ratatui::style::Color;

const SIZES: [(u16, u16); 2] = [(120, 40), (80, 24)];

fn snap(name: &str, state: &pgkeep::console::state::State) {
    for (w, h) in SIZES {
        let term = render(state, w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), term.backend());
    }
}

#[test]
fn every_pane_focused() {
    for pane in Pane::ALL {
        let mut s = state();
        s.focus = pane;
        snap(&format!("pane_{}", pane.title()), &s);
    }
}

#[test]
fn full_layout_names_all_four_panes_and_no_alarm_words() {
    let term = render(&state(), 120, 40);
    let screen = text(&term).to_lowercase();
    for p in ["status", "backups", "log", "schedule"] {
        assert!(screen.contains(p), "no {p} pane");
    }
    let mut healthy = state();
    healthy.log.lines.clear();
    healthy.log.notice = Some(pgkeep::monitor::logs::HOW_TO_CONFIGURE.into());
    healthy.backups.retain(|e| {
        e.status.is_restorable()
            && e.manifest.is_some()
            && !matches!(
                e.status,
                pgkeep::engine::catalog::BackupStatus::VerifyFailed { .. }
            )
    });
    let screen = text(&render(&healthy, 120, 40)).to_lowercase();
    for bad in ["error", "refused", "unreachable"] {
        assert!(
            !screen.contains(bad),
            "healthy screen shows '{bad}':\n{screen}"
        );
    }
}

#[test]
fn dialogs() {
    let mut s = state();
    let entry = Box::new(s.backups[1].clone());
    update(
        &mut s,
        Msg::Request(Dangerous::Restore {
            entry: entry.clone(),
        }),
    );
    for c in "sho".chars() {
        update(&mut s, key(c));
    }
    snap("dialog_confirm_restore", &s);
    update(&mut s, code(KeyCode::Enter));
    snap("dialog_confirm_restore_mismatch", &s);

    let mut s = state();
    update(&mut s, Msg::Request(Dangerous::Delete { entry }));
    snap("dialog_yes_no_delete", &s);

    let mut s = state();
    update(&mut s, key('?'));
    snap("dialog_help", &s);

    let mut s = state();
    update(&mut s, key('b'));
    update(
        &mut s,
        Msg::Job(JobEvent::Log(
            "server 15.8 · pg_dump 15.8 · 2 tables".into(),
        )),
    );
    update(
        &mut s,
        Msg::Job(JobEvent::Failed(
            "pg_dump failed: connection to server lost".into(),
        )),
    );
    snap("dialog_error", &s);
    update(&mut s, code(KeyCode::Esc));
    update(&mut s, key('J'));
    snap("dialog_job_history", &s);

    let mut s = state();
    update(&mut s, code(KeyCode::Enter));
    assert!(matches!(s.dialog, Some(Dialog::Details { .. })));
    snap("dialog_details", &s);
}

#[test]
fn job_gauge_and_search() {
    let mut s = state();
    update(&mut s, key('b'));
    update(&mut s, Msg::Job(JobEvent::Phase(Phase::Dump)));
    update(
        &mut s,
        Msg::Job(JobEvent::Progress(Progress {
            bytes_done: 60_000_000,
            bytes_written: 12_000_000,
            bytes_total: None,
            table: Some("public.invoice".into()),
            rows_done: 60_000,
            rows_total: 124_000,
            elapsed: std::time::Duration::from_secs(20),
            ..Default::default()
        })),
    );
    snap("job_running", &s);

    let mut s = state();
    s.focus = Pane::Log;
    update(&mut s, key('/'));
    for c in "checkpoint".chars() {
        update(&mut s, key(c));
    }
    snap("log_search_typing", &s);
    update(&mut s, code(KeyCode::Enter));
    snap("log_search_result", &s);
    let term = render(&s, 120, 40);
    let (x, y) = find(&term, "checkpoint complete").expect("match on screen");
    assert_eq!(
        term.backend().buffer()[(x, y)].bg,
        Color::Yellow,
        "matches are highlighted"
    );
}

#[test]
fn too_small_and_resizing_never_panic() {
    let s = state();
    let term = render(&s, 50, 12);
    assert!(text(&term).contains("terminal too small"));
    for w in 0..130 {
        for h in [0, 1, 5, 15, 16, 23, 24, 29, 30, 41] {
            render(&s, w, h);
        }
    }
}

#[test]
fn unreachable_server() {
    let mut s = state();
    let st = s.status.as_mut().unwrap();
    st.server = None;
    st.problem = Some("cannot reach the database server at postgres@127.0.0.1:5432/shop: Connection refused (os error 111)".into());
    snap("status_unreachable", &s);
    let term = render(&s, 120, 40);
    let (x, y) = find(&term, "UNREACHABLE").unwrap();
    assert_eq!(term.backend().buffer()[(x, y)].fg, Color::Red);
}

#[test]
fn failure_states_are_red_and_warnings_yellow() {
    let mut s = state();
    s.selected = 0;
    let term = render(&s, 120, 40);
    let fg = |needle: &str| {
        let (x, y) = find(&term, needle).unwrap_or_else(|| panic!("{needle} not on screen"));
        term.backend().buffer()[(x, y)].fg
    };
    assert_eq!(fg("FAILED verification"), Color::Red);
    assert_eq!(fg("DAMAGED"), Color::Red);
    assert_eq!(fg("INTERRUPTED"), Color::Red);
    assert_eq!(fg("no manifest"), Color::Yellow);
    assert_eq!(fg("verified 8h00m ago"), Color::Green);
    assert_eq!(fg("ERROR:"), Color::Red, "ERROR log lines are red");
    assert_eq!(fg("FATAL:"), Color::Red, "FATAL log lines are red");
    assert_eq!(
        fg("WARNING:"),
        Color::Yellow,
        "WARNING log lines are yellow"
    );
}

#[test]
fn old_backup_and_failing_archiver_are_flagged() {
    let mut s = state();
    s.backups
        .retain(|e| e.time < now() - chrono::Duration::hours(50));
    let st = s.status.as_mut().unwrap();
    st.last_backup_at = None;
    let a = &mut st.server.as_mut().unwrap().archiver;
    a.failed_count = 3;
    a.last_failed_at = Some(now() - chrono::Duration::minutes(1));
    let term = render(&s, 120, 40);
    let (x, y) = find(&term, "3 failed attempts").unwrap();
    assert_eq!(term.backend().buffer()[(x, y)].fg, Color::Red);
    let (x, y) = find(&term, "— overdue").unwrap();
    assert_eq!(
        term.backend().buffer()[(x, y)].fg,
        Color::Red,
        "a backup older than 50 h is red"
    );

    let mut s = state();
    s.backups
        .retain(|e| e.time < now() - chrono::Duration::hours(30));
    let term = render(&s, 120, 40);
    let (x, y) = find(&term, "— overdue").unwrap();
    assert_eq!(
        term.backend().buffer()[(x, y)].fg,
        Color::Yellow,
        "a backup older than 26 h is yellow"
    );
}

#[test]
fn no_color_uses_no_colours() {
    let mut s = state();
    s.theme.color = false;
    let term = render(&s, 120, 40);
    let buf = term.backend().buffer();
    assert!(buf
        .content()
        .iter()
        .all(|c| c.fg == Color::Reset && c.bg == Color::Reset));
    assert!(
        text(&term).contains("FAILED verification"),
        "failures still say so in words"
    );
}

#[test]
fn container_state_and_failing_checks_are_shown() {
    let mut s = state();
    let now = s.now;
    let st = s.status.as_mut().unwrap();
    st.container = Some(pgkeep::monitor::container::ContainerStatus {
        name: "facturatie-db-1".into(),
        state: "restarting".into(),
        health: Some("unhealthy".into()),
        restart_count: 4,
        image: "postgres:15".into(),
        started_at: Some(now - chrono::Duration::seconds(40)),
        data_volume: Some("facturatie_postgres_data".into()),
        ..Default::default()
    });
    st.checks = vec![
        pgkeep::monitor::checks::Check {
            name: "backup dir writable".into(),
            ok: false,
            detail: "db_backups is owned by root".into(),
            fix: Some("sudo chown -R 999:999 db_backups".into()),
        },
        pgkeep::monitor::checks::Check {
            name: "server reachable".into(),
            ok: true,
            detail: "ok".into(),
            fix: None,
        },
    ];
    s.focus = Pane::Status;
    snap("status_container_checks", &s);
    let term = render(&s, 120, 40);
    let screen = text(&term);
    assert!(screen.contains("→ sudo chown -R"), "the fix is shown");
    assert!(
        screen.contains("postgres:15 · started 40s ago")
            && screen.contains("facturatie_postgres_data"),
        "image, start and data volume are shown"
    );
    assert!(
        !screen.contains("server reachable"),
        "passing checks are not listed"
    );
    let (x, y) = find(&term, "restarting").unwrap();
    assert_eq!(term.backend().buffer()[(x, y)].fg, Color::Red);
}

#[test]
fn long_log_lines_wrap_and_the_newest_stays_at_the_bottom() {
    let mut s = state();
    s.log
        .push(format!("ERROR:  {} end-of-long-line", "x".repeat(200)));
    s.log.push("the newest line".into());
    for (w, h) in SIZES {
        s.focus = Pane::Log;
        let term = render(&s, w, h);
        let screen = text(&term);
        assert!(
            screen.contains("end-of-long-line"),
            "the long line is wrapped, not cut:\n{screen}"
        );
        let (_, y_long) = find(&term, "end-of-long-line").unwrap();
        let (x, y_new) = find(&term, "the newest line").unwrap();
        assert_eq!(y_new, y_long + 1, "the newest line follows right below");
        let _ = x;
        assert_eq!(
            term.backend().buffer()[find(&term, "ERROR:").unwrap()].fg,
            Color::Red
        );
        let wrapped_x = find(&term, "end-of-long-line").unwrap();
        assert_eq!(
            term.backend().buffer()[wrapped_x].fg,
            Color::Red,
            "continuation rows keep the colour"
        );
    }
}

fn window(gap: Option<&str>) -> pgkeep::engine::physical::window::RecoveryWindow {
    pgkeep::engine::physical::window::RecoveryWindow {
        system_identifier: "7441234567890123456".into(),
        from: Some(now() - chrono::Duration::hours(30)),
        to: Some(now() - chrono::Duration::minutes(4)),
        base_backups: 2,
        archived_segments: 120,
        last_segment: Some("000000010000000000000078".into()),
        gap: gap.map(String::from),
        archive_timeline: Some(1),
        server_timeline: Some(1),
        server_segment: Some("000000010000000000000079".into()),
        not_yet_archived: Some(0),
        ..Default::default()
    }
}

#[test]
fn status_pane_shows_the_recoverable_window_and_a_gap_in_red() {
    let mut s = state();
    s.focus = Pane::Status;
    s.status.as_mut().unwrap().recovery_window = Some(window(None));
    snap("status_pitr_window", &s);
    let term = render(&s, 120, 40);
    let (x, y) = find(&term, "restorable to any moment from").unwrap();
    assert_eq!(term.backend().buffer()[(x, y)].fg, Color::Green);

    s.status.as_mut().unwrap().recovery_window = Some(window(Some(
        "000000010000000000000042 is missing (segments after it exist)",
    )));
    snap("status_pitr_gap", &s);
    let term = render(&s, 120, 40);
    let (x, y) = find(&term, "GAP in the archive: 000000010000000000000042").unwrap();
    assert_eq!(term.backend().buffer()[(x, y)].fg, Color::Red);

    // an archiver that stopped: finished segments wait and the newest archived is old
    let mut stale = window(None);
    stale.to = Some(now() - chrono::Duration::hours(2));
    stale.not_yet_archived = Some(7);
    s.status.as_mut().unwrap().recovery_window = Some(stale);
    let term = render(&s, 120, 40);
    let (x, y) = find(&term, "STALE: 7 finished segment(s) not archived").unwrap();
    assert_eq!(term.backend().buffer()[(x, y)].fg, Color::Red);

    // no base backup: a dim hint, no window
    let none = pgkeep::engine::physical::window::RecoveryWindow::default();
    s.status.as_mut().unwrap().recovery_window = Some(none);
    let screen = text(&render(&s, 120, 40));
    assert!(screen.contains("no base backup: run `pgkeep basebackup`"));
    assert!(!screen.contains("restorable"));
}
