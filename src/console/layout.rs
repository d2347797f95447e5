//! Where everything goes. 120x40 and up: all four panes (backups the largest), the job
//! gauge while a job runs and a key hint bar. Smaller: the focused pane large, the others as
//! one-line summaries under a tab bar. Below 60x16: a "terminal too small" message.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Gauge, Paragraph, Wrap};
use ratatui::Frame;

use super::panes;
use super::state::{Pane, State};
use crate::engine::progress::{format_duration, workers_line, JobProgress};
use crate::format;

/// Smallest usable size.
pub const MIN_WIDTH: u16 = 60;
/// Smallest usable size.
pub const MIN_HEIGHT: u16 = 16;
/// From this size on, all four panes are shown at once.
pub const FULL_WIDTH: u16 = 100;
/// From this size on, all four panes are shown at once.
pub const FULL_HEIGHT: u16 = 30;

/// Draws one frame from the state.
pub fn draw(frame: &mut Frame, state: &State) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "terminal too small: {}x{}, pgkeep needs at least {MIN_WIDTH}x{MIN_HEIGHT} (120x40 shows everything)",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    if area.width >= FULL_WIDTH && area.height >= FULL_HEIGHT {
        draw_full(frame, area, state);
    } else {
        draw_reduced(frame, area, state);
    }
    super::dialogs::draw(frame, state);
}

fn gauge_height(state: &State) -> u16 {
    if state.job.is_some() {
        3
    } else {
        0
    }
}

fn draw_full(frame: &mut Frame, area: Rect, state: &State) {
    // The top row grows (up to 16 rows) when the status pane has more to say
    // (container state, failing checks), but the backups pane keeps at least 8 rows.
    let inner_width = (area.width as usize * 62 / 100).saturating_sub(2).max(1);
    let rows = |lines: Vec<Line>, width: usize| {
        lines
            .iter()
            .map(|l| l.width().div_ceil(width).max(1) as u16)
            .sum::<u16>()
            + 2
    };
    let schedule_width = (area.width as usize * 38 / 100).saturating_sub(2).max(1);
    let status_rows = rows(panes::status::lines(state), inner_width)
        .max(rows(panes::schedule::lines(state), schedule_width));
    let spare = area
        .height
        .saturating_sub(1 + 8 + 10 + gauge_height(state) + 1);
    let top_height = status_rows.clamp(10, 16).min(spare.max(10));
    let [title, top, backups, log, gauge, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(top_height),
        Constraint::Min(8),
        Constraint::Length(10),
        Constraint::Length(gauge_height(state)),
        Constraint::Length(hint_rows(state, area.width)),
    ])
    .areas(area);
    let [status, schedule] =
        Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(top);
    draw_title(frame, title, state);
    panes::status::draw(frame, status, state);
    panes::schedule::draw(frame, schedule, state);
    panes::backups::draw(frame, backups, state);
    panes::log::draw(frame, log, state);
    draw_gauge(frame, gauge, state);
    draw_hints(frame, hints, state);
}

fn draw_reduced(frame: &mut Frame, area: Rect, state: &State) {
    let others: Vec<Pane> = Pane::ALL
        .into_iter()
        .filter(|p| *p != state.focus)
        .collect();
    let [title, tabs, summaries, main, gauge, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(others.len() as u16),
        Constraint::Min(5),
        Constraint::Length(gauge_height(state)),
        Constraint::Length(hint_rows(state, area.width)),
    ])
    .areas(area);
    draw_title(frame, title, state);
    let t = state.theme;
    let mut spans = vec![];
    for p in Pane::ALL {
        let style = if p == state.focus {
            t.selected()
        } else {
            t.dim()
        };
        spans.push(Span::styled(format!(" {} ", p.title()), style));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::styled("(Tab switches)", t.dim()));
    frame.render_widget(Paragraph::new(Line::from(spans)), tabs);
    let lines: Vec<Line> = others
        .iter()
        .map(|p| match p {
            Pane::Status => panes::status::summary(state),
            Pane::Backups => panes::backups::summary(state),
            Pane::Log => panes::log::summary(state),
            Pane::Schedule => panes::schedule::summary(state),
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), summaries);
    match state.focus {
        Pane::Status => panes::status::draw(frame, main, state),
        Pane::Backups => panes::backups::draw(frame, main, state),
        Pane::Log => panes::log::draw(frame, main, state),
        Pane::Schedule => panes::schedule::draw(frame, main, state),
    }
    draw_gauge(frame, gauge, state);
    draw_hints(frame, hints, state);
}

