//! The log pane: a live tail of the server's log with follow mode, scroll back and search
//! highlighting. Only the visible lines are styled.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::console::state::{Pane, State};
use crate::console::theme::Theme;

/// Splits `line` into spans, highlighting case-insensitive matches of `query`.
pub fn highlighted(t: Theme, line: &str, query: Option<&str>) -> Line<'static> {
    let base = t.log_line(line);
    let q = match query {
        Some(q) if !q.is_empty() => q.to_lowercase(),
        _ => return Line::from(Span::styled(line.to_string(), base)),
    };
    let lower = line.to_lowercase();
    if lower.len() != line.len() {
        // Case folding changed byte offsets: show without highlighting rather than mis-cut.
        return Line::from(Span::styled(line.to_string(), base));
    }
    let mut spans = Vec::new();
    let mut at = 0;
    while let Some(i) = lower[at..].find(&q) {
        let s = at + i;
        if s > at {
            spans.push(Span::styled(line[at..s].to_string(), base));
        }
        spans.push(Span::styled(
            line[s..s + q.len()].to_string(),
            t.highlight(),
        ));
        at = s + q.len();
    }
    spans.push(Span::styled(line[at..].to_string(), base));
    Line::from(spans)
}

fn title_extra(state: &State) -> String {
    let log = &state.log;
    let mut s = String::new();
    if !log.source.is_empty() {
        s.push_str(&format!(" — {}", log.source));
    }
    s.push_str(if log.follow {
        " · following"
    } else {
        " · paused (f follows)"
    });
    s.push_str(if log.wrap {
        " · wrapped"
    } else {
        " · w wraps"
    });
    if let Some(q) = &log.query {
        match log.match_position() {
            Some(i) => s.push_str(&format!(" · /{q}: {i}/{}", log.match_count())),
            None => s.push_str(&format!(" · /{q}: {} matching lines", log.match_count())),
        }
    }
    s
}

/// Cuts a styled line into rows of at most `width` characters (hard wrap, so the number of
/// rows is exact and the newest line is never pushed off the bottom).
pub fn hard_wrap(line: Line<'static>, width: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let mut rows = vec![Vec::new()];
    let mut used = 0;
    for span in line.spans {
        let mut chunk = String::new();
        for ch in span.content.chars() {
            if used == width {
                if !chunk.is_empty() {
                    rows.last_mut()
                        .unwrap()
                        .push(Span::styled(std::mem::take(&mut chunk), span.style));
                }
                rows.push(Vec::new());
                used = 0;
            }
            chunk.push(ch);
            used += 1;
        }
        if !chunk.is_empty() {
            rows.last_mut()
                .unwrap()
                .push(Span::styled(chunk, span.style));
        }
    }
    rows.into_iter().map(Line::from).collect()
}

/// Replaces the last character of a full row with "…" (the line goes on; `w` shows it).
fn end_with_ellipsis(row: &mut Line<'static>) {
    while let Some(span) = row.spans.last_mut() {
        let mut text = span.content.to_string();
        if text.pop().is_some() {
            text.push('…');
            span.content = text.into();
            return;
        }
        row.spans.pop();
    }
}

/// The visible rows of a pane `height` rows high and `width` wide: the newest (or the
/// scrolled-to) line at the bottom, long lines wrapped.
pub fn visible_rows(state: &State, height: usize, width: usize) -> Vec<Line<'static>> {
    let t = state.theme;
    let log = &state.log;
    let mut out = Vec::new();
    let mut room = height;
    if let Some(n) = &log.notice {
        let rows = hard_wrap(Line::from(Span::styled(n.clone(), t.warn())), width);
        room = room.saturating_sub(rows.len());
        out.extend(rows);
    }
    if log.lines.is_empty() {
        if log.notice.is_none() {
            out.push(Line::from(Span::styled("waiting for log lines…", t.dim())));
        }
        return out;
    }
    let query = log.query.as_deref();
    let mut rows: Vec<Line<'static>> = Vec::new();
    for l in log.lines.range(..=log.bottom_line()).rev() {
        if rows.len() >= room {
            break;
        }
        let mut wrapped = hard_wrap(highlighted(t, l, query), width);
        if !log.wrap && !Theme::is_alarm(l) && wrapped.len() > 1 {
            wrapped.truncate(1);
            end_with_ellipsis(&mut wrapped[0]);
        }
        while let Some(r) = wrapped.pop() {
            rows.push(r);
        }
    }
    rows.truncate(room);
    rows.reverse();
    out.extend(rows);
    out
}

/// Draws the pane.
pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let block = super::block(state, Pane::Log, &title_extra(state));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = visible_rows(state, inner.height as usize, inner.width as usize);
    frame.render_widget(Paragraph::new(rows), inner);
}

/// One line for the reduced layout: the newest log line.
pub fn summary(state: &State) -> Line<'static> {
    let t = state.theme;
    let last = state
        .log
        .lines
        .back()
        .or(state.log.notice.as_ref())
        .cloned()
        .unwrap_or_default();
    Line::from(vec![
        Span::styled("log: ", t.label()),
        Span::styled(last.clone(), t.log_line(&last)),
    ])
}

/// Style of the search prompt.
pub fn prompt_style(t: Theme) -> Style {
    t.key()
}
