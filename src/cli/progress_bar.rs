//! A one-line progress bar on stderr for the CLI, folded from job events with the same
//! [`JobProgress`] the console uses; and cancellation on Ctrl-C / SIGTERM.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::engine::progress::{
    format_duration, workers_line, JobEvent, JobKind, JobProgress, Sink,
};

/// A sink that draws a bar on stderr when `show` is true (and prints job log lines above it),
/// or discards everything otherwise.
pub fn stderr_sink(kind: JobKind, what: &str, show: bool) -> Sink {
    if !show {
        return Sink::none();
    }
    let state = Arc::new(Mutex::new(JobProgress::default()));
    state.lock().unwrap().reduce(&JobEvent::Started {
        kind,
        what: what.to_string(),
    });
    Sink::new(move |ev| {
        let mut st = state.lock().unwrap();
        st.reduce(&ev);
        let mut err = std::io::stderr().lock();
        match &ev {
            JobEvent::Log(line) => {
                let _ = write!(err, "\r\x1b[2K{line}\n");
            }
            JobEvent::Finished(_) | JobEvent::Failed(_) => {
                let _ = write!(err, "\r\x1b[2K");
                return;
            }
            _ => {}
        }
        let _ = write!(err, "\r\x1b[2K{}", render_fitted(&st, terminal_cols()));
        let _ = err.flush();
    })
}

/// One line: `[#####-----]  45% dumping public.t  1.2M/2.6M rows  120.0 MiB → 9.1 MiB gz
/// 40.0 MiB/s  ETA 12s`, with a bar `width` characters wide.
pub fn render_line(p: &JobProgress, width: usize) -> String {
    segments(p, width).concat()
}

/// The line fitted to a terminal `cols` wide (a wrapped line could not be redrawn in place):
/// the bar narrows, then the rate, bytes and rows go; what the workers of a parallel load do
/// is kept to the last (cut at the end, never dropped: it is what a long load is doing).
pub fn render_fitted(p: &JobProgress, cols: usize) -> String {
    let max = cols.saturating_sub(1).max(10);
    let fits = |segs: &[String; 6]| segs.concat().chars().count() <= max;
    let mut segs = segments(p, if cols >= 100 { 30 } else { 15 });
    if !fits(&segs) && cols >= 100 {
        segs = segments(p, 15);
    }
    // Indices: 0 head, 1 rows, 2 bytes, 3 rate, 4 eta, 5 workers.
    for drop in [3, 2, 1] {
        if fits(&segs) {
            break;
        }
        segs[drop].clear();
    }
    segs.concat().chars().take(max).collect()
}

/// The parts of the line: head (bar, percent, phase, table), rows, bytes, rate, ETA, and
/// what the workers of a parallel load do.
fn segments(p: &JobProgress, width: usize) -> [String; 6] {
    let size = crate::format::size_short;
    let filled = ((p.ratio() * width as f64).floor() as usize).min(width);
    let mut head = format!(
        "[{}{}] {:>3}% {}",
        "#".repeat(filled),
        "-".repeat(width - filled),
        p.percent(),
        p.phase
            .map(|ph| ph.to_string())
            .unwrap_or_else(|| "starting".into())
    );
    let l = &p.last;
    if let Some(t) = &l.table {
        head.push_str(&format!(" {t}"));
    }
    let mut rows = String::new();
    if l.rows_total > 0 {
        rows = format!("  {}/{} rows", compact(l.rows_done), compact(l.rows_total));
    }
    let mut bytes = String::new();
    if l.bytes_done > 0 {
        bytes = match l.bytes_total {
            Some(t) => format!("  {}/{}", size(l.bytes_done), size(t)),
            None => format!("  {}", size(l.bytes_done)),
        };
        if l.bytes_written > 0 {
            bytes.push_str(&format!(" → {} gz", size(l.bytes_written)));
        }
    }
    let mut rate = String::new();
    if p.rate > 0.0 {
        rate = format!("  {}/s", size(p.rate as u64));
    }
    let mut eta = String::new();
    if let Some(e) = p.eta() {
        eta = format!("  ETA {}", format_duration(e));
    }
    let mut workers = String::new();
    if !l.workers.is_empty() {
        workers = format!("  [{}]", workers_line(&l.workers));
    }
    [head, rows, bytes, rate, eta, workers]
}