fn draw_title(frame: &mut Frame, area: Rect, state: &State) {
    let t = state.theme;
    let target = state
        .status
        .as_ref()
        .map(|s| s.target.clone())
        .filter(|s| !s.is_empty());
    // The date always shows; the target gives way when the row is narrow.
    let date = format!(" · {} ", header_time(state));
    let head = format!(" pgkeep · database {} ", state.database);
    let room = (area.width as usize).saturating_sub(head.chars().count() + date.chars().count());
    let mut spans = vec![
        Span::styled(" pgkeep ", t.key()),
        Span::raw(format!("· database {} ", state.database)),
    ];
    if let Some(target) = target.filter(|_| room > 8) {
        spans.push(Span::styled(
            format!("· {}", format::fit(&target, room - 2)),
            t.dim(),
        ));
    }
    spans.push(Span::styled(date, t.dim()));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The header's clock: weekday, date, time and the zone's name ("Tue 2026-12-01 15:41 CET").
fn header_time(state: &State) -> String {
    let zone = format::zone_name(state.now);
    format!("{} {zone}", state.local_now().format("%a %Y-%m-%d %H:%M"))
}

/// Rows the bottom line needs: a long message wraps onto up to three rows.
pub fn hint_rows(state: &State, width: u16) -> u16 {
    match (&state.search_input, &state.flash) {
        (None, Some(f)) => format::wrap_words(f, width as usize).len().clamp(1, 3) as u16,
        _ => 1,
    }
}

/// The bottom line's message, wrapped at words into `rows` rows of `width`; when it needs
/// more, the last row ends in "…" and points at the job history, which holds the whole text.
pub fn flash_rows(message: &str, width: usize, rows: usize) -> Vec<String> {
    let mut wrapped = format::wrap_words(message, width);
    if wrapped.len() > rows {
        wrapped.truncate(rows);
        let tail = " … (J: whole text)";
        let last = wrapped.pop().unwrap_or_default();
        let keep = width.saturating_sub(tail.chars().count());
        wrapped.push(format!(
            "{}{tail}",
            format::fit(&last, keep).trim_end_matches('…')
        ));
    }
    wrapped
}

/// The gauge's label: percent, table, rows, bytes, rate and ETA.
pub fn gauge_label(p: &JobProgress) -> String {
    let l = &p.last;
    let mut parts = vec![format!("{}%", p.percent())];
    if let Some(tbl) = &l.table {
        parts.push(format::fit(tbl, 32));
    }
    if !l.workers.is_empty() {
        parts.push(format::fit(&workers_line(&l.workers), 72));
    }
    if l.rows_total > 0 || l.rows_done > 0 {
        parts.push(format!(
            "{}/{} rows",
            format::count(l.rows_done),
            format::count(l.rows_total)
        ));
    }
    match l.bytes_total {
        Some(total) => parts.push(format!(
            "{} of {}",
            format::size(l.bytes_done),
            format::size(total)
        )),
        None if l.bytes_written > 0 => parts.push(format!(
            "{} → {}",
            format::size(l.bytes_done),
            format::size(l.bytes_written)
        )),
        None if l.bytes_done > 0 => parts.push(format::size(l.bytes_done)),
        None => {}
    }
    if p.rate > 0.0 {
        parts.push(format!("{}/s", format::size(p.rate as u64)));
    }
    parts.push(format!("elapsed {}", format_duration(l.elapsed)));
    if let Some(eta) = p.eta() {
        parts.push(format!("ETA {}", format_duration(eta)));
    }
    parts.join(" · ")
}

fn draw_gauge(frame: &mut Frame, area: Rect, state: &State) {
    let Some(job) = &state.job else { return };
    let t = state.theme;
    let p = &job.progress;
    let phase = match (&job.step, p.phase) {
        (Some(step), _) => format::fit(step, 60),
        (None, Some(ph)) => ph.to_string(),
        (None, None) => "starting".into(),
    };
    let cancel = if job.cancel_requested {
        " · cancelling…"
    } else {
        " · c cancels"
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.warn())
        .title(format!(" {} — {phase}{cancel} ", p.what));
    let gauge = Gauge::default()
        .block(block)
        .gauge_style(t.ok())
        .ratio(p.ratio())
        .label(gauge_label(p));
    frame.render_widget(gauge, area);
}

fn draw_hints(frame: &mut Frame, area: Rect, state: &State) {
    let t = state.theme;
    let line = if let Some(q) = &state.search_input {
        Line::from(vec![
            Span::styled("search log: /", t.key()),
            Span::raw(q.clone()),
            Span::styled("█  Enter searches · Esc cancels", t.dim()),
        ])
    } else if let (Some(_), None) = (&state.editor, &state.flash) {
        let mut spans = vec![Span::styled("editing the schedule: ", t.label())];
        for (k, what) in [
            ("Enter", "save"),
            ("Esc", "cancel"),
            ("Tab", "next preset"),
            ("← →", "move"),
        ] {
            spans.push(Span::styled(format!(" {k}"), t.key()));
            spans.push(Span::raw(format!(" {what} ")));
        }
        Line::from(spans)
    } else if let Some(f) = &state.flash {
        let style = if f.contains("FAILED") {
            t.fail()
        } else {
            t.warn()
        };
        let rows = flash_rows(f, area.width as usize, area.height.max(1) as usize);
        let lines: Vec<Line> = rows
            .into_iter()
            .map(|r| Line::from(Span::styled(r, style)))
            .collect();
        frame.render_widget(Paragraph::new(lines), area);
        return;
    } else {
        use super::keymap::Action;
        let k = |a: Action| state.keys.label(a);
        let (b, r, v, d, c, j, s, f, help, q) = (
            k(Action::Backup),
            k(Action::Restore),
            k(Action::Verify),
            k(Action::Delete),
            k(Action::Cancel),
            k(Action::Jobs),
            k(Action::Search),
            k(Action::Follow),
            k(Action::Help),
            k(Action::Quit),
        );
        let moment = k(Action::RestoreMoment);
        let keys: Vec<(&str, &str)> = if state.focus == Pane::Schedule {
            vec![
                ("e", "edit schedule"),
                ("1-3 p", "preset"),
                ("i", "install"),
                ("u", "remove"),
                (&b, "backup"),
                ("Tab", "pane"),
                (&help, "help"),
                (&q, "quit"),
            ]
        } else {
            let mut keys: Vec<(&str, &str)> = vec![
                (&b, "backup"),
                (&r, "restore"),
                (&v, "verify"),
                (&d, "delete"),
                (&c, "cancel"),
                (&j, "jobs"),
                (&s, "search"),
                (&f, "follow"),
                ("Tab", "pane"),
                (&help, "help"),
                (&q, "quit"),
            ];
            // Offered once a base backup exists (the dialog says what to run otherwise).
            if state.pitr.as_ref().is_some_and(|p| !p.bases.is_empty()) {
                keys.insert(2, (&moment, "to a moment"));
            }
            keys
        };
        let keys = keys_that_fit(&keys, area.width as usize);
        let mut spans = Vec::new();
        for (k, what) in keys {
            spans.push(Span::styled(format!(" {k}"), t.key()));
            spans.push(Span::raw(format!(" {what} ")));
        }
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// The key hints that fit in `width`: `? help` and `q quit` always stay; the ones just
/// before them give way first.
pub fn keys_that_fit<'a>(keys: &[(&'a str, &'a str)], width: usize) -> Vec<(&'a str, &'a str)> {
    let cost = |k: &[(&str, &str)]| -> usize {
        k.iter()
            .map(|(a, b)| a.chars().count() + b.chars().count() + 3)
            .sum()
    };
    let mut v = keys.to_vec();
    while cost(&v) > width && v.len() > 2 {
        v.remove(v.len() - 3);
    }
    v
}
