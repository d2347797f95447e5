//! Settings, layered: command-line flags > `PGKEEP_*` environment variables > `pgkeep.toml` >
//! defaults. Flags and environment variables are read by clap (see `cli`); this module reads
//! the file and fills in defaults. Every option is documented in `assets/pgkeep.example.toml`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default gzip level, chosen by measurement (`LEVELS="1 3 6" scripts/bench-backup.sh`,
/// pgbench scale 50 = 755 MB database, 2 shared cores, against `pg_dump | gzip -6`, two runs):
/// level 1: time ratio 0.43, size ratio 1.64 (too big); level 3: time 0.57-0.82, size 1.02;
/// level 6: time 0.62-0.77, size 1.02; peak RSS 12 MB at every level. Levels 3 and 6 cost
/// the same within noise (zlib-rs on its own thread keeps up with pg_dump), and 6 is gzip's
/// own default, so the files are never bigger than the old script's for any data.
pub const DEFAULT_COMPRESSION_LEVEL: u32 = 6;

/// Name of the config file looked up in the current directory.
pub const CONFIG_FILE_NAME: &str = "pgkeep.toml";

/// Which kind of target to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// Compose when a compose file is found in the project folder, no URL is configured and
    /// none of PGHOST, PGPORT, PGDATABASE, PGSERVICE is set; else direct.
    #[default]
    Auto,
    /// Connect directly (URL or PG* environment), run pg_dump/psql on this host.
    Direct,
    /// Run pg_dump/psql inside the compose service's container.
    Compose,
}

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where backups are written (`./db_backups`).
    pub backup_dir: PathBuf,
    /// Connection URL (`postgresql://user:pass@host:port/db`); otherwise the PG* variables.
    pub url: Option<String>,
    /// Directory holding pg_dump and psql; otherwise they are taken from PATH.
    pub pg_bin: Option<PathBuf>,
    /// gzip level 0-9.
    pub compression_level: u32,
    /// Seconds a backup may wait for a table lock before it fails naming the session that
    /// holds it; 0 waits as long as it takes (progress says what it waits for).
    pub lock_wait_timeout: u64,
    /// age recipients (public keys, `age1...`) the local backups are encrypted to; empty:
    /// local backups are plain gzip. Offsite destinations have their own `encrypt_to`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub encrypt_to: Vec<String>,
    /// Which target to use.
    pub target: TargetKind,
    /// Compose target settings.
    pub compose: ComposeConfig,
    /// Backup schedule.
    pub schedule: ScheduleConfig,
    /// Rotation of old backups.
    pub retention: RetentionConfig,
    /// Test restores.
    pub verify: VerifyConfig,
    /// Offsite copies.
    pub offsite: Vec<OffsiteConfig>,
    /// Alerts.
    pub alerts: AlertsConfig,
    /// Log pane settings.
    pub log: LogConfig,
    /// The console's keys: action = "key" (see `console::keymap`).
    pub keys: std::collections::BTreeMap<String, String>,
    /// Where the server archives WAL segments, as pgkeep sees it; default `<backup_dir>/wal`.
    pub wal_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            backup_dir: PathBuf::from("db_backups"),
            url: None,
            pg_bin: None,
            compression_level: DEFAULT_COMPRESSION_LEVEL,
            lock_wait_timeout: 0,
            encrypt_to: Vec::new(),
            target: TargetKind::Auto,
            compose: ComposeConfig::default(),
            schedule: ScheduleConfig::default(),
            retention: RetentionConfig::default(),
            verify: VerifyConfig::default(),
            offsite: Vec::new(),
            alerts: AlertsConfig::default(),
            log: LogConfig::default(),
            keys: Default::default(),
            wal_dir: None,
        }
    }
}

/// Compose target settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComposeConfig {
    /// The compose file; default: `docker-compose.yml` / `compose.yaml` in the project folder.
    pub file: Option<PathBuf>,
    /// The database service's name.
    pub service: String,
}

impl Default for ComposeConfig {
    fn default() -> Self {
        ComposeConfig {
            file: None,
            service: "db".into(),
        }
    }
}

/// Backup schedule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Five-field cron expression.
    pub cron: String,
    /// IANA time zone the expression is meant in; default: the system's.
    pub timezone: Option<String>,
    /// Five-field cron expression of the scheduled base backup (`pgkeep basebackup
    /// --scheduled`), in the same zone; `""` disables it.
    pub basebackup: String,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            cron: "0 2 * * *".into(),
            timezone: None,
            basebackup: "0 3 * * 0".into(),
        }
    }
}

/// Rotation policy, in the manner of restic/borg `forget`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Keep the newest N backups.
    pub keep_last: u32,
    /// Keep the newest backup of each of the last N days.
    pub keep_daily: u32,
    /// Keep the newest backup of each of the last N ISO weeks.
    pub keep_weekly: u32,
    /// Keep the newest backup of each of the last N months.
    pub keep_monthly: u32,
    /// Never delete backups younger than this many hours.
    pub min_age_hours: u32,
    /// Keep `pre-restore` safety backups for this many days.
    pub pre_restore_days: u32,
    /// Keep the newest N base backups per cluster (at least 1) and the WAL they need.
    pub keep_base: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            keep_last: 7,
            keep_daily: 14,
            keep_weekly: 8,
            keep_monthly: 12,
            min_age_hours: 24,
            pre_restore_days: 30,
            keep_base: 2,
        }
    }
}

