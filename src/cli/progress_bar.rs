//! A one-line progress bar on stderr for the CLI, folded from job events with the same
//! [`JobProgress`] the console uses; and cancellation on Ctrl-C / SIGTERM.

use std::io::Write;
use std::sync::{Arc, Mutex};

use humansize::{format_size, BINARY};
use tokio_util::sync::CancellationToken;

use crate::engine::progress::{format_duration, JobEvent, JobKind, JobProgress, Sink};

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
        let _ = write!(err, "\r\x1b[2K{}", render_line(&st, 30));
        let _ = err.flush();
    })
}

/// One line: `[#####-----]  45% dumping public.t  1.2M/2.6M rows  120 MiB  40 MiB/s  ETA 12s`.
pub fn render_line(p: &JobProgress, width: usize) -> String {
    let filled = (p.ratio() * width as f64).round() as usize;
    let bar = format!("[{}{}]", "#".repeat(filled), "-".repeat(width - filled.min(width)));
    let mut s = format!(
        "{bar} {:>3}% {}",
        p.percent(),
        p.phase.map(|ph| ph.to_string()).unwrap_or_else(|| "starting".into())
    );
    let l = &p.last;
    if let Some(t) = &l.table {
        s.push_str(&format!(" {t}"));
    }
    if l.rows_total > 0 {
        s.push_str(&format!("  {}/{} rows", compact(l.rows_done), compact(l.rows_total)));
    }
    if l.bytes_done > 0 {
        match l.bytes_total {
            Some(t) => s.push_str(&format!(
                "  {}/{}",
                format_size(l.bytes_done, BINARY),
                format_size(t, BINARY)
            )),
            None => s.push_str(&format!("  {}", format_size(l.bytes_done, BINARY))),
        }
    }
    if p.rate > 0.0 {
        s.push_str(&format!("  {}/s", format_size(p.rate as u64, BINARY)));
    }
    if let Some(eta) = p.eta() {
        s.push_str(&format!("  ETA {}", format_duration(eta)));
    }
    s
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
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
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
    use crate::engine::progress::{Phase, Progress};
    use std::time::Duration;

    #[test]
    fn line_shows_percent_table_rows_and_eta() {
        let mut p = JobProgress::default();
        p.reduce(&JobEvent::Started { kind: JobKind::Backup, what: "backup of shop".into() });
        p.reduce(&JobEvent::Phase(Phase::Dump));
        p.reduce(&JobEvent::Progress(Progress {
            bytes_done: 10 << 20,
            table: Some("public.t".into()),
            rows_done: 500_000,
            rows_total: 1_000_000,
            elapsed: Duration::from_secs(10),
            ..Default::default()
        }));
        let line = render_line(&p, 10);
        assert!(line.starts_with("[#####-----]  50% dumping public.t"), "{line}");
        assert!(line.contains("500.0K/1.0M rows"), "{line}");
        assert!(line.contains("ETA 10s"), "{line}");
    }
}
