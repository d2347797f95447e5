//! The schedule editor: `update()` tests (typing, the parser's error, Esc, Enter refused for
//! a bad expression, presets, install/remove only after `y`), snapshots at 120x40 and 80x24
//! and a colour assert for the error.

mod console_support;

use console_support::*;
use crossterm::event::KeyCode;
use pgkeep::console::msg::{Dangerous, Effect, Msg};
use pgkeep::console::state::{Dialog, Pane, State};
use pgkeep::console::update::update;
use pgkeep::engine::catalog::BackupStatus;
use pgkeep::schedule::CrontabState;
use ratatui::style::Color;

fn press(s: &mut State, keys: &str) -> Vec<Effect> {
    keys.chars().flat_map(|c| update(s, key(c))).collect()
}

fn backspace(s: &mut State, n: usize) {
    for _ in 0..n {
        assert!(update(s, code(KeyCode::Backspace)).is_empty());
    }
}

/// The fixture state, schedule pane focused, editor open on `0 2 * * *`.
fn editing() -> State {
    let mut s = state();
    s.focus = Pane::Schedule;
    assert!(press(&mut s, "e").is_empty());
    let ed = s.editor.as_ref().expect("e opens the editor");
    assert_eq!(ed.input, "0 2 * * *");
    assert_eq!(ed.cursor, 9);
    assert!(ed.is_valid());
    s
}

#[test]
fn e_edits_only_in_the_schedule_pane() {
    let mut s = state();
    s.focus = Pane::Backups;
    press(&mut s, "e");
    assert!(s.editor.is_none());
}

