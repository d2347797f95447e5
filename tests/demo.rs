//! `pgkeep demo` end to end with the real binary and a real PostgreSQL cluster: creation and
//! load, a backup through the demo config (direct target even beside a compose file), reuse,
//! stop and restart keeping the data, reset asking first; and the example config file.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use pgkeep::config::Config;

/// Runs the pgkeep binary in `dir` with a clean environment (no PG*/PGKEEP_* variables, no
/// backtraces: errors must be one line as a user sees them).
fn pgkeep_in(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(common::pgkeep_bin());
    cmd.current_dir(dir).args(args).stdin(Stdio::null());
    cmd.env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    for (k, _) in std::env::vars() {
        if k.starts_with("PG") {
            cmd.env_remove(k);
        }
    }
    cmd.output().unwrap()
}

/// psql against the demo database over TCP; panics on failure.
fn demo_sql(port: u16, sql: &str) -> String {
    let out = demo_psql(port, sql);
    assert!(
        out.status.success(),
        "psql failed: {}\n{sql}",
        common::stderr(&out)
    );
    common::stdout(&out).trim().to_string()
}

fn demo_psql(port: u16, sql: &str) -> Output {
    Command::new(common::pg_bin().join("psql"))
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
        ])
        .args(["-p", &port.to_string(), "-d", "facturatie", "-c", sql])
        .env_remove("PGPASSWORD")
        .output()
        .unwrap()
}

/// Stops the demo cluster of a test folder even when the test fails half-way.
struct StopOnDrop(PathBuf);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = pgkeep_in(&self.0, &["demo", "--stop"]);
    }
}

