//! The status pane's "PITR" line: the recoverable window as `pgkeep status` words it, red
//! when the archive has a gap or has gone stale, a dim hint when there is no base backup.

use ratatui::text::{Line, Span};

use crate::console::state::State;
use crate::engine::physical::window::RecoveryWindow;
use crate::monitor::recovery_window::is_stale;

/// The line for window `w`, label included.
pub fn line(state: &State, w: &RecoveryWindow) -> Line<'static> {
    let t = state.theme;
    let label = Span::styled(format!("{:<13}", "PITR"), t.label());
    if w.base_backups == 0 {
        return Line::from(vec![
            label,
            Span::styled("no base backup: run `pgkeep basebackup`", t.dim()),
        ]);
    }
    // The problem first: a long summary wraps, and the fix must stay in sight.
    let mut problems = Vec::new();
    if let Some(gap) = &w.gap {
        problems.push(format!("GAP in the archive: {gap}"));
    }
    if is_stale(w, state.now) {
        problems.push(format!(
            "STALE: {} finished segment(s) not archived",
            w.not_yet_archived.unwrap_or(0)
        ));
    }
    let bad = w.from.is_none() || !problems.is_empty();
    problems.push(w.summary(state.now));
    let text = problems.join(" · ");
    let style = if bad { t.fail() } else { t.ok() };
    Line::from(vec![label, Span::styled(text, style)])
}
