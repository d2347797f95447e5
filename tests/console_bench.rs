//! Bench (ignored by default; run with
//! `cargo test --release --test console_bench -- --ignored --nocapture`): renders frames
//! with 10,000 backups and 10,000 log lines and prints the time per frame. Goal: < 2 ms,
//! because only the visible rows and lines are built. Prints, never asserts a time.

mod console_support;

use std::time::Instant;

use console_support::*;
use pgkeep::engine::catalog::BackupStatus;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

#[test]
#[ignore]
fn render_10k_backups_and_10k_log_lines() {
    let mut s = state();
    let template = entry(
        9,
        BackupStatus::Verified { at: now() },
        Some("nightly"),
        true,
    );
    s.backups = (0..10_000)
        .map(|i| {
            let mut e = template.clone();
            e.time = now() - chrono::Duration::hours(i);
            e.name = format!("shop_{i:05}.sql.gz");
            e
        })
        .collect();
    s.selected = 5_000;
    for i in 0..10_000 {
        s.log.push(format!(
            "2026-11-24 10:{:02}:00 UTC [{i}] LOG:  checkpoint complete: wrote {i} buffers",
            i % 60
        ));
    }
    s.log.set_query(Some("buffers".into()));
    for (w, h) in [(120, 40), (200, 60)] {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        for _ in 0..20 {
            term.draw(|f| pgkeep::console::layout::draw(f, &s)).unwrap();
        }
        let n = 500;
        let t0 = Instant::now();
        for i in 0..n {
            s.selected = 5_000 + (i % 7);
            term.draw(|f| pgkeep::console::layout::draw(f, &s)).unwrap();
        }
        let per = t0.elapsed().as_secs_f64() * 1000.0 / n as f64;
        println!("bench: {w}x{h}, 10,000 backups + 10,000 log lines (search active): {per:.3} ms per frame (goal < 2 ms)");
    }
}
