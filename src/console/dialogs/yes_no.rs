//! A yes/no question that defaults to no: delete a backup, cancel a job, quit during a job.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use crate::console::msg::{Effect, Msg};
use crate::console::state::{Dialog, State};
use crate::console::update::update;

/// Keys: y confirms, n or Esc refuses, arrows/Tab move, Enter takes the highlighted answer.
pub fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let Some(Dialog::YesNo { action, yes, .. }) = state.dialog.as_mut() else {
        return Vec::new();
    };
    let confirm = match key.code {
        KeyCode::Char('y') | KeyCode::Char('Y') => true,
        KeyCode::Enter => *yes,
        KeyCode::Left
        | KeyCode::Right
        | KeyCode::Tab
        | KeyCode::BackTab
        | KeyCode::Char('h')
        | KeyCode::Char('l') => {
            *yes = !*yes;
            return Vec::new();
        }
        KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => false,
        _ => return Vec::new(),
    };
    let action = action.clone();
    state.dialog = None;
    if confirm {
        update(state, Msg::Confirmed(action))
    } else {
        Vec::new()
    }
}

/// Draws the question with [ yes ] [ no ] buttons.
pub fn draw(frame: &mut Frame, area: Rect, state: &State, question: &str, yes: bool) {
    let t = state.theme;
    let width = area.width.min(64);
    let mut lines = super::wrapped(question, width.saturating_sub(4), Style::default());
    let rect = super::centered(area, width, lines.len() as u16 + 4);
    let inner = super::frame_dialog(frame, rect, "confirm", t.warn());
    let button = |label: &str, on: bool| {
        if on {
            Span::styled(format!("[ {label} ]"), t.selected())
        } else {
            Span::raw(format!("[ {label} ]"))
        }
    };
    lines.extend([
        Line::from(""),
        Line::from(vec![
            button("yes (y)", yes),
            Span::raw("   "),
            button("no (n)", !yes),
        ]),
    ]);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
