//! A failed job's message, as the engine phrased it.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use crate::console::state::State;

/// Draws the failure dialog.
pub fn draw(frame: &mut Frame, area: Rect, state: &State, title: &str, message: &str) {
    let t = state.theme;
    // Border and padding take 4 columns; the height follows the wrapped message.
    let width = area.width.min(80);
    let mut lines = super::wrapped(message, width.saturating_sub(4), t.fail());
    let rect = super::centered(area, width, lines.len() as u16 + 4);
    let inner = super::frame_dialog(frame, rect, title, t.fail());
    lines.extend([
        Line::from(""),
        Line::from(Span::styled(
            "Enter or Esc closes; J shows the job history with the job's log.",
            t.dim(),
        )),
    ]);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
