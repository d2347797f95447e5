//! The restore confirmation: names the database, its current size and the backup's time and
//! age, and proceeds only when the database name is typed exactly and Enter pressed.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use crate::console::msg::{Dangerous, Effect, Msg};
use crate::console::state::{Dialog, State};
use crate::console::update::update;
use crate::engine::catalog::BackupEntry;
use crate::format;

/// Keys: printable characters type, Backspace erases, Enter confirms, Esc cancels.
pub fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let database = state.database.clone();
    let Some(Dialog::ConfirmRestore {
        entry,
        typed,
        mismatch,
    }) = state.dialog.as_mut()
    else {
        return Vec::new();
    };
    match key.code {
        KeyCode::Esc => state.dialog = None,
        KeyCode::Enter if *typed == database => {
            let entry = entry.clone();
            return update(state, Msg::Confirmed(Dangerous::Restore { entry }));
        }
        KeyCode::Enter => *mismatch = true,
        KeyCode::Backspace => {
            typed.pop();
            *mismatch = false;
        }
        KeyCode::Char(c) => {
            typed.push(c);
            *mismatch = false;
        }
        _ => {}
    }
    Vec::new()
}

/// Draws the dialog.
pub fn draw(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    entry: &BackupEntry,
    typed: &str,
    mismatch: bool,
) {
    let t = state.theme;
    let db = &state.database;
    let size = state
        .status
        .as_ref()
        .and_then(|s| s.server.as_ref())
        .and_then(|f| f.database_size)
        .map(format::size)
        .unwrap_or_else(|| "unknown".into());
    let rect = super::centered(area, 76, 14);
    let inner = super::frame_dialog(frame, rect, &format!("restore {db}?"), t.warn());
    let mut lines = vec![
        Line::from(vec![
            Span::raw("This replaces the live database "),
            Span::styled(db.clone(), t.warn()),
            Span::raw(format!(" (now {size}) with the backup")),
        ]),
        Line::from(Span::styled(format!("  {}", entry.name), t.label())),
        Line::from(format!(
            "  taken {} ({}), {}, {}",
            format::local_zoned(entry.time),
            format::ago(entry.time, state.now),
            format::size(entry.size),
            entry.status.label()
        )),
        if entry.database != *db {
            Line::from(Span::styled(
                format!("Note: this backup was taken of database {}, not {db}.", entry.database),
                t.warn(),
            ))
        } else {
            Line::from("")
        },
        Line::from(Span::styled(
            "A safety backup is taken first; the current database stays, renamed, until `pgkeep cleanup`.",
            t.dim(),
        )),
        Line::from(""),
        Line::from(vec![
            Span::raw("Type the database name "),
            Span::styled(db.clone(), t.key()),
            Span::raw(" to confirm, then Enter. Esc cancels."),
        ]),
        Line::from(vec![Span::styled("> ", t.key()), Span::raw(typed.to_string()), Span::styled("█", t.dim())]),
    ];
    if mismatch {
        lines.push(Line::from(Span::styled(
            format!("That is not the database name: type {db} exactly, or Esc to cancel."),
            t.fail(),
        )));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
