//! Writing and reading a backup's globals file (`<name>.sql.gz.globals.sql`): rendered when the
//! backup starts, written like the dump when it commits (0600, `.partial`, fsync, rename), so
//! an interrupted backup leaves only the dump's `.partial`; checked against the manifest's
//! sha256 when read.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::engine::catalog::{self, BackupEntry};
use crate::engine::fsutil;
use crate::engine::globals::Globals;
use crate::engine::globals_sql;
use crate::engine::localcrypt;
use crate::engine::manifest::GlobalsEntry;
use crate::error::{Error, IoContext, Result};
use crate::offsite::crypt::Recipients;

/// A rendered globals file, waiting for the backup to commit.
#[derive(Debug)]
pub struct PendingGlobals {
    /// Its content as stored (encrypted when the backup is).
    data: Vec<u8>,
    /// The `.partial` file it is written as.
    pub partial: PathBuf,
    /// Where it goes when the backup commits.
    pub path: PathBuf,
    /// What the manifest says about it.
    pub entry: GlobalsEntry,
}

impl PendingGlobals {
    /// Writes the file (`.partial`, 0600, fsync) and renames it into place (the caller fsyncs
    /// the directory).
    pub fn commit(&self) -> Result<()> {
        let _ = std::fs::remove_file(&self.partial);
        let write = || -> std::io::Result<()> {
            let mut f = fsutil::create_private(&self.partial)?;
            f.write_all(&self.data)?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&self.partial);
            return Err(Error::io(
                format!("writing {}", self.partial.display()),
                e,
                &self.partial,
            ));
        }
        std::fs::rename(&self.partial, &self.path).ctx(
            || format!("renaming {}", self.partial.display()),
            &self.path,
        )
    }

    /// Removes whatever exists of it.
    pub fn discard(&self) {
        let _ = std::fs::remove_file(&self.partial);
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Renders the globals file of backup `backup_name` in `dir` (written by
/// [`PendingGlobals::commit`]), encrypted to `recipients` when given (it holds password
/// verifiers).
pub fn prepare(
    dir: &Path,
    backup_name: &str,
    g: &Globals,
    recipients: Option<&Recipients>,
) -> Result<PendingGlobals> {
    let name = catalog::globals_name(backup_name);
    let path = dir.join(&name);
    let partial = dir.join(format!("{name}.partial"));
    let text = globals_sql::render(g, backup_name, &name);
    let data = match recipients {
        Some(r) => localcrypt::encrypt_bytes(text.as_bytes(), r)
            .map_err(|e| Error::Other(format!("encrypting the globals file {name}: {e}")))?,
        None => text.clone().into_bytes(),
    };
    Ok(PendingGlobals {
        partial,
        path,
        entry: GlobalsEntry {
            file: name,
            sha256: hex::encode(Sha256::digest(&data)),
            bytes: data.len() as u64,
            plain_sha256: recipients.map(|_| hex::encode(Sha256::digest(text.as_bytes()))),
            status: if g.partial.is_some() {
                "partial"
            } else {
                "complete"
            }
            .into(),
            reason: g.partial.clone(),
        },
        data,
    })
}

/// The manifest entry of a backup whose globals could not be captured at all.
pub fn failed_entry(reason: &str) -> GlobalsEntry {
    GlobalsEntry {
        file: String::new(),
        sha256: String::new(),
        bytes: 0,
        status: "failed".into(),
        reason: Some(reason.lines().next().unwrap_or("").to_string()),
        plain_sha256: None,
    }
}

/// The globals of `backup`, checked against its manifest: Ok(None) for a backup without
/// globals (made before pgkeep captured them, or the capture failed); an error when the file
/// is missing or does not match.
pub fn read(backup: &BackupEntry) -> Result<Option<Globals>> {
    let Some(entry) = backup.manifest.as_ref().and_then(|m| m.globals.as_ref()) else {
        return Ok(None);
    };
    if entry.file.is_empty() {
        return Ok(None);
    }
    let path = backup.path.with_file_name(&entry.file);
    let bytes = std::fs::read(&path).map_err(|e| Error::Corrupt {
        name: backup.name.clone(),
        reason: format!(
            "its globals file {} cannot be read ({e}); copy it back beside the dump (e.g. `pgkeep offsite pull`)",
            entry.file
        ),
    })?;
    let sha = hex::encode(Sha256::digest(&bytes));
    if sha != entry.sha256 {
        return Err(Error::Corrupt {
            name: backup.name.clone(),
            reason: format!(
                "its globals file {} has sha256 {sha}, the manifest says {}",
                entry.file, entry.sha256
            ),
        });
    }
    let bytes = if localcrypt::is_encrypted(&backup.name) {
        let plain = localcrypt::decrypt_bytes(&bytes, &entry.file)?;
        let sha = hex::encode(Sha256::digest(&plain));
        if entry.plain_sha256.as_ref().is_some_and(|p| *p != sha) {
            return Err(Error::Corrupt {
                name: backup.name.clone(),
                reason: format!(
                    "its globals file {} decrypts to sha256 {sha}, the manifest says {}",
                    entry.file,
                    entry.plain_sha256.as_deref().unwrap_or("")
                ),
            });
        }
        plain
    } else {
        bytes
    };
    let text = String::from_utf8_lossy(&bytes);
    globals_sql::parse(&text, &entry.file).map(Some)
}
