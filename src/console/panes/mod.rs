//! The four panes. Each draws from `&State` only and offers a one-line summary for the
//! reduced (80x24) layout.

pub mod backups;
pub mod base_rows;
pub mod log;
pub mod pitr;
pub mod schedule;
pub mod status;
pub mod timeline;

use ratatui::widgets::{Block, BorderType, Borders};

use super::state::{Pane, State};

/// A pane's bordered block, titled, bright when focused.
pub fn block(state: &State, pane: Pane, extra: &str) -> Block<'static> {
    let focused = state.focus == pane;
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Rounded
        })
        .border_style(state.theme.border(focused))
        .title(format!(" {}{} ", pane.title(), extra))
}
