//! Issue 13's "every message whole" at 80x24 and 120x40: long job results wrap on the
//! bottom line (never cut mid-word), several failing checks all show (failures first), a
//! long path wraps in a dialog without touching its border, the key bar keeps `? help` and
//! `q quit`, the header keeps its date; log search shows "3/4"; pgkeep's own log lines dim.

mod console_support;

use console_support::*;
use pgkeep::console::state::{Dialog, Pane};
use pgkeep::console::update::update;
use pgkeep::monitor::checks::Check;
use pgkeep::monitor::logs::LogEvent;
use ratatui::style::Color;

const SIZES: [(u16, u16); 2] = [(120, 40), (80, 24)];

fn failing(name: &str, detail: &str, fix: &str) -> Check {
    Check {
        name: name.into(),
        ok: false,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

fn stressed() -> pgkeep::console::state::State {
    let mut s = state();
    s.backup_dir = "/srv/very/long/deployment/path/of/facturatie/production/db_backups".into();
    let st = s.status.as_mut().unwrap();
    st.checks = vec![
        failing(
            "backup dir",
            "/srv/facturatie/db_backups is owned by root, not by the user running pgkeep",
            "sudo chown -R $(id -u):$(id -g) /srv/facturatie/db_backups",
        ),
        failing(
            "WAL archiving",
            "archiving 000000010000000000000042 is failing (17 failed attempts in all)",
            "check archive_command in postgresql.conf; the server log says why",
        ),
        failing(
            "pg_dump version",
            "pg_dump 14.9 cannot dump server 15.8",
            "sudo apt-get install postgresql-client-15",
        ),
    ];
    s.flash = Some(
        "verification of facturatie_2026-12-01T10-00-00Z.sql.gz finished: test restore ok: 14 tables, 450,965 rows match the manifest; facturatie now holds facturatie_2026-12-01T10-00-00Z.sql.gz"
            .into(),
    );
    s
}

fn words_whole(screen: &str, word: &str) -> bool {
    // A word cut at the end of a row would show its head without its tail.
    screen.contains(word)
}

#[test]
fn long_results_paths_and_several_failing_checks() {
    for (w, h) in SIZES {
        for focus in [Pane::Status, Pane::Backups] {
            let mut s = stressed();
            s.focus = focus;
            let term = render(&s, w, h);
            insta::assert_snapshot!(
                format!("stressed_{}_{w}x{h}", focus.title()),
                term.backend()
            );
            let screen = text(&term);
            let rows: Vec<&str> = screen.lines().collect();
            let bottom = rows[rows.len().saturating_sub(3)..].join(" ");
            assert!(
                words_whole(&bottom, "manifest;") || bottom.contains("(J: whole text)"),
                "{w}x{h}: the result is whole or points at J:\n{screen}"
            );
            assert!(
                !bottom.contains("manife "),
                "{w}x{h}: cut mid-word:\n{screen}"
            );
            assert!(
                rows[0].contains("2026-11-24"),
                "{w}x{h}: header keeps the date"
            );
            assert!(!rows[0].contains("·  ·"), "{w}x{h}: no empty header field");
        }
        let mut s = stressed();
        s.focus = Pane::Status;
        let screen = text(&render(&s, w, h));
        if w >= 100 {
            for name in ["✗ backup dir", "✗ WAL archiving", "✗ pg_dump version"] {
                assert!(screen.contains(name), "{w}x{h}: {name} shown:\n{screen}");
            }
        }
        assert!(
            screen.contains("3 failing checks"),
            "{w}x{h}: the count is shown:\n{screen}"
        );
        s.flash = None;
        let screen = text(&render(&s, w, h));
        let last = screen.lines().last().unwrap().to_string();
        assert!(
            last.contains("? help") && last.contains("q quit"),
            "{w}x{h}: {last}"
        );
    }
}

#[test]
fn a_long_path_wraps_inside_the_error_dialog() {
    let mut s = state();
    s.dialog = Some(Dialog::Error {
        title: "backup of shop failed".into(),
        message: "backup directory /srv/very/long/deployment/path/of/facturatie/production/db_backups/and/deeper/still is not usable: permission denied (fix: `sudo chown -R $(id -u):$(id -g) /srv/very/long/deployment/path/of/facturatie/production/db_backups`)".into(),
    });
    for (w, h) in SIZES {
        let term = render(&s, w, h);
        insta::assert_snapshot!(format!("error_long_path_{w}x{h}"), term.backend());
        let screen = text(&term);
        for row in screen.lines().filter(|r| r.contains('║')) {
            // Text never touches the border: a blank column inside each side.
            let inner: Vec<char> = row.chars().collect();
            let l = inner.iter().position(|c| *c == '║').unwrap();
            let r = inner.iter().rposition(|c| *c == '║').unwrap();
            if r > l + 2 {
                assert_eq!(inner[l + 1], ' ', "{w}x{h}: touches the left border: {row}");
                assert_eq!(
                    inner[r - 1],
                    ' ',
                    "{w}x{h}: touches the right border: {row}"
                );
            }
        }
        assert!(
            screen.contains("/production/"),
            "{w}x{h}: path wraps after a /:\n{screen}"
        );
    }
}

#[test]
fn log_search_counts_and_own_noise_is_dim() {
    let mut s = state();
    s.log.lines.clear();
    for i in 0..4 {
        update(
            &mut s,
            pgkeep::console::msg::Msg::Log(LogEvent::Line(format!("LOG:  match {i}"))),
        );
    }
    update(
        &mut s,
        pgkeep::console::msg::Msg::Log(LogEvent::Line(
            "ERROR:  database \"shop_pgkeep_scratch_12_3\" is being accessed".into(),
        )),
    );
    s.focus = Pane::Log;
    let term = render(&s, 120, 40);
    let (x, y) = find(&term, "[pgkeep job]").expect("labelled");
    assert_ne!(
        term.backend().buffer()[(x, y)].fg,
        Color::Red,
        "not an alarm"
    );
    update(&mut s, key('/'));
    for c in "match".chars() {
        update(&mut s, key(c));
    }
    update(&mut s, code(crossterm::event::KeyCode::Enter));
    update(&mut s, key('N'));
    let term = render(&s, 120, 40);
    let screen = text(&term);
    assert!(screen.contains("/match: 3/4"), "{screen}");
}

#[test]
fn remapped_keys_work_and_the_help_shows_them() {
    use pgkeep::console::keymap::KeyMap;
    use pgkeep::console::msg::Effect;
    let mut s = state();
    let table = [("backup".to_string(), "B".to_string())]
        .into_iter()
        .collect();
    s.keys = KeyMap::from_config(&table).unwrap();
    assert!(update(&mut s, key('b')).is_empty(), "b no longer backs up");
    assert_eq!(update(&mut s, key('B')), vec![Effect::StartBackup]);
    s.job = None;
    s.flash = None;
    update(&mut s, key('?'));
    for (w, h) in SIZES {
        let term = render(&s, w, h);
        insta::assert_snapshot!(format!("help_remapped_{w}x{h}"), term.backend());
        let screen = text(&term);
        assert!(
            screen.contains("B                take a backup now"),
            "{w}x{h}:\n{screen}"
        );
        assert!(
            screen.contains("[keys]"),
            "{w}x{h}: says where to remap:\n{screen}"
        );
    }
}

#[test]
fn the_job_history_keeps_the_selected_job_in_view() {
    use pgkeep::console::state::{JobOutcome, JobRecord};
    use pgkeep::engine::progress::JobKind;
    let mut s = state();
    s.history = (0..30)
        .map(|i| JobRecord {
            kind: JobKind::Verify,
            what: format!("verification number {i}"),
            command: "pgkeep verify x".into(),
            started_at: s.now,
            ended_at: Some(s.now),
            outcome: JobOutcome::Succeeded("ok".into()),
            log: vec![],
        })
        .collect();
    s.dialog = Some(Dialog::JobHistory { selected: 2 });
    for (w, h) in SIZES {
        let screen = text(&render(&s, w, h));
        assert!(
            screen.contains("verification number 2 "),
            "{w}x{h}:\n{screen}"
        );
        assert!(
            screen.contains(" ok "),
            "{w}x{h}: the outcome stays on the row"
        );
    }
}
