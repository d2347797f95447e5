//! Dialogs: drawn over the panes, they receive keys first. One file per dialog.

pub mod confirm_restore;
pub mod details;
pub mod error;
pub mod help;
pub mod job_history;
pub mod restore_moment;
pub mod yes_no;

use crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::widgets::{Block, BorderType, Borders, Clear, Padding};
use ratatui::Frame;

use super::msg::Effect;
use super::state::{Dialog, State};

/// Routes a key to the open dialog.
pub fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    match state.dialog.clone() {
        Some(Dialog::ConfirmRestore { .. }) => confirm_restore::on_key(state, key),
        Some(Dialog::YesNo { .. }) => yes_no::on_key(state, key),
        Some(Dialog::RestoreMoment(_)) => restore_moment::on_key(state, key),
        Some(Dialog::JobHistory { .. }) => job_history::on_key(state, key),
        Some(Dialog::Help) | Some(Dialog::Error { .. }) | Some(Dialog::Details { .. }) => {
            if closes(key) {
                state.dialog = None;
            }
            Vec::new()
        }
        None => Vec::new(),
    }
}

/// Keys that close an informational dialog.
pub fn closes(key: KeyEvent) -> bool {
    use crossterm::event::KeyCode::*;
    matches!(key.code, Esc | Enter | Char('q') | Char('?') | Char('J'))
}

/// Draws the open dialog, if any, over everything else.
pub fn draw(frame: &mut Frame, state: &State) {
    let area = frame.area();
    match &state.dialog {
        Some(Dialog::ConfirmRestore {
            entry,
            typed,
            mismatch,
        }) => confirm_restore::draw(frame, area, state, entry, typed, *mismatch),
        Some(Dialog::YesNo { question, yes, .. }) => {
            yes_no::draw(frame, area, state, question, *yes)
        }
        Some(Dialog::Help) => help::draw(frame, area, state),
        Some(Dialog::JobHistory { selected }) => job_history::draw(frame, area, state, *selected),
        Some(Dialog::Error { title, message }) => error::draw(frame, area, state, title, message),
        Some(Dialog::Details { entry }) => details::draw(frame, area, state, entry),
        Some(Dialog::RestoreMoment(d)) => restore_moment::draw(frame, area, state, d),
        None => {}
    }
}

/// `text` wrapped at words (a path after a `/`) into lines of at most `width` columns, all
/// in `style`: ratatui's own wrap splits a path anywhere.
pub fn wrapped(
    text: &str,
    width: u16,
    style: ratatui::style::Style,
) -> Vec<ratatui::text::Line<'static>> {
    crate::format::wrap_words(text, width as usize)
        .into_iter()
        .map(|r| ratatui::text::Line::from(ratatui::text::Span::styled(r, style)))
        .collect()
}

/// A rectangle of at most `w` x `h` centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Clears `rect` and draws a dialog frame titled `title`; returns the inner area, one
/// column in from each side border so text never touches it.
pub fn frame_dialog(
    frame: &mut Frame,
    rect: Rect,
    title: &str,
    style: ratatui::style::Style,
) -> Rect {
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(style)
        .padding(Padding::horizontal(1))
        .title(format!(" {title} "));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    inner
}
