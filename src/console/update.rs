//! `update(&mut State, Msg) -> Vec<Effect>`: the only place the state changes. Pure: no
//! I/O, no clocks; the runner performs the effects. Keys go to the open dialog first, then
//! to the log search being typed, then to the global keys, then to the focused pane.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::job_update::{busy_text, on_job, start_job};
use super::keymap::Action;
use super::msg::{Dangerous, Effect, Msg};
use super::state::{Dialog, Pane, State};
use crate::engine::progress::JobKind;
use crate::monitor::logs::LogEvent;

/// Applies one message; returns what the runner must do.
pub fn update(state: &mut State, msg: Msg) -> Vec<Effect> {
    state.dirty = true;
    match msg {
        Msg::Key(key) => return on_key(state, key),
        Msg::Resize(..) => {}
        Msg::Tick(now) => {
            let minute_changed = now.timestamp() / 60 != state.now.timestamp() / 60;
            state.dirty = minute_changed || state.job_running();
            state.now = now;
            if minute_changed {
                state.refresh_health();
            }
        }
        Msg::Job(event) => return on_job(state, event),
        Msg::Status(s) => state.status = Some(*s),
        Msg::Log(LogEvent::Line(l)) => {
            state.dirty = state.log.follow || state.log.lines.len() == state.log.capacity;
            // Lines flow again: the source's notice ("restarted, reconnecting", "waiting for
            // the file") is over. It stays in the log where it happened instead of sitting
            // above the newest lines for good.
            if let Some(n) = state.log.notice.take() {
                state.log.push(format!("-- {n}"));
                state.dirty = true;
            }
            let job_recent = state.job_running()
                || state
                    .history
                    .last()
                    .and_then(|r| r.ended_at)
                    .is_some_and(|t| (state.now - t).num_seconds() <= 10);
            let own = super::own_noise::is_own(&l, job_recent, state.own_checkpoint);
            if l.contains("checkpoint starting") {
                state.own_checkpoint = own;
            } else if l.contains("checkpoint complete") {
                state.own_checkpoint = false;
            }
            state.log.push(super::own_noise::label(l, own));
        }
        Msg::Log(LogEvent::Notice(n)) => {
            state.log.notice = Some(n);
            state.dirty = true;
        }
        Msg::LogSource(s) => state.log.source = s,
        Msg::Catalog(Ok(entries)) => set_catalog(state, entries),
        Msg::Catalog(Err(e)) => state.catalog_problem = Some(e),
        Msg::Bases(bases) => {
            let keep = selected_path(state);
            state.bases = bases;
            reselect(state, keep);
        }
        Msg::Pitr(t) => state.pitr = Some(*t),
        Msg::Schedule(s) => state.schedule = Some(*s),
        Msg::Request(d) => request(state, d),
        Msg::Confirmed(d) => return confirmed(state, d),
        Msg::Deleted(Ok(name)) => {
            state.flash = Some(format!("deleted {name}"));
            return vec![Effect::RefreshCatalog];
        }
        Msg::Deleted(Err(e)) => {
            state.dialog = Some(Dialog::Error {
                title: "delete failed".into(),
                message: e,
            })
        }
        Msg::ScheduleSaved(r) => super::schedule_editor::saved(state, r),
        Msg::CrontabChanged(r) => super::schedule_editor::crontab_changed(state, r),
        Msg::SelectBackup(path) => {
            state.select_when_listed = Some(path);
            select_pending(state);
        }
        Msg::Terminate => {
            state.quit = true;
            return vec![Effect::Quit];
        }
    }
    Vec::new()
}

/// Replaces the catalog, keeping the same backup selected when it is still there.
fn set_catalog(state: &mut State, entries: Vec<crate::engine::catalog::BackupEntry>) {
    let keep = selected_path(state);
    state.backups = entries;
    state.catalog_problem = None;
    state.refresh_health();
    reselect(state, keep);
}

/// The file of the selected row (a dump or a base backup).
fn selected_path(state: &State) -> Option<std::path::PathBuf> {
    match state.selected_backup() {
        Some(e) => Some(e.path.clone()),
        None => state.selected_base().map(|b| b.path.clone()),
    }
}

/// Selects `keep` again when it is still listed, else stays in range.
fn reselect(state: &mut State, keep: Option<std::path::PathBuf>) {
    let rows = state.rows();
    state.selected = keep
        .and_then(|p| super::backup_rows::position(&rows, &state.backups, &state.bases, &p))
        .unwrap_or(state.selected)
        .min(rows.len().saturating_sub(1));
    select_pending(state);
}

