//! Base backups in the backups pane: their row (kind "base", size, start time, timeline and
//! WAL range), their detail line, and the one-line answer when a dump-only key is pressed
//! on one.

use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};

use crate::console::keymap::Action;
use crate::console::state::State;
use crate::engine::physical::base_catalog::BaseBackup;
use crate::format;

/// Whether `b` belongs to the live cluster (unknown counts as yes).
fn of_this_cluster(state: &State, b: &BaseBackup) -> bool {
    state.pitr.as_ref().is_none_or(|p| {
        p.window.system_identifier.is_empty()
            || p.window.system_identifier == b.manifest.system_identifier
    })
}

/// "TL1 0/2000028–0/2000138".
pub fn wal_range(b: &BaseBackup) -> String {
    format!(
        "TL{} {}–{}",
        b.manifest.timeline, b.manifest.start_lsn, b.manifest.stop_lsn
    )
}

/// The table row of base backup `b`; `kind` adds the kind column, `wide` the file column.
pub fn row(state: &State, b: &BaseBackup, selected: bool, wide: bool) -> Row<'static> {
    let t = state.theme;
    let m = &b.manifest;
    let (status, style) = if !of_this_cluster(state, b) {
        ("other cluster".to_string(), t.dim())
    } else if m.verified_by_pg_verifybackup {
        ("base · verified".to_string(), t.ok())
    } else {
        ("base".to_string(), t.text())
    };
    let mut cells = vec![
        Cell::from(Span::styled("base", t.key())),
        Cell::from(format::local(m.started_at)),
        Cell::from(format::ago(m.finished_at, state.now)),
        Cell::from(format::size(m.compressed_bytes)),
        Cell::from(Span::styled(status, style)),
        Cell::from(Span::styled(wal_range(b), t.dim())),
    ];
    if wide {
        cells.push(Cell::from(Span::styled(b.name.clone(), t.dim())));
    }
    let r = Row::new(cells);
    if selected {
        r.style(t.selected())
    } else {
        r
    }
}

/// Everything about `b` in one line (the detail line and Enter).
pub fn describe(b: &BaseBackup) -> String {
    let m = &b.manifest;
    format!(
        "base backup {} · finished {} · WAL {}–{} on timeline {} · {} ({} of data) · PostgreSQL {}",
        b.name,
        format::local_zoned(m.finished_at),
        m.start_lsn,
        m.stop_lsn,
        m.timeline,
        format::size(m.compressed_bytes),
        format::size(m.raw_bytes),
        m.server_version
    )
}

/// The detail line for the selected base backup.
pub fn detail(state: &State, b: &BaseBackup) -> Line<'static> {
    let t = state.theme;
    let m = &b.manifest;
    if !of_this_cluster(state, b) {
        return Line::from(Span::styled(
            format!(
                "base backup of another cluster (system identifier {}): kept, not used for this server",
                m.system_identifier
            ),
            t.warn(),
        ));
    }
    Line::from(vec![
        Span::styled("base backup", t.label()),
        Span::raw(format!(
            " · finished {} · WAL {}–{} · {} of data",
            format::local(m.finished_at),
            m.start_lsn,
            m.stop_lsn,
            format::size(m.raw_bytes)
        )),
        Span::styled(
            format!(
                "  ({}: restore to a moment after it)",
                state.keys.label(Action::RestoreMoment)
            ),
            t.dim(),
        ),
    ])
}

/// The one line a dump-only key gives on a base backup.
pub fn not_for_base(state: &State, action: Action) -> String {
    let moment = state.keys.label(Action::RestoreMoment);
    match action {
        Action::Restore => format!(
            "a base backup is not restored on its own: press {moment} to restore to a moment after it"
        ),
        Action::Verify => "a base backup was checked by pg_verifybackup when taken; verify (test restore) is for dumps".into(),
        _ => "base backups are removed by `pgkeep prune` (keep_base), which keeps the WAL they need; D deletes dumps".into(),
    }
}
