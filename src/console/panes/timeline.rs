//! The timeline bar under the backups list: the span from the oldest base backup to now,
//! restorable stretches green, WAL missing from the archive red, the not-yet-archived tail
//! yellow, base backups marked ◆; below it the newest archived change's age. Without a base
//! backup or an archive it is one line saying what to run.

use chrono::{DateTime, Local, Utc};
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::console::keymap::Action;
use crate::console::state::State;
use crate::console::theme::Theme;
use crate::monitor::pitr_timeline::{Cover, PitrTimeline};
use crate::monitor::recovery_window::is_stale;

/// The glyph and style of a stretch of the bar.
fn look(t: Theme, c: Cover) -> (&'static str, Style) {
    match c {
        Cover::Before => ("·", t.dim()),
        Cover::Covered => ("━", t.ok()),
        Cover::Pending => ("┄", t.warn()),
        Cover::Gap => ("╳", t.fail()),
        Cover::Blocked => ("─", t.fail()),
    }
}

/// "12-01 14:31" in local time.
fn short(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%m-%d %H:%M").to_string()
}

/// The bar's lines for a pane `width` wide (at most `rows`); none while the window is unknown.
pub fn lines(state: &State, width: u16, rows: u16) -> Vec<Line<'static>> {
    let Some(p) = &state.pitr else {
        return Vec::new();
    };
    if rows == 0 {
        return Vec::new();
    }
    let t = state.theme;
    if p.bases.is_empty() {
        let what = if p.window.archived_segments == 0 {
            "no base backup and no archived WAL: set the archive (`pgkeep wal archive-command`), then run `pgkeep basebackup`"
        } else {
            "no base backup yet: run `pgkeep basebackup` to restore to any moment after it"
        };
        return vec![Line::from(vec![
            Span::styled("PITR ", t.label()),
            Span::styled(what, t.dim()),
        ])];
    }
    let mut out = vec![bar(state, p, width.saturating_sub(5) as usize)];
    if rows >= 2 {
        out.push(legend(state, p, width));
    }
    out
}

/// Line one: the bar itself.
fn bar(state: &State, p: &PitrTimeline, width: usize) -> Line<'static> {
    let t = state.theme;
    let now = state.now;
    let start = p.bases[0].finished_at;
    let span = (now - start).num_milliseconds().max(1) as f64;
    let width = width.max(1);
    let at = |i: usize| {
        start + chrono::Duration::milliseconds(((i as f64 + 0.5) * span / width as f64) as i64)
    };
    let times: Vec<DateTime<Utc>> = (0..width).map(at).collect();
    let mut cells: Vec<(&'static str, Style)> = p
        .covers(&times, now)
        .into_iter()
        .map(|c| look(t, c))
        .collect();
    for b in &p.bases {
        let col =
            (((b.finished_at - start).num_milliseconds() as f64 / span) * width as f64) as usize;
        if let Some(c) = cells.get_mut(col.min(width - 1)) {
            *c = ("◆", t.key());
        }
    }
    let mut spans = vec![Span::styled("PITR ", t.label())];
    let mut run: Option<(String, Style)> = None;
    for (g, s) in cells {
        match &mut run {
            Some((text, style)) if *style == s => text.push_str(g),
            _ => {
                if let Some((text, style)) = run.take() {
                    spans.push(Span::styled(text, style));
                }
                run = Some((g.to_string(), s));
            }
        }
    }
    if let Some((text, style)) = run {
        spans.push(Span::styled(text, style));
    }
    Line::from(spans)
}

/// Line two: the span's start, the newest change's age, gaps, the key.
fn legend(state: &State, p: &PitrTimeline, width: u16) -> Line<'static> {
    let t = state.theme;
    let w = &p.window;
    let mut spans = vec![
        Span::styled(
            format!("     {} → now", short(p.bases[0].finished_at)),
            t.dim(),
        ),
        Span::raw(" · "),
    ];
    match p.newest_archived() {
        Some(n) => spans.push(Span::styled(
            format!("newest change archived {} ago", age(state.now, n)),
            if is_stale(w, state.now) {
                t.fail()
            } else {
                t.text()
            },
        )),
        None => spans.push(Span::styled("nothing archived yet", t.warn())),
    }
    if let Some(g) = &w.gap {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(format!("GAP {g}"), t.fail()));
    }
    let tail = format!(
        " · ◆ base backup · {}: restore to a moment",
        state.keys.label(Action::RestoreMoment)
    );
    let used: usize = spans.iter().map(|s| s.width()).sum();
    if used + tail.chars().count() <= width as usize {
        spans.push(Span::styled(tail, t.dim()));
    }
    Line::from(spans)
}

fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    crate::engine::progress::format_duration((now - then).to_std().unwrap_or_default())
}
