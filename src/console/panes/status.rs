//! The status pane: server reachability and facts, WAL archiving, free space, last backup
//! age, next run, leftovers, and for the compose target the container and failing checks.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use crate::console::state::{Pane, State};
use crate::console::theme::Theme;
use crate::format;
use crate::monitor::status::{backup_age_level, latest_complete, Level, ServerStatus};

fn kv(t: Theme, k: &str, v: Vec<Span<'static>>) -> Line<'static> {
    let mut spans = vec![Span::styled(format!("{k:<13}"), t.label())];
    spans.extend(v);
    Line::from(spans)
}

/// The health warnings (overdue backup, failed verification), in red.
fn health_lines(state: &State) -> Vec<Line<'static>> {
    let t = state.theme;
    state
        .health
        .iter()
        .map(|w| kv(t, "⚠ health", vec![Span::styled(w.clone(), t.fail())]))
        .collect()
}

/// The pane's lines.
pub fn lines(state: &State) -> Vec<Line<'static>> {
    let t = state.theme;
    let Some(s) = &state.status else {
        let mut out = vec![Line::from(Span::styled("checking the server…", t.dim()))];
        out.extend(health_lines(state));
        return out;
    };
    let mut out = Vec::new();
    match &s.server {
        Some(f) => {
            let version = f
                .version
                .split_whitespace()
                .next()
                .unwrap_or(&f.version)
                .to_string();
            let up = format::age((state.now - f.started_at).to_std().unwrap_or_default());
            out.push(kv(
                t,
                "server",
                vec![
                    Span::styled("up", t.ok()),
                    Span::raw(format!(" · PostgreSQL {version} · for {up}")),
                ],
            ));
            let size = f
                .database_size
                .map(format::size)
                .unwrap_or_else(|| "?".into());
            out.push(kv(
                t,
                "database",
                vec![Span::raw(format!(
                    "{} · {size} · {}/{} connections",
                    s.database, f.connections, f.max_connections
                ))],
            ));
            let a = &f.archiver;
            let last = a
                .last_archived_at
                .map(|x| format::ago(x, state.now))
                .unwrap_or_else(|| "never".into());
            out.push(kv(
                t,
                "WAL",
                vec![Span::raw(format!(
                    "wal_level {} · archive_mode {}",
                    f.wal_level, a.archive_mode
                ))],
            ));
            let mut wal = vec![Span::raw(format!(
                "{} archived, last {last} · ",
                format::count_i(a.archived_count)
            ))];
            let failed = match a.last_failed_at {
                Some(x) if a.failed_count > 0 => format!(
                    "{} (last {})",
                    format::plural(a.failed_count.max(0) as u64, "failed attempt"),
                    format::ago(x, state.now)
                ),
                _ => format::plural(a.failed_count.max(0) as u64, "failed attempt"),
            };
            wal.push(Span::styled(failed, t.level(a.level())));
            out.push(kv(t, "archiving", wal));
            if let Some(w) = &s.recovery_window {
                out.push(super::pitr::line(state, w));
            }
        }
        None => out.push(kv(
            t,
            "server",
            vec![Span::styled(
                format!("UNREACHABLE: {}", s.problem.clone().unwrap_or_default()),
                t.fail(),
            )],
        )),
    }
    out.push(backup_line(state, s));
    let free = s.free_bytes.map(format::size).unwrap_or_else(|| "?".into());
    out.push(kv(
        t,
        "backup dir",
        vec![Span::raw(format!(
            "{} · {free} free",
            s.backup_dir.display()
        ))],
    ));
    let next = state
        .schedule
        .as_ref()
        .and_then(|sc| sc.next_runs.first())
        .map(|n| n.format("%a %Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "not known".into());
    out.push(kv(t, "next run", vec![Span::raw(next)]));
    out.extend(health_lines(state));
    if !s.leftovers.is_empty() {
        out.push(kv(
            t,
            "leftovers",
            vec![Span::styled(
                format!("{} (pgkeep cleanup)", s.leftovers.join(", ")),
                t.warn(),
            )],
        ));
    }
    if let Some(c) = &s.container {
        let style = if c.state == "running" && c.health.as_deref() != Some("unhealthy") {
            t.ok()
        } else {
            t.fail()
        };
        out.push(kv(
            t,
            "container",
            vec![
                Span::styled(c.state_text(), style),
                Span::raw(format!(" · {} · restarts {}", c.name, c.restart_count)),
            ],
        ));
        let started = match (c.state.as_str(), c.started_at, c.finished_at) {
            ("exited" | "dead" | "created", _, Some(x)) => {
                format!("stopped {}", format::ago(x, state.now))
            }
            (_, Some(x), _) => format!("started {}", format::ago(x, state.now)),
            _ => "never started".into(),
        };
        out.push(kv(
            t,
            "image",
            vec![Span::raw(format!("{} · {started}", c.image))],
        ));
        let volume = c.data_volume.clone().unwrap_or_else(|| "none".into());
        let vstyle = if c.volume_warning.is_some() {
            t.fail()
        } else {
            t.ok()
        };
        out.push(kv(t, "volume", vec![Span::styled(volume, vstyle)]));
        if let Some(w) = &c.volume_warning {
            out.push(Line::from(Span::styled(w.clone(), t.fail())));
        }
    }
    // Every failing check, first: below the facts they were cut off by the pane's bottom.
    // The fix before the detail: a long detail (the container check quotes log lines) would
    // push it out of sight.
    let failing: Vec<Line<'static>> = s
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| {
            let text = match &c.fix {
                Some(f) => format!("✗ {} → {f} · {}", c.name, c.detail),
                None => format!("✗ {}: {}", c.name, c.detail),
            };
            Line::from(Span::styled(text, t.fail()))
        })
        .collect();
    out.splice(0..0, failing);
    out
}

