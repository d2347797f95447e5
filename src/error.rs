//! The engine's error type: every variant renders as one line that says what is wrong and
//! what to do about it. The CLI prints it as is; the console shows it in a dialog.

use std::path::PathBuf;

/// Result alias for the engine, target, schedule and monitor modules.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in pgkeep's UI-free modules.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server could not be reached at all.
    #[error("cannot reach the database server at {target}: {reason} (is it running? check host and port, or run `pgkeep doctor`)")]
    Unreachable {
        /// Where we tried to connect, without secrets.
        target: String,
        /// The underlying reason.
        reason: String,
    },
    /// The server refused our credentials.
    #[error("password authentication failed for user \"{user}\" at {target}: check PGPASSWORD, the URL or ~/.pgpass")]
    Authentication {
        /// Where we tried to connect.
        target: String,
        /// The user name that was refused.
        user: String,
    },
    /// The server asks for a password and none was given.
    #[error("the server at {target} asks for a password for user \"{user}\" and none was given: set PGPASSWORD, add it to ~/.pgpass (or PGPASSFILE), or put it in PGKEEP_URL")]
    NoPassword {
        /// Where we tried to connect.
        target: String,
        /// The user name.
        user: String,
    },
    /// The server's access rules (pg_hba.conf) reject this host, user or database.
    #[error("the server at {target} refused the connection: {reason} (allow this host and user in the server's pg_hba.conf)")]
    AccessDenied {
        /// Where we tried to connect.
        target: String,
        /// The server's message.
        reason: String,
    },
    /// The database does not exist on the server.
    #[error("database \"{0}\" does not exist on the server: check --url / PGDATABASE, or create it with `createdb {0}`")]
    NoSuchDatabase(String),
    /// A PostgreSQL client program could not be started.
    #[error("{tool} not found ({reason}): install it with `sudo apt-get install postgresql-client` or point --pg-bin at its directory")]
    ToolMissing {
        /// The program, e.g. pg_dump.
        tool: String,
        /// Why starting it failed.
        reason: String,
    },
    /// pg_dump is older than the server it must dump.
    #[error("pg_dump {tool_version} cannot dump server {server_version}: install postgresql-client-{server_major} and pass --pg-bin /usr/lib/postgresql/{server_major}/bin")]
    ToolTooOld {
        /// pg_dump's version.
        tool_version: String,
        /// The server's version.
        server_version: String,
        /// The server's major version.
        server_major: u32,
    },
    /// A child program failed.
    #[error("{tool} failed: {message}")]
    ToolFailed {
        /// The program.
        tool: String,
        /// Its last error line(s) or exit status.
        message: String,
    },
    /// The dump stream did not end with pg_dump's completion trailer.
    #[error("the dump is incomplete: it does not end with pg_dump's completion trailer ({0})")]
    Incomplete(String),
    /// The backup directory cannot be used.
    #[error("backup directory {path} is not usable: {reason} ({})", backup_dir_fix(.path, .reason))]
    BackupDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The disk ran out of space.
    #[error("no space left on the device holding {0}: free some space (e.g. `pgkeep prune`) and try again")]
    DiskFull(PathBuf),
    /// Another pgkeep process holds the lock.
    #[error(
        "another backup of \"{database}\" is running (pid {pid}); wait for it to finish or stop it"
    )]
    Locked {
        /// The database being backed up.
        database: String,
        /// The pid written in the lock file.
        pid: String,
    },
    /// The job was cancelled by the user.
    #[error("cancelled; nothing was changed")]
    Cancelled,
    /// A backup file or its manifest is damaged.
    #[error("backup {name} is damaged: {reason}")]
    Corrupt {
        /// The backup's file name.
        name: String,
        /// What check failed.
        reason: String,
    },
    /// A named backup does not exist.
    #[error("no backup named {0}: run `pgkeep list` to see the available backups")]
    NoSuchBackup(String),
    /// The configuration is invalid.
    #[error("configuration error: {0}")]
    Config(String),
    /// The user refused or did not give consent.
    #[error("{0}")]
    Refused(String),
    /// An SQL statement failed.
    #[error("database error: {0}")]
    Sql(String),
    /// A docker or compose operation failed.
    #[error("docker: {0}")]
    Docker(String),
    /// Any other I/O error, with context.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Anything else, already phrased for the user.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Wraps an I/O error with what was being done, mapping ENOSPC to [`Error::DiskFull`].
    pub fn io(context: impl Into<String>, source: std::io::Error, path: &std::path::Path) -> Self {
        if source.raw_os_error() == Some(nix::libc::ENOSPC) {
            return Error::DiskFull(path.to_path_buf());
        }
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// What to do about an unusable backup directory, from what is wrong with it: the same
/// commands `pgkeep doctor` prints for the same problem.
fn backup_dir_fix(path: &std::path::Path, reason: &str) -> String {
    let p = path.display();
    if reason.contains("not a directory") {
        format!("fix: `mv {p} {p}.old && mkdir -m 700 {p}` or choose another --backup-dir")
    } else if reason.contains("read-only") {
        format!("remount the file system holding {p} read-write or choose another --backup-dir")
    } else {
        format!(
            "fix: `{}` or choose another --backup-dir",
            crate::engine::fsutil::backup_dir_ownership_fix(path, "$(id -u)", "$(id -g)")
        )
    }
}

/// Extension to attach context to I/O results.
pub trait IoContext<T> {
    /// Adds what was being done and on which path.
    fn ctx(self, context: impl FnOnce() -> String, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| Error::io(context(), e, path))
    }
}