fn port_of(config: &Config) -> u16 {
    let url = config.url.as_deref().expect("the demo config has a url");
    url.rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn demo_creates_loads_reuses_stops_and_resets() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap(); // the server user must get in
                                                                                     // A compose file here must not make the demo's config pick the compose target.
    std::fs::write(
        dir.join("docker-compose.yml"),
        "services:\n  db:\n    image: postgres:17\n",
    )
    .unwrap();
    let _stop = StopOnDrop(dir.clone());

    let out = pgkeep_in(&dir, &["demo", "--no-console"]);
    let text = common::stdout(&out);
    assert!(
        out.status.success(),
        "demo failed: {}{text}",
        common::stderr(&out)
    );
    assert!(text.contains("creating demo cluster"), "{text}");
    assert!(text.contains("loading 100,000 invoices"), "{text}");
    let config_path = PathBuf::from(text.lines().last().unwrap());
    assert_eq!(config_path, dir.join(".pgkeep-demo/pgkeep.toml"));
    let config = Config::load(Some(&config_path)).unwrap();
    assert_eq!(config.target, pgkeep::config::TargetKind::Direct);
    assert_eq!(config.backup_dir, dir.join(".pgkeep-demo/backups"));
    assert!(
        config.log.file.as_ref().unwrap().is_file(),
        "the server log is where the config says"
    );
    let port = port_of(&config);

    // The invoicing data: exact counts where the generator fixes them, consistent amounts.
    assert_eq!(demo_sql(port, "SELECT count(*) FROM customers"), "5000");
    assert_eq!(demo_sql(port, "SELECT count(*) FROM products"), "300");
    assert_eq!(demo_sql(port, "SELECT count(*) FROM invoices"), "100000");
    let lines: u64 = demo_sql(port, "SELECT count(*) FROM invoice_lines")
        .parse()
        .unwrap();
    assert!(
        (200_000..=300_000).contains(&lines),
        "{lines} invoice lines"
    );
    let payments: u64 = demo_sql(port, "SELECT count(*) FROM payments")
        .parse()
        .unwrap();
    assert!(payments > 80_000, "{payments} payments");
    let overdue: u64 = demo_sql(port, "SELECT count(*) FROM overdue_invoices")
        .parse()
        .unwrap();
    assert!(overdue > 100, "{overdue} overdue invoices");
    let mismatched = demo_sql(
        port,
        "SELECT count(*) FROM invoices i JOIN (SELECT invoice_id, sum(line_total) s FROM invoice_lines GROUP BY 1) l \
         ON l.invoice_id = i.id WHERE l.s <> i.total_excl",
    );
    assert_eq!(
        mismatched, "0",
        "invoice totals are the sums of their lines"
    );
    let overpaid = demo_sql(
        port,
        "SELECT count(*) FROM invoices i JOIN payments p ON p.invoice_id = i.id \
         WHERE p.paid_on < i.issued_on OR p.paid_on > current_date OR p.amount > i.total_incl",
    );
    assert_eq!(
        overpaid, "0",
        "payments fall between issue date and today and never exceed the invoice"
    );

    // The log the console's log pane shows is clean, and WAL archiving works from the start.
    let log = std::fs::read_to_string(config.log.file.as_ref().unwrap()).unwrap();
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| {
            let l = l.to_lowercase();
            l.contains("error") || l.contains("fatal") || l.contains("refused")
        })
        .collect();
    assert!(bad.is_empty(), "the demo server's log has errors: {bad:?}");
    // One folder per cluster (its system identifier), the segments inside.
    let archived: usize = std::fs::read_dir(dir.join(".pgkeep-demo/wal"))
        .unwrap()
        .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
        .sum();
    assert!(archived >= 1, "no WAL segment archived");

    // A backup through the demo config lands in the demo's own backup dir, mode 0600.
    let cfg = config_path.to_str().unwrap();
    let out = pgkeep_in(&dir, &["--config", cfg, "backup", "--quiet"]);
    assert!(
        out.status.success(),
        "backup failed: {}",
        common::stderr(&out)
    );
    let backups = common::complete_backups(&config.backup_dir);
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert!(backups[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("facturatie_"));
    let mode = std::fs::metadata(&backups[0]).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // `pgkeep logs` prints the demo server's log (the file the console's log pane follows).
    let out = pgkeep_in(&dir, &["--config", cfg, "logs", "-n", "5"]);
    assert!(
        out.status.success(),
        "logs failed: {}",
        common::stderr(&out)
    );
    let text = common::stdout(&out);
    assert_eq!(text.lines().count(), 5, "-n 5 prints 5 lines:\n{text}");
    let log = std::fs::read_to_string(config.log.file.as_ref().unwrap()).unwrap();
    assert!(
        text.lines().all(|l| log.contains(l)),
        "the lines come from the demo's server log:\n{text}"
    );

    // Starting again reuses the running cluster and keeps the data.
    demo_sql(port, "INSERT INTO customers (name, contact, email, street, postcode, city) VALUES ('Marker B.V.', 'M', 'm@x.nl', 'Kade 1', '1000 AA', 'Amsterdam')");
    let out = pgkeep_in(&dir, &["demo", "--no-console"]);
    let text = common::stdout(&out);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        !text.contains("creating") && !text.contains("loading"),
        "{text}"
    );
    assert_eq!(
        demo_sql(
            port,
            "SELECT count(*) FROM customers WHERE name = 'Marker B.V.'"
        ),
        "1"
    );

    // --stop stops the server; the next start brings the same data back.
    let out = pgkeep_in(&dir, &["demo", "--stop"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(common::stdout(&out).contains("stopped"));
    assert!(
        !demo_psql(port, "SELECT 1").status.success(),
        "the server still answers after --stop"
    );
    let out = pgkeep_in(&dir, &["demo", "--no-console"]);
    let text = common::stdout(&out);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        text.contains("starting the demo cluster") && !text.contains("loading"),
        "{text}"
    );
    let port = port_of(&Config::load(Some(&config_path)).unwrap());
    assert_eq!(
        demo_sql(
            port,
            "SELECT count(*) FROM customers WHERE name = 'Marker B.V.'"
        ),
        "1"
    );

    // --reset asks first: refused without a terminal and without --yes, nothing deleted.
    let out = pgkeep_in(&dir, &["demo", "--reset"]);
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(
        err.contains("--yes") && err.trim().lines().count() == 1,
        "{err}"
    );
    assert!(
        demo_psql(port, "SELECT 1").status.success(),
        "a refused reset stopped the server"
    );
    let out = pgkeep_in(&dir, &["demo", "--reset", "--yes"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        !dir.join(".pgkeep-demo").exists(),
        "--reset left the demo folder"
    );
    assert!(
        !demo_psql(port, "SELECT 1").status.success(),
        "the server still answers after --reset"
    );
}

#[test]
fn demo_in_a_folder_the_server_user_cannot_enter_keeps_the_server_files_elsewhere() {
    if !nix::unistd::geteuid().is_root() {
        return; // only root hands the server to another user
    }
    let outer = tempfile::tempdir().unwrap();
    std::fs::set_permissions(outer.path(), std::fs::Permissions::from_mode(0o700)).unwrap(); // like /root
    let dir = outer.path().join("project");
    std::fs::create_dir(&dir).unwrap();
    let _stop = StopOnDrop(dir.clone());
    let out = pgkeep_in(&dir, &["demo", "--no-console"]);
    let text = common::stdout(&out);
    assert!(
        out.status.success(),
        "demo failed: {}{text}",
        common::stderr(&out)
    );
    assert!(text.contains("may not enter"), "{text}");
    let link = std::fs::read_link(dir.join(".pgkeep-demo/server")).unwrap();
    assert!(!link.starts_with(outer.path()), "{}", link.display());
    assert!(link.join("data/PG_VERSION").is_file());
    let config = Config::load(Some(&dir.join(".pgkeep-demo/pgkeep.toml"))).unwrap();
    assert_eq!(
        demo_sql(port_of(&config), "SELECT count(*) FROM invoices"),
        "100000"
    );
    assert!(config.log.file.unwrap().starts_with(&link));
    let out = pgkeep_in(&dir, &["demo", "--reset", "--yes"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(!link.exists(), "--reset left {}", link.display());
    assert!(!dir.join(".pgkeep-demo").exists());
}

#[test]
fn demo_without_server_programs_says_how_to_install_them() {
    let tmp = tempfile::tempdir().unwrap();
    let out = pgkeep_in(
        tmp.path(),
        &["--pg-bin", "/nonexistent/bin", "demo", "--no-console"],
    );
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(err.contains("sudo apt-get install postgresql"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        !tmp.path().join(".pgkeep-demo").exists(),
        "created a demo folder anyway"
    );
}

#[test]
fn example_config_parses_to_the_defaults_and_names_every_option() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/pgkeep.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let parsed = Config::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json = |c: &Config| serde_json::to_value(c).unwrap();
    assert_eq!(
        json(&parsed),
        json(&Config::default()),
        "the example's values are not the defaults"
    );
    for key in [
        "backup_dir",
        "url",
        "pg_bin",
        "compression_level",
        "target",
        "[compose]",
        "file",
        "service",
        "[schedule]",
        "cron",
        "timezone",
        "[retention]",
        "keep_last",
        "keep_daily",
        "keep_weekly",
        "keep_monthly",
        "min_age_hours",
        "pre_restore_days",
        "[verify]",
        "after_backup",
        "every_days",
        "[[offsite]]",
        "kind = \"dir\"",
        "path",
        "kind = \"s3\"",
        "endpoint",
        "region",
        "bucket",
        "prefix",
        "access_key_id",
        "secret_access_key",
        "[alerts]",
        "webhooks",
        "on_success",
        "grace_hours",
        "[log]",
        "buffer_lines",
    ] {
        assert!(
            text.contains(key),
            "the example config does not mention {key}"
        );
    }
}
