//! The command line: global options, subcommands, error reporting. Every console action
//! exists here too, so cron and scripts use the same engine.

pub mod backup;
pub mod basebackup;
pub mod cleanup;
pub mod daemon;
pub mod demo;
pub mod doctor;
pub mod list;
pub mod list_base;
pub mod logs;
pub mod metrics;
pub mod offsite;
pub mod offsite_check;
pub mod offsite_check_physical;
pub mod progress_bar;
pub mod prune;
pub mod recover;
pub mod restore;
pub mod restore_time;
pub mod schedule;
pub mod status;
pub mod verify;
pub mod wal;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use color_eyre::eyre::Result;

use crate::config::{Config, TargetKind};
use crate::target::Target;

/// pgkeep: backups, verified restores and a console for the PostgreSQL database of a
/// docker-compose deployment.
#[derive(Debug, Parser)]
#[command(name = "pgkeep", version, about, long_about = None)]
pub struct Cli {
    /// Options shared by every subcommand.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do; none opens the console on a terminal.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options shared by every subcommand (flags > PGKEEP_* environment > pgkeep.toml > defaults).
#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// Config file [default: ./pgkeep.toml when present]
    #[arg(
        long,
        global = true,
        env = "PGKEEP_CONFIG",
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Where backups are written [default: ./db_backups]
    #[arg(
        long,
        global = true,
        env = "PGKEEP_BACKUP_DIR",
        hide_env_values = true,
        value_name = "DIR"
    )]
    pub backup_dir: Option<PathBuf>,
    /// Database URL, postgresql://user@host:port/db (prefer PGPASSWORD or ~/.pgpass for the password)
    #[arg(
        long,
        global = true,
        env = "PGKEEP_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub url: Option<String>,
    /// Directory holding pg_dump and psql [default: PATH]
    #[arg(
        long,
        global = true,
        env = "PGKEEP_PG_BIN",
        hide_env_values = true,
        value_name = "DIR"
    )]
    pub pg_bin: Option<PathBuf>,
    /// How to reach the database [default: compose when a compose file is here, else direct]
    #[arg(
        long,
        global = true,
        env = "PGKEEP_TARGET",
        hide_env_values = true,
        value_enum
    )]
    pub target: Option<TargetKind>,
    /// Compose file of the deployment [default: ./docker-compose.yml or ./compose.yaml]
    #[arg(
        long,
        global = true,
        env = "PGKEEP_COMPOSE_FILE",
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub compose_file: Option<PathBuf>,
    /// Compose service running PostgreSQL [default: db]
    #[arg(
        long,
        global = true,
        env = "PGKEEP_SERVICE",
        hide_env_values = true,
        value_name = "NAME"
    )]
    pub service: Option<String>,
    /// gzip level 0-9 [default: 6]
    #[arg(long, global = true, env = "PGKEEP_COMPRESSION_LEVEL", hide_env_values = true, value_name = "N",
          value_parser = clap::value_parser!(u32).range(0..=9))]
    pub compression_level: Option<u32>,
    /// On an error, also print its causes and (with RUST_BACKTRACE=1) where it happened
    #[arg(long, global = true)]
    pub debug: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Take a backup now (pg_dump → gzip → db_backups/<db>_<time>.sql.gz + manifest)
    Backup(backup::BackupArgs),
    /// List backups, newest first
    List(list::ListArgs),
    /// Restore a backup into the live database, safely (scratch load, then swap)
    Restore(restore::RestoreArgs),
    /// Prove a backup restores: checksum, stream, test restore, row counts
    Verify(verify::VerifyArgs),
    /// Drop databases left by restores (_pre_restore_ and scratch databases)
    Cleanup(cleanup::CleanupArgs),
    /// Show server, backups, WAL archiving and schedule status
    Status(status::StatusArgs),
    /// Print the database server's log (docker logs for compose, the server's log file otherwise)
    Logs(logs::LogsArgs),
    /// Run the troubleshooting checks and print the fix for each failure
    Doctor(doctor::DoctorArgs),
    /// Show, install or remove the backup schedule (cron)
    Schedule(schedule::ScheduleArgs),
    /// Delete old backups by the retention policy
    Prune(prune::PruneArgs),
    /// Copy backups to offsite storage, list or fetch them
    Offsite(offsite::OffsiteArgs),
    /// Run the backup schedule in the foreground (no cron needed)
    Daemon(daemon::DaemonArgs),
    /// Print Prometheus metrics once (backups, verification, offsite, WAL archive, disk)
    Metrics(metrics::MetricsArgs),
    /// Start a private demo database with sample invoices and open the console on it
    Demo(demo::DemoArgs),
    /// Open the console (the default on a terminal)
    Console,
    /// Take a physical base backup of the whole cluster (for restore --time and recover)
    Basebackup(basebackup::BasebackupArgs),
    /// The WAL archive: the server's archive_command, the recoverable window
    Wal(wal::WalArgs),
    /// Recover the whole cluster into a new, empty data directory (newest base backup + all WAL)
    Recover(recover::RecoverArgs),
}

/// What every subcommand gets: the merged configuration.
#[derive(Debug, Clone)]
pub struct Context {
    /// The configuration after flags, environment and file.
    pub config: Config,
    /// The global flags as given (to show equivalent command lines).
    pub global: GlobalArgs,
}

