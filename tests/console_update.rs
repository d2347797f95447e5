//! `update()` as (state, msg) → (state, effects): the restore confirmation, the yes/no
//! dialogs, one job at a time, navigation and search.

mod console_support;

use console_support::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pgkeep::console::msg::{Dangerous, Effect, Msg};
use pgkeep::console::state::{Dialog, JobOutcome, Pane, State};
use pgkeep::console::update::update;
use pgkeep::engine::progress::JobEvent;

fn press(s: &mut State, keys: &str) -> Vec<Effect> {
    keys.chars().flat_map(|c| update(s, key(c))).collect()
}

fn is_restore(e: &[Effect]) -> bool {
    e.iter().any(|e| matches!(e, Effect::StartRestore { .. }))
}

#[test]
fn restore_needs_the_exact_database_name_and_enter() {
    let mut s = state();
    assert!(press(&mut s, "r").is_empty());
    assert!(
        matches!(s.dialog, Some(Dialog::ConfirmRestore { .. })),
        "r opens the confirmation"
    );
    for wrong in ["sho", "Shop", "shop ", "shopx"] {
        let mut s = s.clone();
        let mut effects = press(&mut s, wrong);
        effects.extend(update(&mut s, code(KeyCode::Enter)));
        assert!(!is_restore(&effects), "{wrong:?} must not restore");
        assert!(matches!(
            s.dialog,
            Some(Dialog::ConfirmRestore { mismatch: true, .. })
        ));
    }
    // Typing the name without Enter does nothing yet.
    assert!(!is_restore(&press(&mut s, "shop")));
    let effects = update(&mut s, code(KeyCode::Enter));
    match effects.as_slice() {
        [Effect::StartRestore { entry }] => {
            assert_eq!(entry.name, s.backups[1].name, "the selected backup")
        }
        other => panic!("expected one restore effect, got {other:?}"),
    }
    assert!(s.dialog.is_none());
    assert!(s.job_running());
    assert!(s
        .history
        .last()
        .unwrap()
        .command
        .ends_with(&format!("restore {}", s.backups[1].name)));
}

#[test]
fn esc_cancels_the_restore_and_backspace_corrects() {
    let mut s = state();
    press(&mut s, "r");
    press(&mut s, "shop");
    assert!(update(&mut s, code(KeyCode::Esc)).is_empty());
    assert!(s.dialog.is_none());
    assert!(!s.job_running());

    let mut s = state();
    press(&mut s, "r");
    press(&mut s, "shopp");
    update(&mut s, code(KeyCode::Backspace));
    assert!(is_restore(&update(&mut s, code(KeyCode::Enter))));
}

#[test]
fn keys_inside_the_dialog_do_not_trigger_actions() {
    let mut s = state();
    press(&mut s, "r");
    let effects = press(&mut s, "bqDvc");
    assert!(
        effects.is_empty(),
        "typing in the dialog starts nothing: {effects:?}"
    );
    assert!(!s.quit);
}

#[test]
fn interrupted_backups_cannot_be_restored() {
    let mut s = state();
    s.selected = 0; // the .partial
    assert!(press(&mut s, "r").is_empty());
    assert!(s.dialog.is_none());
    assert!(s.flash.is_some());
}

#[test]
fn delete_asks_and_defaults_to_no() {
    let mut s = state();
    press(&mut s, "D");
    assert!(matches!(s.dialog, Some(Dialog::YesNo { yes: false, .. })));
    assert!(
        update(&mut s, code(KeyCode::Enter)).is_empty(),
        "Enter takes the default: no"
    );
    assert!(s.dialog.is_none());
    press(&mut s, "D");
    assert!(press(&mut s, "n").is_empty());
    press(&mut s, "D");
    let effects = press(&mut s, "y");
    assert_eq!(
        effects,
        vec![Effect::DeleteBackup {
            path: s.backups[1].path.clone()
        }]
    );
}

#[test]
fn confirmed_is_the_only_way_to_a_dangerous_effect() {
    let mut s = state();
    let entry = Box::new(s.backups[1].clone());
    assert!(update(
        &mut s,
        Msg::Request(Dangerous::Restore {
            entry: entry.clone()
        })
    )
    .is_empty());
    assert!(is_restore(&update(
        &mut s,
        Msg::Confirmed(Dangerous::Restore { entry })
    )));
}

#[test]
fn one_job_at_a_time_and_cancel_asks() {
    let mut s = state();
    assert_eq!(press(&mut s, "b"), vec![Effect::StartBackup]);
    assert!(
        press(&mut s, "b").is_empty(),
        "a second job is refused while one runs"
    );
    assert!(press(&mut s, "v").is_empty());
    assert!(press(&mut s, "c").is_empty());
    assert!(matches!(
        s.dialog,
        Some(Dialog::YesNo {
            action: Dangerous::CancelJob,
            ..
        })
    ));
    assert_eq!(press(&mut s, "y"), vec![Effect::CancelJob]);
    update(
        &mut s,
        Msg::Job(JobEvent::Failed("cancelled; nothing was changed".into())),
    );
    assert!(!s.job_running());
    assert_eq!(s.history.last().unwrap().outcome, JobOutcome::Cancelled);
    assert!(
        s.dialog.is_none(),
        "a cancelled job is not shown as a failure"
    );
}