/// How many troubleshooting checks fail in the latest snapshot.
pub fn failing_count(state: &State) -> usize {
    state
        .status
        .as_ref()
        .map_or(0, |s| s.checks.iter().filter(|c| !c.ok).count())
}

fn backup_line(state: &State, s: &ServerStatus) -> Line<'static> {
    let t = state.theme;
    // The live catalog is fresher than the snapshot.
    let last = latest_complete(&state.backups).or(s.last_backup_at);
    let age = last.map(|x| (state.now - x).to_std().unwrap_or_default());
    let level = backup_age_level(age);
    let text = match last {
        Some(x) => format!("{} ({})", format::ago(x, state.now), format::local(x)),
        None => "none yet: press b".into(),
    };
    let mut spans = vec![Span::styled(text, t.level(level))];
    if level != Level::Ok && last.is_some() {
        spans.push(Span::styled(" — overdue", t.level(level)));
    }
    kv(t, "last backup", spans)
}

/// One line for the reduced layout.
pub fn summary(state: &State) -> Line<'static> {
    let t = state.theme;
    match state.status.as_ref() {
        None => Line::from(Span::styled("status: checking…", t.dim())),
        Some(s) if s.server.is_none() => Line::from(Span::styled(
            "status: server UNREACHABLE (Tab to status for details)",
            t.fail(),
        )),
        Some(s) => {
            let last = latest_complete(&state.backups).or(s.last_backup_at);
            let level =
                backup_age_level(last.map(|x| (state.now - x).to_std().unwrap_or_default()));
            let last = last
                .map(|x| format::ago(x, state.now))
                .unwrap_or_else(|| "none".into());
            let mut spans = vec![
                Span::styled("status: ", t.label()),
                Span::styled("server up", t.ok()),
            ];
            let failing = failing_count(state);
            if failing > 0 {
                spans.push(Span::styled(
                    format!(" · ✗ {}", format::plural(failing as u64, "failing check")),
                    t.fail(),
                ));
            }
            if !state.health.is_empty() {
                spans.push(Span::styled(
                    format!(" · ⚠ {} health warning(s)", state.health.len()),
                    t.fail(),
                ));
            }
            spans.extend([
                Span::raw(" · last backup "),
                Span::styled(last, t.level(level)),
                Span::raw(format!(
                    " · {} free",
                    s.free_bytes.map(format::size).unwrap_or_else(|| "?".into())
                )),
            ]);
            Line::from(spans)
        }
    }
}

/// Draws the pane; j/k scroll it when its lines do not fit.
pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let lines = lines(state);
    let width = area.width.saturating_sub(2).max(1) as usize;
    let rows: usize = lines.iter().map(|l| l.width().div_ceil(width).max(1)).sum();
    let height = area.height.saturating_sub(2) as usize;
    let max_scroll = rows.saturating_sub(height);
    let scroll = (state.status_scroll as usize).min(max_scroll);
    let mut extra = String::new();
    let failing = failing_count(state);
    if failing > 0 {
        extra.push_str(&format!(
            " · {}",
            format::plural(failing as u64, "failing check")
        ));
    }
    if max_scroll > 0 {
        extra.push_str(if scroll < max_scroll {
            " · more below (j/k scroll)"
        } else {
            " · j/k scroll"
        });
    }
    let block = super::block(state, Pane::Status, &extra);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((scroll as u16, 0)),
        area,
    );
}
