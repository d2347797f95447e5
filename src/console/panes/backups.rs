//! The backups pane: the catalog as a table, newest first, with a cursor and a detail line
//! for the selection. Only the visible rows are built, so 10,000 backups draw as fast as 10.

use chrono::{DateTime, Utc};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use crate::console::state::{ListRow, Pane, State};
use crate::console::theme::Theme;
use crate::engine::catalog::{BackupEntry, BackupStatus};
use crate::format;

/// The status column's text: "complete", "verified 3h02m ago", "FAILED verification", ...
pub fn status_text(s: &BackupStatus, now: DateTime<Utc>) -> String {
    match s {
        BackupStatus::Verified { at } => format!("verified {}", format::ago(*at, now)),
        BackupStatus::VerifyFailed { .. } => "FAILED verification".into(),
        BackupStatus::ChecksumMismatch => "DAMAGED (size differs)".into(),
        BackupStatus::Interrupted => "INTERRUPTED".into(),
        BackupStatus::DamagedManifest { .. } => "DAMAGED manifest".into(),
        other => other.label().into(),
    }
}

/// True when the backup's globals (roles, passwords, properties) are not complete.
pub fn globals_partial(e: &BackupEntry) -> bool {
    e.manifest
        .as_ref()
        .is_some_and(|m| m.globals_warning().is_some())
}

/// The style of a status: failures red, no manifest yellow, verified green.
pub fn status_style(t: Theme, s: &BackupStatus) -> Style {
    match s {
        BackupStatus::Verified { .. } => t.ok(),
        BackupStatus::Complete => t.text(),
        BackupStatus::NoManifest => t.warn(),
        _ => t.fail(),
    }
}

/// The first visible row so that `selected` is inside a window of `height` rows.
pub fn first_visible(selected: usize, height: usize) -> usize {
    if height == 0 {
        return selected;
    }
    selected.saturating_sub(height - 1)
}

/// True for the `.partial` file of the backup job running now.
pub fn being_written(state: &State, e: &BackupEntry) -> bool {
    let Some(job) = &state.job else { return false };
    let since = state
        .history
        .last()
        .map(|r| r.started_at)
        .unwrap_or(state.now);
    job.progress.kind == Some(crate::engine::progress::JobKind::Backup)
        && e.status == BackupStatus::Interrupted
        && e.database == state.database
        && e.time >= since - chrono::Duration::seconds(5)
}

fn row(state: &State, e: &BackupEntry, selected: bool, wide: bool, kind: bool) -> Row<'static> {
    let t = state.theme;
    let (status, style) = if being_written(state, e) {
        ("being written…".to_string(), t.warn())
    } else {
        let mut text = status_text(&e.status, state.now);
        if globals_partial(e) {
            text.push_str(" · globals partial");
        }
        (text, status_style(t, &e.status))
    };
    let label = e.label.clone().unwrap_or_default();
    let mut cells = Vec::new();
    if kind {
        cells.push(Cell::from(Span::styled("dump", t.dim())));
    }
    cells.extend([
        Cell::from(format::local(e.time)),
        Cell::from(format::ago(e.time, state.now)),
        Cell::from(format::size(e.size)),
        Cell::from(Span::styled(status, style)),
        Cell::from(label),
    ]);
    if wide {
        cells.push(Cell::from(Span::styled(e.name.clone(), t.dim())));
    }
    let r = Row::new(cells);
    if selected {
        r.style(t.selected())
    } else {
        r
    }
}

