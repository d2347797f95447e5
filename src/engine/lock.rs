//! A per-database lock file in the backup directory. Held with `flock`, so the kernel drops it
//! when the holder dies (even by SIGKILL) and the next run takes it over; the holder's pid is
//! written inside for the message a second run prints.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, IoContext, Result};

/// A held lock; released on drop.
#[derive(Debug)]
pub struct DbLock {
    _file: Flock<File>,
    path: PathBuf,
}

impl DbLock {
    /// Path of the lock file for `database` in `dir`.
    pub fn path(dir: &Path, database: &str) -> PathBuf {
        dir.join(format!(".{database}.lock"))
    }

    /// Takes the lock or fails at once with [`Error::Locked`] naming the holder's pid.
    pub fn acquire(dir: &Path, database: &str) -> Result<DbLock> {
        let path = DbLock::path(dir, database);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .ctx(|| format!("opening lock file {}", path.display()), &path)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut locked) => {
                locked.set_len(0).ctx(|| "truncating lock file".into(), &path)?;
                locked.rewind().ctx(|| "writing lock file".into(), &path)?;
                write!(locked, "{}", std::process::id()).ctx(|| "writing lock file".into(), &path)?;
                Ok(DbLock { _file: locked, path })
            }
            Err((mut file, _)) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                Err(Error::Locked {
                    database: database.to_string(),
                    pid: if pid.trim().is_empty() { "unknown".into() } else { pid.trim().to_string() },
                })
            }
        }
    }

    /// The lock file's path.
    pub fn file(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_names_the_holder_and_drop_releases() {
        let d = tempfile::tempdir().unwrap();
        let l = DbLock::acquire(d.path(), "shop").unwrap();
        match DbLock::acquire(d.path(), "shop") {
            Err(Error::Locked { pid, .. }) => assert_eq!(pid, std::process::id().to_string()),
            other => panic!("expected Locked, got {other:?}"),
        }
        assert!(DbLock::acquire(d.path(), "other").is_ok());
        drop(l);
        assert!(DbLock::acquire(d.path(), "shop").is_ok());
    }
}