#[test]
fn failures_open_the_error_dialog_and_stay_in_the_history() {
    let mut s = state();
    press(&mut s, "b");
    let effects = update(
        &mut s,
        Msg::Job(JobEvent::Failed("pg_dump failed: out of memory".into())),
    );
    assert_eq!(effects, vec![Effect::RefreshCatalog]);
    match &s.dialog {
        Some(Dialog::Error { message, .. }) => assert_eq!(message, "pg_dump failed: out of memory"),
        other => panic!("expected the error dialog, got {other:?}"),
    }
    update(&mut s, code(KeyCode::Esc));
    press(&mut s, "J");
    assert!(matches!(s.dialog, Some(Dialog::JobHistory { .. })));
    assert!(matches!(&s.history[0].outcome, JobOutcome::Failed(m) if m.contains("out of memory")));
}

#[test]
fn quit_asks_only_while_a_job_runs() {
    let mut s = state();
    assert_eq!(press(&mut s, "q"), vec![Effect::Quit]);
    assert!(s.quit);

    let mut s = state();
    press(&mut s, "b");
    assert!(press(&mut s, "q").is_empty());
    assert!(!s.quit);
    assert!(press(&mut s, "n").is_empty());
    let ctrl_c = Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert!(
        update(&mut s, ctrl_c).is_empty(),
        "Ctrl-C asks too while a job runs"
    );
    assert_eq!(press(&mut s, "y"), vec![Effect::Quit]);
    assert!(s.quit);
}

#[test]
fn navigation_and_focus() {
    let mut s = state();
    assert_eq!(s.focus, Pane::Backups);
    press(&mut s, "G");
    assert_eq!(s.selected, s.backups.len() - 1);
    press(&mut s, "jjj");
    assert_eq!(s.selected, s.backups.len() - 1, "stays on the last");
    press(&mut s, "g");
    assert_eq!(s.selected, 0);
    update(&mut s, code(KeyCode::Down));
    assert_eq!(s.selected, 1);
    update(&mut s, code(KeyCode::Tab));
    assert_eq!(s.focus, Pane::Log);
    update(&mut s, code(KeyCode::BackTab));
    update(&mut s, code(KeyCode::BackTab));
    assert_eq!(s.focus, Pane::Status);
}

#[test]
fn catalog_refresh_keeps_the_selection_on_the_same_backup() {
    let mut s = state();
    let selected = s.backups[1].path.clone();
    let mut newer = backups();
    newer.insert(
        0,
        entry(
            0,
            pgkeep::engine::catalog::BackupStatus::Complete,
            None,
            true,
        ),
    );
    update(&mut s, Msg::Catalog(Ok(newer)));
    assert_eq!(s.selected_backup().unwrap().path, selected);
    update(&mut s, Msg::Catalog(Ok(vec![])));
    assert_eq!(s.selected, 0);
    assert!(s.selected_backup().is_none());
}

#[test]
fn log_search_follow_and_bounded_buffer() {
    let mut s = state();
    press(&mut s, "/");
    assert_eq!(s.focus, Pane::Log);
    press(&mut s, "fatal");
    assert!(s.log.follow, "typing a query does not toggle follow");
    update(&mut s, code(KeyCode::Enter));
    assert_eq!(s.log.query.as_deref(), Some("fatal"));
    assert!(s.log.lines[s.log.bottom_line()].contains("FATAL"));
    assert!(!s.log.follow);
    press(&mut s, "f");
    assert!(s.log.follow);
    let cap = s.log.capacity;
    for i in 0..cap + 50 {
        update(
            &mut s,
            Msg::Log(pgkeep::monitor::logs::LogEvent::Line(format!("line {i}"))),
        );
    }
    assert_eq!(s.log.lines.len(), cap);
}

#[test]
fn ticks_redraw_only_when_something_visible_changes() {
    let mut s = state();
    s.dirty = false;
    update(&mut s, Msg::Tick(now() + chrono::Duration::seconds(10)));
    assert!(
        !s.dirty,
        "an idle tick within the same minute draws nothing"
    );
    update(&mut s, Msg::Tick(now() + chrono::Duration::seconds(70)));
    assert!(s.dirty);
}

#[test]
fn the_file_of_the_running_backup_cannot_be_deleted_and_restore_waits() {
    let mut s = state();
    press(&mut s, "b");
    let mut entries = backups();
    entries[0].time = now();
    update(&mut s, Msg::Catalog(Ok(entries)));
    s.selected = 0;
    assert!(press(&mut s, "D").is_empty());
    assert!(
        s.dialog.is_none(),
        "no delete dialog for the file being written"
    );
    s.selected = 1;
    assert!(press(&mut s, "r").is_empty());
    assert!(s.dialog.is_none(), "no restore dialog while a job runs");
    press(&mut s, "D");
    assert!(
        matches!(s.dialog, Some(Dialog::YesNo { .. })),
        "other backups can still be deleted"
    );
}

#[test]
fn a_log_notice_ends_when_lines_flow_again_and_stays_in_the_log() {
    use pgkeep::monitor::logs::LogEvent;
    let mut s = state();
    let before = s.log.lines.len();
    update(
        &mut s,
        Msg::Log(LogEvent::Notice(
            "container db stopped; waiting for it to restart".into(),
        )),
    );
    assert!(s.log.notice.is_some());
    update(
        &mut s,
        Msg::Log(LogEvent::Notice(
            "container db restarted, reconnecting".into(),
        )),
    );
    update(&mut s, Msg::Log(LogEvent::Line("LOG:  ready".into())));
    assert_eq!(s.log.notice, None, "the notice does not linger");
    assert_eq!(s.log.lines.len(), before + 2);
    assert_eq!(
        s.log.lines[before],
        "-- container db restarted, reconnecting"
    );
    assert_eq!(s.log.lines[before + 1], "LOG:  ready");
}