/// The detail line for the selected backup.
pub fn detail(state: &State) -> Line<'static> {
    let t = state.theme;
    if let Some(b) = state.selected_base() {
        return super::base_rows::detail(state, b);
    }
    let Some(e) = state.selected_backup() else {
        return Line::from(Span::styled("", t.dim()));
    };
    match (&e.manifest, &e.status) {
        (_, BackupStatus::VerifyFailed { message, .. }) => {
            Line::from(Span::styled(message.clone(), t.fail()))
        }
        (_, BackupStatus::Interrupted) if being_written(state, e) => Line::from(Span::styled(
            "the running backup is writing this file; it is renamed when complete",
            t.warn(),
        )),
        (_, BackupStatus::Interrupted) => Line::from(Span::styled(
            "never finished: not restorable; the next successful backup removes it (or D)",
            t.fail(),
        )),
        (_, BackupStatus::DamagedManifest { reason }) => Line::from(Span::styled(
            format!("{reason}: its checksum cannot be checked; restore or verify it only with --accept-unchecked"),
            t.fail(),
        )),
        (Some(m), _) => Line::from(vec![
            Span::styled("sha256 ", t.label()),
            Span::raw(format!("{}…", &m.sha256[..m.sha256.len().min(12)])),
            Span::styled(" · took ", t.label()),
            Span::raw(format!("{:.1}s", m.duration_secs)),
            Span::styled(" · database ", t.label()),
            Span::raw(
                m.database_size_bytes
                    .map(format::size)
                    .unwrap_or_else(|| "?".into()),
            ),
            Span::styled(" · ", t.label()),
            Span::raw(format!(
                "{} tables, {} rows",
                m.tables.len(),
                format::count(m.total_rows())
            )),
            Span::styled("  (Enter: details)", t.dim()),
        ]),
        (None, _) => Line::from(Span::styled(
            "no manifest (made by another tool): restorable, not checked",
            t.warn(),
        )),
    }
}

/// Draws the pane.
pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let t = state.theme;
    let list = state.rows();
    let n = list.len();
    let extra = if n == 0 {
        String::new()
    } else {
        format!(" ({}/{n})", state.selected + 1)
    };
    let block = super::block(state, Pane::Backups, &extra);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // The detail line wraps onto a second row rather than losing its end.
    let detail_rows = if detail(state).width() > inner.width as usize {
        2
    } else {
        1
    };
    let bar_rows = match inner.height {
        0..=5 => 0,
        6..=8 => 1,
        _ => 2,
    };
    let bar = super::timeline::lines(state, inner.width, bar_rows);
    let [table_area, bar_area, detail_area] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(bar.len() as u16),
        Constraint::Length(detail_rows),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(bar), bar_area);
    if let Some(p) = &state.catalog_problem {
        frame.render_widget(
            Paragraph::new(Span::styled(p.clone(), t.fail())),
            table_area,
        );
        return;
    }
    if n == 0 {
        let msg = format!(
            "No backups in {} yet. Press b to take one now.",
            state.backup_dir.display()
        );
        frame.render_widget(Paragraph::new(msg), table_area);
        return;
    }
    let visible = table_area.height.saturating_sub(1) as usize;
    let wide = table_area.width >= 100;
    let first = first_visible(state.selected, visible);
    let kind = !state.bases.is_empty();
    let rows: Vec<Row> = list
        .iter()
        .enumerate()
        .skip(first)
        .take(visible)
        .map(|(i, r)| match r {
            ListRow::Dump(d) => row(state, &state.backups[*d], i == state.selected, wide, kind),
            ListRow::Base(b) => {
                super::base_rows::row(state, &state.bases[*b], i == state.selected, wide)
            }
        })
        .collect();
    let mut titles = vec!["local time", "age", "size", "status", "label"];
    let mut widths = vec![
        Constraint::Length(16),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(22),
        Constraint::Length(16),
    ];
    if wide {
        titles.push("file");
        widths.push(Constraint::Min(10));
    } else {
        widths[4] = Constraint::Min(6);
    }
    if kind {
        titles.insert(0, "kind");
        widths.insert(0, Constraint::Length(4));
        titles[5] = "label / WAL";
    }
    let table = Table::new(rows, widths).header(Row::new(titles).style(t.label()));
    frame.render_widget(table, table_area);
    frame.render_widget(
        Paragraph::new(detail(state)).wrap(ratatui::widgets::Wrap { trim: true }),
        detail_area,
    );
}

/// One line for the reduced layout.
pub fn summary(state: &State) -> Line<'static> {
    let t = state.theme;
    let newest = state
        .backups
        .first()
        .map(|e| {
            format!(
                "newest {} ({})",
                format::ago(e.time, state.now),
                status_text(&e.status, state.now)
            )
        })
        .unwrap_or_else(|| "none yet".into());
    let bases = match state.bases.len() {
        0 => String::new(),
        n => format!(" · {n} base"),
    };
    Line::from(vec![
        Span::styled("backups: ", t.label()),
        Span::raw(format!("{} · {newest}{bases}", state.backups.len())),
    ])
}