#[test]
fn typing_revalidates_and_recomputes_the_next_runs() {
    let mut s = editing();
    backspace(&mut s, 9);
    assert_eq!(s.editor.as_ref().unwrap().input, "");
    assert!(!s.editor.as_ref().unwrap().is_valid());
    // q, Tab-free typing: keys that are global elsewhere are text here
    assert!(press(&mut s, "30 4 * * 1-5").is_empty());
    assert!(!s.quit && s.focus == Pane::Schedule);
    let ed = s.editor.as_ref().unwrap();
    assert_eq!(ed.input, "30 4 * * 1-5");
    assert!(ed.problem().is_none());
    match &ed.preview {
        pgkeep::console::schedule_editor::Preview::Valid {
            description,
            next_runs,
        } => {
            assert!(description.contains("04:30"), "{description}");
            assert_eq!(next_runs.len(), 5);
            // fixture now: Tue 2026-11-24 11:00 UTC = 12:00 Amsterdam; next is Wed 04:30 CET
            assert_eq!(
                next_runs[0].to_rfc3339(),
                "2026-11-25T03:30:00+00:00",
                "{next_runs:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    // a bad minute: the parser's message
    backspace(&mut s, 12);
    press(&mut s, "61 2 * * *");
    let p = s
        .editor
        .as_ref()
        .unwrap()
        .problem()
        .expect("61 is no minute");
    assert!(p.contains("61") || p.contains("minute"), "{p}");
}

#[test]
fn cursor_moves_and_inserts_in_the_middle() {
    let mut s = editing();
    update(&mut s, code(KeyCode::Home));
    update(&mut s, code(KeyCode::Delete));
    press(&mut s, "15");
    assert_eq!(s.editor.as_ref().unwrap().input, "15 2 * * *");
    update(&mut s, code(KeyCode::Right));
    update(&mut s, code(KeyCode::Right));
    update(&mut s, code(KeyCode::Backspace));
    press(&mut s, "3");
    assert_eq!(s.editor.as_ref().unwrap().input, "15 3 * * *");
}

#[test]
fn esc_restores_the_old_expression() {
    let mut s = editing();
    backspace(&mut s, 3);
    press(&mut s, "x");
    assert!(update(&mut s, code(KeyCode::Esc)).is_empty());
    assert!(s.editor.is_none());
    assert_eq!(s.schedule.as_ref().unwrap().expression, "0 2 * * *");
    press(&mut s, "e");
    assert_eq!(s.editor.as_ref().unwrap().input, "0 2 * * *");
}

#[test]
fn enter_refuses_an_invalid_expression_and_saves_a_valid_one() {
    let mut s = editing();
    backspace(&mut s, 9);
    press(&mut s, "0 25 * * *");
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    assert!(s.editor.is_some(), "still editing");
    assert!(s.flash.as_deref().unwrap().starts_with("not saved"));
    // never fires: also refused
    backspace(&mut s, 10);
    press(&mut s, "0 0 30 2 *");
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    assert!(s.editor.is_some());
    backspace(&mut s, 10);
    press(&mut s, "0  3 * * 0");
    let effects = update(&mut s, code(KeyCode::Enter));
    assert_eq!(
        effects,
        vec![Effect::SaveSchedule {
            cron: "0 3 * * 0".into()
        }]
    );
    assert!(s.editor.is_none());
    update(&mut s, Msg::ScheduleSaved(Ok("0 3 * * 0".into())));
    assert!(s.flash.as_deref().unwrap().contains("saved"));
    update(
        &mut s,
        Msg::ScheduleSaved(Err("cannot write pgkeep.toml: denied".into())),
    );
    assert!(matches!(s.dialog, Some(Dialog::Error { .. })));
}

#[test]
fn enter_on_the_unchanged_expression_saves_nothing() {
    let mut s = editing();
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    assert!(s.editor.is_none());
}

#[test]
fn presets_on_number_keys_and_tab() {
    let mut s = state();
    s.focus = Pane::Schedule;
    press(&mut s, "2");
    assert_eq!(s.editor.as_ref().unwrap().input, "0 */6 * * *");
    update(&mut s, code(KeyCode::Tab));
    assert_eq!(s.editor.as_ref().unwrap().input, "0 3 * * 0");
    assert_eq!(s.focus, Pane::Schedule, "Tab cycles presets, not panes");
    update(&mut s, code(KeyCode::Tab));
    assert_eq!(s.editor.as_ref().unwrap().input, "0 2 * * *");
    update(&mut s, code(KeyCode::Esc));
    press(&mut s, "p");
    assert_eq!(s.editor.as_ref().unwrap().input, "0 2 * * *");
    update(&mut s, code(KeyCode::Esc));
    press(&mut s, "3");
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Effect::SaveSchedule {
            cron: "0 3 * * 0".into()
        }]
    );
}

#[test]
fn install_and_remove_need_a_yes() {
    for (k, effect) in [
        ('i', Effect::InstallSchedule),
        ('u', Effect::RemoveSchedule),
    ] {
        let mut s = state();
        s.focus = Pane::Schedule;
        assert!(press(&mut s, &k.to_string()).is_empty());
        assert!(
            matches!(s.dialog, Some(Dialog::YesNo { yes: false, .. })),
            "{k} asks first, defaulting to no"
        );
        // Enter on the default (no) and n refuse
        assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
        assert!(s.dialog.is_none());
        press(&mut s, &k.to_string());
        assert!(press(&mut s, "n").is_empty());
        press(&mut s, &k.to_string());
        assert_eq!(press(&mut s, "y"), vec![effect.clone()]);
        assert!(s.dialog.is_none());
    }
    let mut s = state();
    let effects = update(
        &mut s,
        Msg::Confirmed(Dangerous::InstallSchedule {
            expression: "0 2 * * *".into(),
        }),
    );
    assert_eq!(effects, vec![Effect::InstallSchedule]);
    update(&mut s, Msg::CrontabChanged(Err("crontab refused".into())));
    assert!(matches!(s.dialog, Some(Dialog::Error { .. })));
}

#[test]
fn ctrl_c_still_quits_while_editing() {
    let mut s = editing();
    let effects = update(
        &mut s,
        Msg::Key(crossterm::event::KeyEvent::new(
            KeyCode::Char('c'),
            crossterm::event::KeyModifiers::CONTROL,
        )),
    );
    assert_eq!(effects, vec![Effect::Quit]);
}

fn snap(name: &str, state: &State) {
    for (w, h) in [(120, 40), (80, 24)] {
        let term = render(state, w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), term.backend());
    }
}