/// Selects the backup a job just wrote, once the catalog lists it.
fn select_pending(state: &mut State) {
    let Some(want) = &state.select_when_listed else {
        return;
    };
    let rows = state.rows();
    if let Some(i) = rows.iter().position(|r| match r {
        super::state::ListRow::Dump(i) => state.backups[*i].path.file_name() == want.file_name(),
        super::state::ListRow::Base(i) => state.bases[*i].path.file_name() == want.file_name(),
    }) {
        state.selected = i;
        state.select_when_listed = None;
    }
}

fn request(state: &mut State, d: Dangerous) {
    state.dialog = Some(match d {
        Dangerous::RestoreMoment { .. } => {
            super::dialogs::restore_moment::open(state);
            return;
        }
        Dangerous::Restore { entry } => Dialog::ConfirmRestore {
            entry,
            typed: String::new(),
            mismatch: false,
        },
        Dangerous::Delete { entry } => Dialog::YesNo {
            question: format!("Delete backup {} and its manifest?", entry.name),
            action: Dangerous::Delete { entry },
            yes: false,
        },
        Dangerous::CancelJob => Dialog::YesNo {
            question: "Cancel the running job? Nothing half-done is kept.".into(),
            action: Dangerous::CancelJob,
            yes: false,
        },
        Dangerous::Quit => Dialog::YesNo {
            question: "A job is running. Cancel it and quit?".into(),
            action: Dangerous::Quit,
            yes: false,
        },
        Dangerous::InstallSchedule { expression } => Dialog::YesNo {
            question: format!(
                "Install the schedule `{expression}` in your crontab (replacing pgkeep's block)? {}",
                state
                    .schedule
                    .as_ref()
                    .and_then(|s| s.cron_note.clone())
                    .unwrap_or_default()
            ),
            action: Dangerous::InstallSchedule { expression },
            yes: false,
        },
        Dangerous::RemoveSchedule => Dialog::YesNo {
            question: "Remove pgkeep's schedule from your crontab? No backups will run from cron."
                .into(),
            action: Dangerous::RemoveSchedule,
            yes: false,
        },
    });
}

fn confirmed(state: &mut State, d: Dangerous) -> Vec<Effect> {
    state.dialog = None;
    match d {
        Dangerous::Restore { entry } => start_job(state, JobKind::Restore, Some(entry)),
        Dangerous::RestoreMoment { time } => super::job_update::start_moment_job(state, time),
        Dangerous::Delete { entry } => vec![Effect::DeleteBackup { path: entry.path }],
        Dangerous::CancelJob => match &mut state.job {
            Some(job) => {
                job.cancel_requested = true;
                vec![Effect::CancelJob]
            }
            None => Vec::new(),
        },
        Dangerous::Quit => {
            state.quit = true;
            vec![Effect::Quit]
        }
        Dangerous::InstallSchedule { .. } => vec![Effect::InstallSchedule],
        Dangerous::RemoveSchedule => vec![Effect::RemoveSchedule],
    }
}

fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    if key.kind == crossterm::event::KeyEventKind::Release {
        state.dirty = false;
        return Vec::new();
    }
    let ctrl_c = key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c');
    if ctrl_c {
        state.dialog = None;
        return quit(state);
    }
    if state.dialog.is_some() {
        return super::dialogs::on_key(state, key);
    }
    if state.editor.is_some() {
        return super::schedule_editor::on_key(state, key);
    }
    if state.search_input.is_some() {
        search_key(state, key);
        return Vec::new();
    }
    state.flash = None;
    let action = match key.code {
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => state.keys.action(c),
        _ => None,
    };
    match (action, key.code) {
        (Some(Action::Quit), _) => return quit(state),
        (_, KeyCode::Tab) => state.focus = state.focus.cycle(true),
        (_, KeyCode::BackTab) => state.focus = state.focus.cycle(false),
        (Some(Action::Help), _) => state.dialog = Some(Dialog::Help),
        (Some(Action::Jobs), _) => {
            state.dialog = Some(Dialog::JobHistory {
                selected: state.history.len().saturating_sub(1),
            })
        }
        (Some(Action::Backup), _) => return start_job(state, JobKind::Backup, None),
        (Some(Action::Restore | Action::Verify | Action::RestoreMoment), _)
            if state.job_running() =>
        {
            state.flash = Some(busy_text(state))
        }
        (Some(Action::RestoreMoment), _) => super::dialogs::restore_moment::open(state),
        (Some(a @ (Action::Restore | Action::Verify | Action::Delete)), _)
            if state.selected_base().is_some() =>
        {
            state.flash = Some(super::panes::base_rows::not_for_base(state, a))
        }
        (Some(Action::Restore), _) => {
            match restorable(state) {
                Some(entry) => return update(state, Msg::Request(Dangerous::Restore { entry })),
                None => state.flash = Some(
                    "select a finished backup to restore (interrupted or damaged ones cannot be)"
                        .into(),
                ),
            }
        }
        (Some(Action::Verify), _) => match restorable(state) {
            Some(entry) => return start_job(state, JobKind::Verify, Some(entry)),
            None => state.flash = Some("select a finished backup to verify".into()),
        },
        (Some(Action::Delete), _) => {
            let busy = state
                .selected_backup()
                .is_some_and(|e| super::panes::backups::being_written(state, e));
            if busy {
                state.flash = Some(format!(
                    "the running backup is writing this file: cancel it with {} instead",
                    state.keys.label(Action::Cancel)
                ));
            } else if let Some(e) = state.selected_backup().cloned() {
                return update(
                    state,
                    Msg::Request(Dangerous::Delete { entry: Box::new(e) }),
                );
            }
        }
        (Some(Action::Cancel), _) => {
            if state.job_running() {
                return update(state, Msg::Request(Dangerous::CancelJob));
            }
            state.flash = Some("no job is running".into());
        }
        (Some(Action::Search), _) => {
            state.focus = Pane::Log;
            state.search_input = Some(String::new());
        }
        (Some(Action::Follow), _) => state.log.toggle_follow(),
        (Some(Action::Wrap), _) => state.log.wrap = !state.log.wrap,
        (Some(Action::NextMatch), _) => {
            state.log.find(true);
        }
        (Some(Action::PrevMatch), _) => {
            state.log.find(false);
        }
        _ => pane_key(state, key),
    }
    Vec::new()
}

