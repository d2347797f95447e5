//! "Restore to a moment": the operator types a time (local time, a zone optional, or
//! `latest`); live as they type the dialog says whether it parses, the time with its offset,
//! the base backup the restore starts from and the WAL segments it replays — or why it is
//! refused. Enter moves on to the same typed-name confirmation as a dump restore; then the
//! engine's `restore --time` runs as a job.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::console::msg::{Dangerous, Effect, Msg};
use crate::console::state::{Dialog, State};
use crate::console::update::update;
use crate::engine::physical::target_time::{self, TargetTime};
use crate::engine::physical::window::local;
use crate::monitor::pitr_timeline::Plan;

/// What has been typed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MomentDialog {
    /// The time as typed.
    pub time: String,
    /// The database name typed to confirm (second step).
    pub name: String,
    /// The time was accepted: the name is being typed.
    pub confirming: bool,
    /// A wrong name was entered.
    pub mismatch: bool,
}

/// What the typed time means, re-read on every key.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Not (yet) a time the engine reads.
    Unreadable,
    /// A time the restore refuses, with the reason.
    Refused(String),
    /// A time the restore accepts; the plan when the window is known.
    Ready(TargetTime, Option<Plan>),
}

/// Reads `text` against the state's window and clock.
pub fn check(state: &State, text: &str) -> Check {
    let Ok(time) = target_time::parse(text) else {
        return Check::Unreadable;
    };
    match &state.pitr {
        None => Check::Ready(time, None),
        Some(p) => match p.plan(time, state.now) {
            Ok(plan) => Check::Ready(time, Some(plan)),
            Err(reason) => Check::Refused(reason),
        },
    }
}

/// Opens the dialog with today's date typed.
pub fn open(state: &mut State) {
    let today = state.local_now().format("%Y-%m-%d ").to_string();
    state.dialog = Some(Dialog::RestoreMoment(Box::new(MomentDialog {
        time: today,
        ..Default::default()
    })));
}

/// Keys: type, Backspace, Enter (accept the time / confirm the name), Esc cancels.
pub fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let database = state.database.clone();
    let Some(Dialog::RestoreMoment(d)) = state.dialog.clone() else {
        return Vec::new();
    };
    let mut d = *d;
    let checked = check(state, &d.time);
    match (key.code, d.confirming) {
        (KeyCode::Esc, _) => {
            state.dialog = None;
            return Vec::new();
        }
        (KeyCode::Enter, false) => d.confirming = matches!(checked, Check::Ready(..)),
        (KeyCode::Enter, true) if d.name == database => {
            if let Check::Ready(time, _) = checked {
                return update(state, Msg::Confirmed(Dangerous::RestoreMoment { time }));
            }
            d.confirming = false;
        }
        (KeyCode::Enter, true) => d.mismatch = true,
        (KeyCode::Backspace, true) if d.name.is_empty() => d.confirming = false,
        (KeyCode::Backspace, true) => {
            d.name.pop();
            d.mismatch = false;
        }
        (KeyCode::Backspace, false) => {
            d.time.pop();
        }
        (KeyCode::Char(c), true) => {
            d.name.push(c);
            d.mismatch = false;
        }
        (KeyCode::Char(c), false) => d.time.push(c),
        _ => {}
    }
    state.dialog = Some(Dialog::RestoreMoment(Box::new(d)));
    Vec::new()
}

/// The lines that say what the typed time means.
fn verdict(state: &State, d: &MomentDialog, width: u16) -> Vec<Line<'static>> {
    let t = state.theme;
    match check(state, &d.time) {
        Check::Unreadable => super::wrapped(
            "not a time yet: YYYY-MM-DD HH:MM[:SS] [zone such as +01:00, UTC, Europe/Amsterdam], or latest",
            width,
            t.warn(),
        ),
        Check::Refused(reason) => {
            let mut v = super::wrapped(&format!("refused: {reason}"), width, t.fail());
            v.truncate(6);
            v
        }
        Check::Ready(time, plan) => {
            let at = match time {
                TargetTime::At(at) => format!("= {}", local(at)),
                TargetTime::Latest => "= the newest change (pgkeep archives the current WAL first)".into(),
            };
            let mut v = vec![Line::from(Span::styled(at, t.ok()))];
            match plan {
                Some(p) => {
                    v.push(Line::from(vec![
                        Span::styled("base backup ", t.label()),
                        Span::raw(format!("finished {} · {}", local(p.base_finished), p.base)),
                    ]));
                    v.push(Line::from(vec![
                        Span::styled("replays ", t.label()),
                        Span::raw(format!(
                            "{} WAL segment{}",
                            p.segments,
                            if p.segments == 1 { "" } else { "s" }
                        )),
                    ]));
                    if p.beyond_archive {
                        v.push(Line::from(Span::styled(
                            "the newest are not archived yet: pgkeep archives them first",
                            t.dim(),
                        )));
                    }
                }
                None => v.extend(super::wrapped(
                    "the recoverable window is not known yet: the restore checks it before changing anything",
                    width,
                    t.warn(),
                )),
            }
            v
        }
    }
}

/// Draws the dialog.
pub fn draw(frame: &mut Frame, area: Rect, state: &State, d: &MomentDialog) {
    let t = state.theme;
    let db = &state.database;
    let rect = super::centered(area, 86, 17);
    let inner = super::frame_dialog(frame, rect, &format!("restore {db} to a moment"), t.warn());
    let mut lines = super::wrapped(
        "Type a moment: local time, a zone optional (+01:00, UTC, Europe/Amsterdam), or latest.",
        inner.width,
        t.text(),
    );
    if let Some(p) = &state.pitr {
        lines.extend(super::wrapped(
            &p.window.summary(state.now),
            inner.width,
            t.dim(),
        ));
    }
    lines.push(Line::from(vec![
        Span::styled("time > ", t.key()),
        Span::raw(d.time.clone()),
        Span::styled(if d.confirming { "" } else { "█" }, t.dim()),
    ]));
    lines.extend(verdict(state, d, inner.width));
    lines.push(Line::from(""));
    if !d.confirming {
        lines.push(Line::from(Span::styled(
            "Enter accepts the time (then type the database name) · Esc cancels",
            t.dim(),
        )));
    } else {
        lines.extend(super::wrapped(
            &format!("This REPLACES database {db} with its state at that moment. A safety backup is taken first; the current database stays, renamed, until `pgkeep cleanup`."),
            inner.width,
            t.warn(),
        ));
        lines.push(Line::from(vec![
            Span::raw("Type the database name "),
            Span::styled(db.clone(), t.key()),
            Span::raw(" to confirm, then Enter. Esc cancels."),
        ]));
        lines.push(Line::from(vec![
            Span::styled("> ", t.key()),
            Span::raw(d.name.clone()),
            Span::styled("█", t.dim()),
        ]));
        if d.mismatch {
            lines.push(Line::from(Span::styled(
                format!("That is not the database name: type {db} exactly, or Esc to cancel."),
                t.fail(),
            )));
        }
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_until_it_parses_and_ready_without_a_window() {
        let s = State::new("shop", "/tmp".into(), "pgkeep".into(), 10);
        assert_eq!(check(&s, "2026-12-01 14:"), Check::Unreadable);
        assert!(matches!(
            check(&s, "2026-12-01 14:31 UTC"),
            Check::Ready(TargetTime::At(_), None)
        ));
        assert_eq!(check(&s, "latest"), Check::Ready(TargetTime::Latest, None));
    }
}