#[test]
fn editor_snapshots_and_the_error_is_red() {
    let mut s = editing();
    backspace(&mut s, 9);
    press(&mut s, "0 */6 * * *");
    snap("schedule_editor_valid", &s);
    backspace(&mut s, 11);
    press(&mut s, "0 2 * * 8");
    snap("schedule_editor_invalid", &s);
    for (w, h) in [(120, 40), (80, 24)] {
        let term = render(&s, w, h);
        let (x, y) = find(&term, "✗").expect("the error is on screen");
        assert_eq!(term.backend().buffer()[(x, y)].fg, Color::Red, "{w}x{h}");
        let (x, y) = find(&term, "0 2 * * ").expect("the input is on screen");
        assert_eq!(term.backend().buffer()[(x, y)].fg, Color::Red, "{w}x{h}");
    }
}

#[test]
fn crontab_differs_or_missing_is_a_visible_warning() {
    let mut s = state();
    s.focus = Pane::Schedule;
    s.schedule.as_mut().unwrap().crontab =
        CrontabState::Differs("0 3 * * * cd /srv/app && /usr/bin/pgkeep backup --quiet".into());
    snap("schedule_crontab_differs", &s);
    for (w, h) in [(120, 40), (80, 24)] {
        let term = render(&s, w, h);
        let (x, y) = find(&term, "crontab DIFFERS").expect("warning on screen");
        assert_eq!(term.backend().buffer()[(x, y)].fg, Color::Yellow);
        assert!(text(&term).contains("cron runs this in"), "zone shown");
    }
    s.schedule.as_mut().unwrap().crontab = CrontabState::NotInstalled;
    let term = render(&s, 80, 24);
    assert!(text(&term).contains("NOT installed"));
    s.focus = Pane::Backups;
    let term = render(&s, 80, 24);
    assert!(
        text(&term).contains("not in crontab"),
        "the summary line warns"
    );
}

#[test]
fn health_warnings_are_red_in_the_status_pane_and_its_summary() {
    let mut s = state();
    s.focus = Pane::Status;
    // the newest verification (an hour ago) failed; the newest complete backup is 9 h old
    let mut backups = s.backups.clone();
    let failed = backups
        .iter_mut()
        .find(|e| matches!(e.status, BackupStatus::VerifyFailed { .. }))
        .unwrap();
    failed.status = BackupStatus::VerifyFailed {
        at: now() - chrono::Duration::hours(1),
        message: "row count differs".into(),
    };
    update(&mut s, Msg::Catalog(Ok(backups)));
    assert!(
        s.health.iter().any(|w| w.contains("verification failed")),
        "{:?}",
        s.health
    );
    assert!(!s.health.iter().any(|w| w.contains("old, more than")));
    let term = render(&s, 120, 40);
    let (x, y) = find(&term, "the last verification failed")
        .unwrap_or_else(|| panic!("not on screen:\n{}", text(&term)));
    assert_eq!(term.backend().buffer()[(x, y)].fg, Color::Red);
    s.focus = Pane::Backups;
    let term = render(&s, 80, 24);
    let (x, y) = find(&term, "health warning").expect("summary warns");
    assert_eq!(term.backend().buffer()[(x, y)].fg, Color::Red);
    // three days later the backup is overdue (daily schedule + 6 h grace)
    update(&mut s, Msg::Tick(now() + chrono::Duration::days(3)));
    assert!(
        s.health.iter().any(|w| w.contains("old, more than")),
        "{:?}",
        s.health
    );
}

#[test]
fn install_question_names_the_expression_and_the_zone_cron_uses() {
    let mut s = state();
    s.focus = Pane::Schedule;
    press(&mut s, "i");
    snap("schedule_install_confirm", &s);
    for (w, h) in [(120, 40), (80, 24)] {
        let screen = text(&render(&s, w, h));
        assert!(screen.contains("`0 2 * * *`"), "{screen}");
        assert!(
            screen.contains("yes (y)"),
            "buttons visible at {w}x{h}:\n{screen}"
        );
    }
}
