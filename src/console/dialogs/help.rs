//! `?`: every key the console understands.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::console::state::State;

/// Every key with what it does.
pub const KEYS: &[(&str, &str)] = &[
    ("Tab / Shift-Tab", "next / previous pane"),
    ("↑ ↓  j k", "move the selection or scroll the log"),
    ("g / G", "first / last backup or log line"),
    ("Enter", "details of the selected backup"),
    ("b", "take a backup now"),
    ("r", "restore the selected backup (type the name)"),
    ("v", "verify the selected backup (test restore)"),
    ("D", "delete the selected backup (asks first)"),
    ("c", "cancel the running job (asks first)"),
    ("J", "job history with each job's log"),
    ("/", "search the log; n / N next / previous match"),
    ("f", "follow the log on / off"),
    ("w", "wrap long log lines on / off"),
    (
        "e  (schedule)",
        "edit the schedule; Enter saves to pgkeep.toml",
    ),
    ("1 2 3  p", "preset: daily 02:00, every 6 h, Sunday 03:00"),
    ("Tab (editing)", "next preset; Esc cancels the edit"),
    ("i / u", "install / remove the crontab (asks first)"),
    ("?", "this help"),
    ("q  Ctrl-C", "quit (asks while a job runs)"),
    ("Esc", "close a dialog"),
];

/// Draws the help overlay.
pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let t = state.theme;
    let rect = super::centered(area, 70, KEYS.len() as u16 + 3);
    let inner = super::frame_dialog(frame, rect, "keys (Esc closes)", t.border(true));
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!(" {k:<16}"), t.key()),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::from(Span::styled(
        " every action also exists as a pgkeep subcommand",
        t.dim(),
    )));
    frame.render_widget(Paragraph::new(lines), inner);
}