/// Columns of the terminal on stderr (80 when unknown).
fn terminal_cols() -> usize {
    crossterm::terminal::size().map_or(80, |(c, _)| c as usize)
}

/// 1234 → "1.2K", 2_600_000 → "2.6M".
pub fn compact(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=999_999 => format!("{:.1}K", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.1}G", n as f64 / 1e9),
    }
}

/// A token cancelled when the process gets Ctrl-C (SIGINT) or SIGTERM, so a job can clean up
/// (remove its partial file, drop its scratch database) before exiting.
pub fn cancel_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
        t.cancel();
    });
    token
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::progress::{Phase, Progress, WorkerProgress};
    use std::time::Duration;

    #[test]
    fn line_shows_percent_table_rows_and_eta() {
        let mut p = JobProgress::default();
        p.reduce(&JobEvent::Started {
            kind: JobKind::Backup,
            what: "backup of shop".into(),
        });
        p.reduce(&JobEvent::Phase(Phase::Dump));
        p.reduce(&JobEvent::Progress(Progress {
            bytes_done: 10 << 20,
            bytes_written: 1 << 20,
            table: Some("public.t".into()),
            rows_done: 500_000,
            rows_total: 1_000_000,
            elapsed: Duration::from_secs(10),
            ..Default::default()
        }));
        let line = render_line(&p, 10);
        assert!(
            line.starts_with("[#####-----]  50% dumping public.t"),
            "{line}"
        );
        assert!(line.contains("500.0K/1.0M rows"), "{line}");
        assert!(line.contains("10 MiB → 1 MiB gz"), "{line}");
        assert!(line.contains("ETA 10s"), "{line}");

        let narrow = render_fitted(&p, 60);
        assert!(narrow.chars().count() <= 59, "{narrow}");
        assert!(narrow.contains(" 50% dumping public.t"), "{narrow}");
        assert!(narrow.contains("ETA 10s"), "{narrow}");
        let wide = render_fitted(&p, 200);
        assert!(wide.contains("rows") && wide.contains("MiB/s"), "{wide}");
    }

    #[test]
    fn the_workers_of_a_parallel_load_stay_on_a_120_column_line() {
        let mut p = JobProgress::default();
        p.reduce(&JobEvent::Started {
            kind: JobKind::Restore,
            what: "restore of shop".into(),
        });
        p.reduce(&JobEvent::Phase(Phase::Load));
        let worker = |step: &str, table: &str, rows| WorkerProgress {
            table: table.into(),
            step: step.into(),
            rows,
        };
        p.reduce(&JobEvent::Progress(Progress {
            bytes_done: 72 << 20,
            bytes_total: Some(72 << 20),
            elapsed: Duration::from_secs(3),
            work_done: 50,
            work_total: 100,
            workers: vec![
                worker("copy", "public.invoice_line", 225_900),
                worker("index", "shop.customer", 0),
                worker("analyze", "public.invoice", 0),
            ],
            ..Default::default()
        }));
        let line = render_fitted(&p, 120);
        assert!(line.chars().count() <= 119, "{line}");
        assert!(line.contains("ETA"), "{line}");
        assert!(
            line.contains(
                "[copy invoice_line 225.9K rows | index shop.customer | analyze invoice]"
            ),
            "{line}"
        );
        // Narrower: cut at the end, but the first worker is still there.
        let narrow = render_fitted(&p, 80);
        assert!(narrow.chars().count() <= 79, "{narrow}");
        assert!(narrow.contains("[copy invoice_line"), "{narrow}");
    }

    #[test]
    fn bar_is_full_only_when_finished() {
        let mut p = JobProgress::default();
        p.reduce(&JobEvent::Started {
            kind: JobKind::Backup,
            what: "b".into(),
        });
        p.reduce(&JobEvent::Progress(Progress {
            rows_done: 99,
            rows_total: 100,
            ..Default::default()
        }));
        assert!(render_line(&p, 30).starts_with(&format!("[{}-]  99%", "#".repeat(29))));
        p.reduce(&JobEvent::Finished("ok".into()));
        assert!(render_line(&p, 30).starts_with(&format!("[{}] 100%", "#".repeat(30))));
    }
}
