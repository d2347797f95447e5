//! `?`: every key the console understands, with the keys in force (`[keys]` in pgkeep.toml
//! remaps the global ones).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::console::keymap::{Action, ACTIONS};
use crate::console::state::State;

/// Keys that are not remappable, with what they do.
pub const FIXED_KEYS: &[(&str, &str)] = &[
    ("Tab / Shift-Tab", "next / previous pane"),
    ("↑ ↓  j k", "move the selection, scroll the log or status"),
    ("g / G", "first / last backup or log line"),
    ("Enter", "details of the selected backup"),
    (
        "e or Enter",
        "(schedule pane) edit the schedule; in the editor Enter saves to pgkeep.toml, Esc cancels",
    ),
    ("1 2 3  p", "preset: daily 02:00, every 6 h, Sunday 03:00"),
    ("i / u", "install / remove the crontab (asks first)"),
];

/// Every key with what it does: the global keys in force first, then the fixed ones.
pub fn keys(state: &State) -> Vec<(String, String)> {
    let k = |a: Action| state.keys.label(a);
    let mut v: Vec<(String, String)> = Vec::new();
    for (a, _, _, what) in ACTIONS {
        match a {
            Action::NextMatch => v.push((
                format!("{} / {}", k(Action::NextMatch), k(Action::PrevMatch)),
                "next / previous match of the search".into(),
            )),
            Action::PrevMatch => {}
            Action::Quit => v.push((format!("{}  Ctrl-C", k(*a)), what.to_string())),
            _ => v.push((k(*a), what.to_string())),
        }
    }
    v.extend(
        FIXED_KEYS
            .iter()
            .map(|(k, w)| (k.to_string(), w.to_string())),
    );
    v
}

/// Draws the help overlay.
pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let t = state.theme;
    let keys = keys(state);
    let width = area.width.min(84);
    let text_width = width.saturating_sub(4 + 17) as usize;
    let mut lines: Vec<Line> = Vec::new();
    for (k, what) in &keys {
        for (i, row) in crate::format::wrap_words(what, text_width)
            .into_iter()
            .enumerate()
        {
            let key = if i == 0 { k.as_str() } else { "" };
            lines.push(Line::from(vec![
                Span::styled(format!("{key:<17}"), t.key()),
                Span::raw(row),
            ]));
        }
    }
    lines.push(Line::from(Span::styled(
        "remap keys under [keys] in pgkeep.toml · every action is a subcommand too",
        t.dim(),
    )));
    let rect = super::centered(area, width, lines.len() as u16 + 2);
    let inner = super::frame_dialog(frame, rect, "keys (Esc closes)", t.border(true));
    frame.render_widget(
        Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }),
        inner,
    );
}
