//! The schedule pane: the cron expression in words, the next runs in local time, whether the
//! installed crontab matches and in which zone cron runs it; with `e` the editor (the typed
//! expression with its cursor, the parser's error in red or the words and next runs).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use crate::console::schedule_editor::{Preview, ScheduleEditor, PRESETS};
use crate::console::state::{Pane, State};
use crate::console::theme::Theme;
use crate::schedule::{CrontabState, ScheduleSummary};

/// The pane's lines.
pub fn lines(state: &State) -> Vec<Line<'static>> {
    let t = state.theme;
    let Some(s) = &state.schedule else {
        return vec![Line::from(Span::styled("reading the schedule…", t.dim()))];
    };
    if let Some(ed) = &state.editor {
        return editor_lines(t, ed, s);
    }
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
    out.extend(crontab_lines(t, s));
    runs(t, &mut out, &s.next_runs, "next runs:");
    if state.focus == Pane::Schedule {
        out.push(Line::from(Span::styled(
            "e edit · 1-3/p preset · i install · u remove",
            t.dim(),
        )));
    }
    out
}

/// The crontab's state (a warning unless it matches) and the zone cron runs the job in.
fn crontab_lines(t: Theme, s: &ScheduleSummary) -> Vec<Line<'static>> {
    let crontab = match &s.crontab {
        CrontabState::Matches => Span::styled("crontab: installed, matches", t.ok()),
        CrontabState::NotInstalled => {
            Span::styled("⚠ crontab: NOT installed (i installs)", t.warn())
        }
        CrontabState::Differs(line) => {
            let fields: Vec<&str> = line.split_whitespace().take(5).collect();
            Span::styled(
                format!(
                    "⚠ crontab DIFFERS from the config: installed `{}` (press i)",
                    fields.join(" ")
                ),
                t.warn(),
            )
        }
        CrontabState::Unavailable(why) => Span::styled(format!("crontab: {why}"), t.dim()),
    };
    let mut out = vec![Line::from(crontab)];
    if let Some(note) = &s.cron_note {
        out.push(Line::from(Span::styled(note.clone(), t.dim())));
    }
    out
}

fn runs(
    t: Theme,
    out: &mut Vec<Line<'static>>,
    runs: &[chrono::DateTime<chrono::Local>],
    title: &str,
) {
    if runs.is_empty() {
        out.push(Line::from(Span::styled("next runs: none", t.dim())));
        return;
    }
    out.push(Line::from(Span::styled(title.to_string(), t.label())));
    for r in runs.iter().take(5) {
        out.push(Line::from(format!(
            "  {}",
            r.format("%a %Y-%m-%d %H:%M %Z")
        )));
    }
}

/// The editor: the input with its cursor, then the error (red) or the words and next runs.
fn editor_lines(t: Theme, ed: &ScheduleEditor, s: &ScheduleSummary) -> Vec<Line<'static>> {
    let bad = ed.problem().is_some();
    let text_style = if bad { t.fail() } else { t.text() };
    let chars: Vec<char> = ed.input.chars().collect();
    let before: String = chars[..ed.cursor].iter().collect();
    let at: String = chars
        .get(ed.cursor)
        .map(|c| c.to_string())
        .unwrap_or(" ".into());
    let after: String = chars.get(ed.cursor + 1..).unwrap_or(&[]).iter().collect();
    let mut out = vec![Line::from(vec![
        Span::styled("cron ▸ ", t.key()),
        Span::styled(before, text_style),
        Span::styled(at, t.selected()),
        Span::styled(after, text_style),
    ])];
    match (&ed.preview, ed.problem()) {
        (_, Some(p)) => out.push(Line::from(Span::styled(format!("✗ {p}"), t.fail()))),
        (
            Preview::Valid {
                description,
                next_runs,
            },
            None,
        ) => {
            out.push(Line::from(Span::styled(format!("✓ {description}"), t.ok())));
            runs(t, &mut out, next_runs, "next runs (local time):");
        }
        (Preview::Invalid(_), None) => {}
    }
    let preset = ed
        .preset
        .map(|i| format!(" (now: {})", PRESETS[i].0))
        .unwrap_or_default();
    out.push(Line::from(Span::styled(
        format!("Tab preset{preset} · Enter save · Esc cancel"),
        t.dim(),
    )));
    out.extend(crontab_lines(t, s));
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
            let mut spans = vec![
                Span::styled("schedule: ", t.label()),
                Span::raw(s.description.clone()),
            ];
            match &s.crontab {
                CrontabState::NotInstalled => {
                    spans.push(Span::styled(" · ⚠ not in crontab", t.warn()))
                }
                CrontabState::Differs(_) => {
                    spans.push(Span::styled(" · ⚠ crontab differs", t.warn()))
                }
                _ => {}
            }
            spans.push(Span::raw(next));
            Line::from(spans)
        }
    }
}

/// Draws the pane.
pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let extra = if state.editor.is_some() {
        " — editing"
    } else {
        ""
    };
    let block = super::block(state, Pane::Schedule, extra);
    frame.render_widget(
        Paragraph::new(lines(state))
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}
