//! The terminal console: status, backups, log and schedule panes driving background jobs.
//!
//! Flow: terminal events, ticks, job events and monitor updates arrive as owned [`msg::Msg`]s
//! on one channel; [`update::update`] changes the [`state::State`] and returns
//! [`msg::Effect`]s; [`app::App`] performs them as tokio tasks; [`layout::draw`] reads the
//! state and runs only when something changed.

pub mod app;
pub mod backup_rows;
pub mod catalog_watch;
pub mod dialogs;
pub mod job_update;
pub mod journal;
pub mod keymap;
pub mod layout;
pub mod log_view;
pub mod msg;
pub mod own_noise;
pub mod panes;
pub mod pitr_job;
pub mod schedule_editor;
pub mod state;
pub mod status_watch;
pub mod theme;
pub mod update;

use std::sync::Arc;

use color_eyre::eyre::{Result, WrapErr};
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedSender;

use crate::cli::Context;
use crate::target::Target;
use msg::Msg;

/// Restores the terminal when dropped (normal exit and errors; the panic hook covers panics).
struct RestoreGuard;

impl Drop for RestoreGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// The short equivalent command: `pgkeep` plus only the flags given on this console's own
/// command line or environment — what pgkeep.toml already says is left out, and a URL (which
/// may carry a password) never appears: the shell's PGKEEP_URL / PG* variables carry it.
pub fn cli_prefix(ctx: &Context, _target: &dyn Target) -> String {
    let g = &ctx.global;
    let mut parts = vec!["pgkeep".to_string()];
    let mut flag = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            parts.push(name.to_string());
            parts.push(v);
        }
    };
    flag(
        "--config",
        g.config.as_ref().map(|p| p.display().to_string()),
    );
    flag(
        "--target",
        g.target.and_then(|t| {
            use clap::ValueEnum;
            t.to_possible_value().map(|v| v.get_name().to_string())
        }),
    );
    flag(
        "--compose-file",
        g.compose_file.as_ref().map(|p| p.display().to_string()),
    );
    flag("--service", g.service.clone());
    flag(
        "--pg-bin",
        g.pg_bin.as_ref().map(|p| p.display().to_string()),
    );
    flag(
        "--backup-dir",
        g.backup_dir.as_ref().map(|p| p.display().to_string()),
    );
    parts
        .iter()
        .map(|p| shell_quote(p))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@=,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Opens the console on a terminal; returns the process exit code.
pub async fn run(ctx: &Context) -> Result<i32> {
    keymap::KeyMap::from_config(&ctx.config.keys).map_err(crate::Error::Config)?;
    let target: Arc<dyn Target> = Arc::from(ctx.target().await?);
    let prefix = cli_prefix(ctx, target.as_ref());
    let mut app = app::App::new(ctx.config.clone(), target, prefix);
    app.set_config_file(ctx.global.config.clone());
    let mut terminal = ratatui::try_init().wrap_err("cannot set up the terminal")?;
    let guard = RestoreGuard;
    app.start_background();
    let events = tokio::spawn(forward_terminal_events(app.sender()));
    let signals = tokio::spawn(forward_signals(app.sender()));
    let result = loop {
        if app.state.dirty {
            if let Err(e) = terminal.draw(|f| layout::draw(f, &app.state)) {
                break Err(e).wrap_err("cannot draw on the terminal");
            }
            app.state.dirty = false;
        }
        if app.state.quit || app.next().await.is_none() {
            break Ok(0);
        }
    };
    events.abort();
    signals.abort();
    if app.state.job_running() {
        app.state.flash = Some("cancelling the running job…".into());
        let _ = terminal.draw(|f| layout::draw(f, &app.state));
    }
    app.shutdown().await;
    drop(guard);
    result
}

async fn forward_terminal_events(tx: UnboundedSender<Msg>) {
    let mut stream = EventStream::new();
    while let Some(ev) = stream.next().await {
        let msg = match ev {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => Msg::Key(k),
            Ok(Event::Resize(w, h)) => Msg::Resize(w, h),
            Ok(_) => continue,
            Err(_) => Msg::Terminate,
        };
        if tx.send(msg).is_err() {
            return;
        }
    }
}

async fn forward_signals(tx: UnboundedSender<Msg>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = hup.recv() => {}
    }
    let _ = tx.send(Msg::Terminate);
}
