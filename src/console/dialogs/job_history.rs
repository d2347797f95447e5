//! `J`: the jobs of this and earlier sessions (from the journal), newest first, with the selected job's command line and log.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use crate::console::msg::Effect;
use crate::console::state::{Dialog, JobOutcome, JobRecord, State};
use crate::console::theme::Theme;
use crate::format;

/// Keys: ↑/↓ (j/k) choose a job, Esc or J closes.
pub fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let n = state.history.len();
    let Some(Dialog::JobHistory { selected }) = state.dialog.as_mut() else {
        return Vec::new();
    };
    match key.code {
        KeyCode::Esc | KeyCode::Char('J') | KeyCode::Char('q') => state.dialog = None,
        // The list shows newest first: up moves to a newer job.
        KeyCode::Up | KeyCode::Char('k') => *selected = (*selected + 1).min(n.saturating_sub(1)),
        KeyCode::Down | KeyCode::Char('j') => *selected = selected.saturating_sub(1),
        _ => {}
    }
    Vec::new()
}

fn outcome_span(t: Theme, o: &JobOutcome) -> Span<'static> {
    match o {
        JobOutcome::Running => Span::styled("running", t.warn()),
        JobOutcome::Succeeded(_) => Span::styled("ok", t.ok()),
        JobOutcome::Failed(_) => Span::styled("FAILED", t.fail()),
        JobOutcome::Cancelled => Span::styled("cancelled", t.warn()),
    }
}

/// Draws the history.
pub fn draw(frame: &mut Frame, area: Rect, state: &State, selected: usize) {
    let t = state.theme;
    let rect = super::centered(
        area,
        area.width.saturating_sub(8).max(40),
        area.height.saturating_sub(4).max(8),
    );
    let inner = super::frame_dialog(frame, rect, "job history (Esc closes)", t.border(true));
    if state.history.is_empty() {
        frame.render_widget(Paragraph::new("No jobs yet: b takes a backup."), inner);
        return;
    }
    let list_h = (state.history.len() as u16).min(inner.height / 3).max(1);
    let [list, detail] =
        Layout::vertical([Constraint::Length(list_h + 1), Constraint::Min(1)]).areas(inner);
    // Newest first; the window slides so the selected job stays in view.
    let n = state.history.len();
    let rows = list_h as usize;
    let from_newest = n.saturating_sub(1).saturating_sub(selected);
    let skip = from_newest.saturating_sub(rows.saturating_sub(1));
    let lines: Vec<Line> = state
        .history
        .iter()
        .enumerate()
        .rev()
        .skip(skip)
        .take(rows)
        .map(|(i, r)| job_line(t, r, state, i == selected))
        .collect();
    frame.render_widget(Paragraph::new(lines), list);
    if let Some(r) = state.history.get(selected) {
        let mut lines = vec![Line::from(Span::styled(
            format!("$ {}", r.command.trim_start_matches("$ ")),
            t.label(),
        ))];
        if let JobOutcome::Failed(m) = &r.outcome {
            lines.push(Line::from(Span::styled(m.clone(), t.fail())));
        }
        let room = detail.height.saturating_sub(lines.len() as u16) as usize;
        let skip = r.log.len().saturating_sub(room);
        lines.extend(
            r.log
                .iter()
                .skip(skip)
                .map(|l| Line::from(Span::styled(l.clone(), t.log_line(l)))),
        );
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), detail);
    }
}

fn job_line(t: Theme, r: &JobRecord, state: &State, selected: bool) -> Line<'static> {
    let took = r
        .ended_at
        .map(|e| format::age((e - r.started_at).to_std().unwrap_or_default()))
        .unwrap_or_else(|| "…".into());
    let mut line = Line::from(vec![
        Span::raw(format!("{} ", format::local(r.started_at))),
        Span::raw(format!("{:<8} ", r.kind.to_string())),
        outcome_span(t, &r.outcome),
        Span::raw(format!(
            "  {took:>6}  {}  ({})",
            r.what,
            format::ago(r.started_at, state.now)
        )),
    ]);
    if selected {
        line = line.style(t.selected());
    }
    line
}