fn quit(state: &mut State) -> Vec<Effect> {
    if state.job_running() {
        request(state, Dangerous::Quit);
        return Vec::new();
    }
    state.quit = true;
    vec![Effect::Quit]
}

fn restorable(state: &State) -> Option<Box<crate::engine::catalog::BackupEntry>> {
    state
        .selected_backup()
        .filter(|e| e.status.is_restorable())
        .map(|e| Box::new(e.clone()))
}

fn search_key(state: &mut State, key: KeyEvent) {
    let Some(input) = state.search_input.as_mut() else {
        return;
    };
    match key.code {
        KeyCode::Esc => state.search_input = None,
        KeyCode::Enter => {
            let q = std::mem::take(input);
            state.search_input = None;
            state.log.set_query(Some(q));
            if state.log.query.is_some() && !state.log.find(false) {
                state.flash = Some("no match in the log".into());
            }
        }
        KeyCode::Backspace => {
            input.pop();
        }
        KeyCode::Char(c) => input.push(c),
        _ => {}
    }
}

/// Movement keys for the focused pane.
fn pane_key(state: &mut State, key: KeyEvent) {
    let n = state.rows().len();
    match (state.focus, key.code) {
        (Pane::Backups, KeyCode::Down | KeyCode::Char('j')) => {
            state.selected = (state.selected + 1).min(n.saturating_sub(1))
        }
        (Pane::Backups, KeyCode::Up | KeyCode::Char('k')) => {
            state.selected = state.selected.saturating_sub(1)
        }
        (Pane::Backups, KeyCode::PageDown) => {
            state.selected = (state.selected + 10).min(n.saturating_sub(1))
        }
        (Pane::Backups, KeyCode::PageUp) => state.selected = state.selected.saturating_sub(10),
        (Pane::Backups, KeyCode::Char('g') | KeyCode::Home) => state.selected = 0,
        (Pane::Backups, KeyCode::Char('G') | KeyCode::End) => state.selected = n.saturating_sub(1),
        (Pane::Backups, KeyCode::Enter) if state.selected_base().is_some() => {
            state.flash = state.selected_base().map(super::panes::base_rows::describe)
        }
        (Pane::Backups, KeyCode::Enter) => {
            if let Some(e) = state.selected_backup() {
                state.dialog = Some(Dialog::Details {
                    entry: Box::new(e.clone()),
                });
            }
        }
        (Pane::Status, KeyCode::Down | KeyCode::Char('j')) => {
            state.status_scroll = state.status_scroll.saturating_add(1).min(200)
        }
        (Pane::Status, KeyCode::Up | KeyCode::Char('k')) => {
            state.status_scroll = state.status_scroll.saturating_sub(1)
        }
        (Pane::Status, KeyCode::Char('g') | KeyCode::Home) => state.status_scroll = 0,
        (Pane::Log, KeyCode::Down | KeyCode::Char('j')) => state.log.scroll(1),
        (Pane::Log, KeyCode::Up | KeyCode::Char('k')) => state.log.scroll(-1),
        (Pane::Log, KeyCode::PageDown) => state.log.scroll(10),
        (Pane::Log, KeyCode::PageUp) => state.log.scroll(-10),
        (Pane::Log, KeyCode::Char('g') | KeyCode::Home) => state.log.top(),
        (Pane::Log, KeyCode::Char('G') | KeyCode::End) => state.log.end(),
        (Pane::Schedule, _) if super::schedule_editor::pane_key(state, key) => {}
        _ => state.dirty = false,
    }
}