impl Context {
    /// Loads the config file and applies flags and environment on top.
    pub fn from_args(global: &GlobalArgs) -> crate::Result<Context> {
        let mut config = Config::load(global.config.as_deref())?;
        if let Some(v) = &global.backup_dir {
            config.backup_dir = v.clone();
        }
        if let Some(v) = &global.url {
            config.url = Some(v.clone());
        }
        if let Some(v) = &global.pg_bin {
            config.pg_bin = Some(v.clone());
        }
        if let Some(v) = global.target {
            config.target = v;
        }
        if let Some(v) = &global.compose_file {
            config.compose.file = Some(v.clone());
        }
        if let Some(v) = &global.service {
            config.compose.service = v.clone();
        }
        if let Some(v) = global.compression_level {
            config.compression_level = v;
        }
        config.validate().map_err(crate::Error::Config)?;
        Ok(Context {
            config,
            global: global.clone(),
        })
    }

    /// The target the configuration selects.
    pub async fn target(&self) -> crate::Result<Box<dyn Target>> {
        crate::target::from_config(&self.config).await
    }
}

/// Parses the command line, runs it, prints errors as one line; returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    install_error_hooks(cli.global.debug);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pgkeep: error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // A user error is one line, whatever RUST_BACKTRACE says; `--debug` asks for the
            // full report first, so the last line is still the one scripts read.
            if cli_debug() {
                eprintln!("{e:?}");
            }
            eprintln!("pgkeep: error: {}", one_line(&e));
            1
        }
    }
}

static DEBUG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn cli_debug() -> bool {
    DEBUG.load(std::sync::atomic::Ordering::Relaxed)
}

/// Installs color-eyre's hooks. Error reports capture a backtrace only with `--debug`:
/// eyre reads RUST_LIB_BACKTRACE / RUST_BACKTRACE when an error is created, and a user
/// error (a missing backup, a refused password) is not a bug, so its place in the code is
/// noise. Panics are bugs and keep their backtrace under RUST_BACKTRACE as usual.
fn install_error_hooks(debug: bool) {
    DEBUG.store(debug, std::sync::atomic::Ordering::Relaxed);
    if !debug {
        // Before any thread starts: RUST_LIB_BACKTRACE wins over RUST_BACKTRACE for error
        // reports and leaves the panic hook's RUST_BACKTRACE alone.
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    let _ = color_eyre::config::HookBuilder::default()
        .display_env_section(false)
        .install();
}

/// The error and its causes on one line.
pub fn one_line(e: &color_eyre::eyre::Report) -> String {
    let mut s = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
    }
    s.replace('\n', " ")
}

async fn run(cli: Cli) -> Result<i32> {
    warn_password_in_url(&cli.global);
    if matches!(
        cli.command,
        Some(Command::List(_) | Command::Status(_) | Command::Logs(_) | Command::Doctor(_))
    ) {
        quiet_on_closed_pipe();
    }
    let ctx = Context::from_args(&cli.global)?;
    // A killed `restore --time` left its scratch server running: stop and remove it now.
    let reaped = crate::engine::physical::abandoned::reap(&ctx.config.backup_dir);
    if let Some(line) = crate::engine::physical::abandoned::reaped_line(&reaped) {
        if !matches!(cli.command, None | Some(Command::Console)) {
            eprintln!("pgkeep: {line}");
        }
    }
    match cli.command {
        Some(Command::Backup(a)) => backup::run(&ctx, a).await,
        Some(Command::List(a)) => list::run(&ctx, a).await,
        Some(Command::Restore(a)) => restore::run(&ctx, a).await,
        Some(Command::Verify(a)) => verify::run(&ctx, a).await,
        Some(Command::Cleanup(a)) => cleanup::run(&ctx, a).await,
        Some(Command::Status(a)) => status::run(&ctx, a).await,
        Some(Command::Logs(a)) => logs::run(&ctx, a).await,
        Some(Command::Doctor(a)) => doctor::run(&ctx, a).await,
        Some(Command::Schedule(a)) => schedule::run(&ctx, a).await,
        Some(Command::Prune(a)) => prune::run(&ctx, a).await,
        Some(Command::Offsite(a)) => offsite::run(&ctx, a).await,
        Some(Command::Daemon(a)) => daemon::run(&ctx, a).await,
        Some(Command::Metrics(a)) => metrics::run(&ctx, a).await,
        Some(Command::Demo(a)) => demo::run(&ctx, a).await,
        Some(Command::Console) => crate::console::run(&ctx).await,
        Some(Command::Basebackup(a)) => basebackup::run(&ctx, a).await,
        Some(Command::Wal(a)) => wal::run(&ctx, a).await,
        Some(Command::Recover(a)) => recover::run(&ctx, a).await,
        None => {
            if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
                crate::console::run(&ctx).await
            } else {
                color_eyre::eyre::bail!(
                    "no subcommand given and not on a terminal: run `pgkeep --help` for the subcommands"
                )
            }
        }
    }
}

fn warn_password_in_url(g: &GlobalArgs) {
    let on_cmdline = std::env::args().any(|a| a.starts_with("--url") || a.starts_with("postgres"));
    if let (true, Some(url)) = (on_cmdline, &g.url) {
        if let Ok(cfg) = url.parse::<tokio_postgres::Config>() {
            if cfg.get_password().is_some() {
                eprintln!(
                    "pgkeep: warning: the password in --url is visible to every user in the process list; use PGKEEP_URL, PGPASSWORD or ~/.pgpass instead"
                );
            }
        }
    }
}

/// Whether to draw progress on stderr: a terminal, and not asked to be quiet.
pub fn show_progress(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

/// For commands that only print: a closed stdout (`pgkeep list | head`) ends the process
/// quietly, as it does for other Unix tools, instead of a panic in `println!`. Not for
/// commands that write into child processes (restore feeds psql), which must see EPIPE.
fn quiet_on_closed_pipe() {
    // SAFETY: resetting a signal's disposition to its default before any thread writes.
    unsafe {
        nix::libc::signal(nix::libc::SIGPIPE, nix::libc::SIG_DFL);
    }
}
