//! The schedule pane: the cron expression in words, the next runs in local time, and
//! whether the installed crontab matches. (Editing belongs to `pgkeep schedule`.)

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::console::state::{Pane, State};
use crate::schedule::CrontabState;

/// The pane's lines.
pub fn lines(state: &State) -> Vec<Line<'static>> {
    let t = state.theme;
    let Some(s) = &state.schedule else {
        return vec![Line::from(Span::styled("reading the schedule…", t.dim()))];
    };
    let mut out = vec![Line::from(Span::styled(s.description.clone(), t.text()))];
    let expr = if s.description.contains(&s.expression) {
        String::new()
    } else {
        format!("cron `{}` · ", s.expression)
    };
    out.push(Line::from(Span::styled(
        format!("{expr}time zone {}", s.timezone),
        t.dim(),
    )));
    if let Some(e) = &s.error {
        out.push(Line::from(Span::styled(e.clone(), t.fail())));
    }
    let crontab = match &s.crontab {
        CrontabState::Matches => Span::styled("crontab: installed, matches", t.ok()),
        CrontabState::NotInstalled => {
            Span::styled("crontab: not installed (pgkeep schedule install)", t.warn())
        }
        CrontabState::Differs(line) => Span::styled(format!("crontab differs: {line}"), t.warn()),
        CrontabState::Unavailable(why) => Span::styled(format!("crontab: {why}"), t.dim()),
    };
    out.push(Line::from(crontab));
    if s.next_runs.is_empty() {
        out.push(Line::from(Span::styled("next runs: not known", t.dim())));
    } else {
        out.push(Line::from(Span::styled("next runs:", t.label())));
        for r in s.next_runs.iter().take(5) {
            out.push(Line::from(format!(
                "  {}",
                r.format("%a %Y-%m-%d %H:%M %Z")
            )));
        }
    }
    out
}

/// One line for the reduced layout.
pub fn summary(state: &State) -> Line<'static> {
    let t = state.theme;
    match &state.schedule {
        None => Line::from(Span::styled("schedule: …", t.dim())),
        Some(s) => {
            let next = s
                .next_runs
                .first()
                .map(|n| format!(" · next {}", n.format("%a %H:%M")))
                .unwrap_or_default();
            Line::from(vec![
                Span::styled("schedule: ", t.label()),
                Span::raw(format!("{}{next}", s.description)),
            ])
        }
    }
}

/// Draws the pane.
pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let block = super::block(state, Pane::Schedule, "");
    frame.render_widget(Paragraph::new(lines(state)).block(block), area);
}
