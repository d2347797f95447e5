//! Enter on a backup: everything its manifest says.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use crate::console::state::State;
use crate::engine::catalog::{BackupEntry, BackupStatus};
use crate::format;

/// Draws the details of `entry`.
pub fn draw(frame: &mut Frame, area: Rect, state: &State, entry: &BackupEntry) {
    let t = state.theme;
    let rect = super::centered(area, 100, area.height.saturating_sub(4).max(8));
    let inner = super::frame_dialog(frame, rect, &entry.name, t.border(true));
    let kv = |k: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("{k:<14}"), t.label()),
            Span::raw(v),
        ])
    };
    // The path wraps after a `/`, its continuation rows under the value column.
    let value_width = inner.width.saturating_sub(14).max(10) as usize;
    let mut lines: Vec<Line> = format::wrap_words(&entry.path.display().to_string(), value_width)
        .into_iter()
        .enumerate()
        .map(|(i, row)| kv(if i == 0 { "file" } else { "" }, row))
        .collect();
    lines.extend([
        kv("database", entry.database.clone()),
        kv(
            "taken",
            format!(
                "{} ({})",
                format::local_zoned(entry.time),
                format::ago(entry.time, state.now)
            ),
        ),
        kv("size", format::size(entry.size)),
        kv(
            "status",
            super::super::panes::backups::status_text(&entry.status, state.now),
        ),
    ]);
    if let BackupStatus::VerifyFailed { message, .. } = &entry.status {
        lines.push(Line::from(Span::styled(message.clone(), t.fail())));
    }
    match &entry.manifest {
        None => lines.push(Line::from(Span::styled(
            "no manifest: made by another tool or interrupted; restorable but not checked",
            t.warn(),
        ))),
        Some(m) => {
            lines.push(kv("label", m.label.clone().unwrap_or_else(|| "-".into())));
            lines.push(kv("sha256", m.sha256.clone()));
            lines.push(kv("duration", format!("{:.1}s", m.duration_secs)));
            lines.push(kv(
                "server",
                format!(
                    "PostgreSQL {} (pg_dump {})",
                    m.server_version, m.pg_dump_version
                ),
            ));
            lines.push(kv(
                "sizes",
                format!(
                    "{} SQL → {} gz (level {}); database {}",
                    format::size(m.raw_bytes),
                    format::size(m.compressed_bytes),
                    m.compression_level,
                    m.database_size_bytes
                        .map(format::size)
                        .unwrap_or_else(|| "?".into())
                ),
            ));
            lines.push(kv(
                "tables",
                format!(
                    "{} tables, {} rows",
                    m.tables.len(),
                    format::count(m.total_rows())
                ),
            ));
            for tbl in &m.tables {
                let rows = tbl
                    .rows
                    .map(format::count)
                    .unwrap_or_else(|| format!("~{}", tbl.estimated_rows));
                lines.push(Line::from(format!("    {:<50} {rows:>12}", tbl.name)));
            }
        }
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