/// Test-restore policy.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct VerifyConfig {
    /// Verify every backup right after it is taken.
    pub after_backup: bool,
    /// Otherwise verify the newest backup when the last verification is older than N days (0: never).
    pub every_days: u32,
}

/// One offsite destination.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum OffsiteConfig {
    /// A mounted directory (NAS, USB disk).
    Dir {
        /// Its path.
        path: PathBuf,
        /// age recipients (`age1...` public keys): when set, everything stored there is
        /// encrypted to them.
        #[serde(default)]
        encrypt_to: Vec<String>,
    },
    /// S3-compatible object storage.
    S3 {
        /// Endpoint URL; empty for AWS.
        endpoint: Option<String>,
        /// Region.
        region: Option<String>,
        /// Bucket name.
        bucket: String,
        /// Key prefix.
        #[serde(default)]
        prefix: String,
        /// Access key id (else AWS_ACCESS_KEY_ID).
        access_key_id: Option<String>,
        /// Secret key (else AWS_SECRET_ACCESS_KEY); never printed.
        secret_access_key: Option<String>,
        /// age recipients (`age1...` public keys): when set, everything stored there is
        /// encrypted to them.
        #[serde(default)]
        encrypt_to: Vec<String>,
    },
}

impl OffsiteConfig {
    /// The age recipients copies to this destination are encrypted to (empty: plain).
    pub fn encrypt_to(&self) -> &[String] {
        match self {
            OffsiteConfig::Dir { encrypt_to, .. } | OffsiteConfig::S3 { encrypt_to, .. } => {
                encrypt_to
            }
        }
    }
}

/// Alerts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Webhook URLs called with a JSON body.
    pub webhooks: Vec<String>,
    /// Also call them on success.
    pub on_success: bool,
    /// Hours beyond the schedule's interval before the last backup counts as overdue.
    pub grace_hours: u32,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            webhooks: Vec::new(),
            on_success: false,
            grace_hours: 2,
        }
    }
}

/// Log pane settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// The server's log file, for the direct target.
    pub file: Option<PathBuf>,
    /// Lines kept in the log pane.
    pub buffer_lines: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            file: None,
            buffer_lines: 10_000,
        }
    }
}

impl Config {
    /// `lock_wait_timeout` as a limit: None (wait as long as it takes) when 0.
    pub fn lock_wait(&self) -> Option<std::time::Duration> {
        Some(self.lock_wait_timeout)
            .filter(|s| *s > 0)
            .map(std::time::Duration::from_secs)
    }

    /// The recipients local backups are encrypted to (top-level `encrypt_to`); None: plain.
    pub fn local_recipients(&self) -> Result<Option<crate::offsite::crypt::Recipients>> {
        crate::offsite::crypt::Recipients::parse(&self.encrypt_to, "top level")
    }

    /// The WAL archive folder: `wal_dir` when set, else `<backup_dir>/wal`.
    pub fn wal_dir(&self) -> PathBuf {
        self.wal_dir
            .clone()
            .unwrap_or_else(|| self.backup_dir.join("wal"))
    }

    /// Reads `path` (or `./pgkeep.toml` when `path` is None and it exists); defaults otherwise.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(CONFIG_FILE_NAME), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                Config::parse(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok(Config::default())
            }
            Err(e) => Err(Error::Config(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// Parses TOML text into a config, checking values.
    pub fn parse(text: &str) -> std::result::Result<Config, String> {
        let cfg: Config = toml::from_str(text).map_err(|e| toml_error_line(text, &e))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks value ranges.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.compression_level > 9 {
            return Err(format!(
                "compression_level {} is out of range: use 0 (none) to 9 (smallest)",
                self.compression_level
            ));
        }
        self.local_recipients().map_err(|e| match e {
            Error::Config(m) => m,
            e => e.to_string(),
        })?;
        Ok(())
    }
}

/// A TOML error as one line: "line 3, column 5: unknown field `foo`, expected …" (toml's
/// own text draws a caret diagram over several lines).
fn toml_error_line(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {msg}")
        }
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_when_empty() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.backup_dir, PathBuf::from("db_backups"));
        assert_eq!(c.schedule.cron, "0 2 * * *");
        assert_eq!(c.compression_level, DEFAULT_COMPRESSION_LEVEL);
    }

    #[test]
    fn unknown_key_is_an_error() {
        let e = Config::parse("compresion_level = 3").unwrap_err();
        assert!(e.contains("compresion_level"), "{e}");
    }

    #[test]
    fn lock_wait_timeout_is_read() {
        assert_eq!(Config::parse("").unwrap().lock_wait_timeout, 0);
        assert_eq!(
            Config::parse("lock_wait_timeout = 30")
                .unwrap()
                .lock_wait_timeout,
            30
        );
    }

    #[test]
    fn bad_level_is_an_error() {
        assert!(Config::parse("compression_level = 12").is_err());
    }

    #[test]
    fn offsite_targets_parse() {
        let c = Config::parse(
            "[[offsite]]\nkind = \"dir\"\npath = \"/mnt/nas\"\n[[offsite]]\nkind = \"s3\"\nbucket = \"b\"\n",
        )
        .unwrap();
        assert_eq!(c.offsite.len(), 2);
    }
}
