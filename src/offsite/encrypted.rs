//! Push and pull of encrypted copies: every file of the backup (dump, sidecars, manifest) is
//! stored as `<file>.age`, each read back and checked against the sha256 of what was stored;
//! the clear envelope is written last. A pull decrypts while streaming into `.partial` files,
//! checks both digests of each file, and only then renames them (the dump last).

use std::path::{Path, PathBuf};

use chrono::Utc;

use super::crypt::{Identities, Recipients};
use super::envelope::{envelope_name, sealed_name, Envelope, SealedFile, ENVELOPE_VERSION};
use super::Store;
use crate::engine::catalog::BackupEntry;
use crate::engine::manifest::Manifest;
use crate::error::{Error, Result};

/// Encrypts every file of `entry` to `recipients` into `store`; `files` are the local files
/// of the backup with the dump first. `dump_sha` is the dump's checked sha256.
pub async fn push_sealed(
    store: &Store,
    entry: &BackupEntry,
    files: &[PathBuf],
    recipients: &Recipients,
    dump_sha: &str,
) -> Result<()> {
    let mut sealed = Vec::new();
    let result = push_files(store, files, recipients, &mut sealed).await;
    let result = result.and_then(|()| {
        if sealed.first().map(|f| f.plain_sha256.as_str()) == Some(dump_sha) {
            Ok(())
        } else {
            Err(Error::Other(format!(
                "{} changed while it was copied offsite; the copy was deleted, try again",
                entry.name
            )))
        }
    });
    let result = match result {
        Ok(()) => {
            let env = Envelope {
                format_version: ENVELOPE_VERSION,
                backup: entry.name.clone(),
                started_at: entry.manifest.as_ref().map(|m| m.started_at),
                pushed_at: Utc::now(),
                encrypted_to: recipients.text.clone(),
                files: sealed.clone(),
            };
            let json = serde_json::to_vec_pretty(&env).expect("envelope serializes");
            store.put_bytes(&envelope_name(&entry.name), json).await
        }
        Err(e) => Err(e),
    };
    if result.is_err() {
        for f in &sealed {
            let _ = store.delete(&f.object).await;
        }
    }
    result
}

async fn push_files(
    store: &Store,
    files: &[PathBuf],
    recipients: &Recipients,
    sealed: &mut Vec<SealedFile>,
) -> Result<()> {
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let object = sealed_name(&name);
        let file = std::fs::File::open(path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e, path))?;
        let d = store.put_encrypted(&object, file, recipients).await?;
        sealed.push(SealedFile {
            name: name.clone(),
            object: object.clone(),
            stored_sha256: d.stored.sha256.clone(),
            stored_bytes: d.stored.bytes,
            plain_sha256: d.plain.sha256,
            plain_bytes: d.plain.bytes,
        });
        let back = store.sha256(&object).await?;
        if back != d.stored.sha256 {
            return Err(Error::Other(format!(
                "offsite {}: the copy of {name} reads back with sha256 {back}, expected {}; the copy was deleted, try again",
                store.label, d.stored.sha256
            )));
        }
    }
    Ok(())
}

/// Reads and checks the envelope of `backup` in `store`; None when the copy there is plain.
pub async fn envelope(store: &Store, backup: &str) -> Result<Option<Envelope>> {
    match store.get_bytes(&envelope_name(backup)).await? {
        Some(b) => Envelope::parse(&b, backup, &store.label).map(Some),
        None => Ok(None),
    }
}

/// The message for an encrypted copy and no identity.
pub fn identity_needed(backup: &str, store: &Store) -> Error {
    Error::Refused(format!(
        "the copy of {backup} in offsite {} is encrypted: give --identity FILE (or set PGKEEP_AGE_IDENTITY) with the age identity of one of its recipients",
        store.label
    ))
}

/// Decrypts every file of the copy into `backup_dir` (see the module doc); returns the dump's
/// path and plaintext sha256.
pub async fn pull_sealed(
    store: &Store,
    env: &Envelope,
    ids: &Identities,
    backup_dir: &Path,
) -> Result<(PathBuf, String)> {
    let manifest_file = Manifest::path_for(Path::new(&env.backup));
    let mut have_already: Vec<&str> = Vec::new();
    for f in &env.files {
        let dest = backup_dir.join(&f.name);
        if dest.exists() {
            // A sidecar (the globals file) still here with the very content of the copy is
            // kept; the dump, its manifest or anything different is never overwritten.
            let is_sidecar = f.name != env.backup
                && Some(std::ffi::OsStr::new(&f.name)) != manifest_file.file_name();
            if is_sidecar
                && super::store::local_sha256(&dest).await.ok().as_deref()
                    == Some(f.plain_sha256.as_str())
            {
                have_already.push(&f.name);
                continue;
            }
            return Err(Error::Refused(format!(
                "{} already exists here; nothing was fetched",
                dest.display()
            )));
        }
    }
    let mut partials: Vec<(PathBuf, PathBuf)> = Vec::new();
    // The manifest (small, last in the envelope) first, so a wrong key is refused at once.
    let result = async {
        for f in env.files.iter().rev() {
            if have_already.contains(&f.name.as_str()) {
                continue;
            }
            let dest = backup_dir.join(&f.name);
            let partial = backup_dir.join(format!("{}.partial", f.name));
            let _ = std::fs::remove_file(&partial);
            partials.push((partial.clone(), dest));
            let d = store.get_decrypted_file(&f.object, ids, &partial).await?;
            if d.stored.sha256 != f.stored_sha256 {
                return Err(damaged(
                    env,
                    store,
                    &f.name,
                    "stored bytes",
                    &d.stored.sha256,
                    &f.stored_sha256,
                ));
            }
            if d.plain.sha256 != f.plain_sha256 {
                return Err(damaged(
                    env,
                    store,
                    &f.name,
                    "plaintext",
                    &d.plain.sha256,
                    &f.plain_sha256,
                ));
            }
        }
        let manifest_name = Manifest::path_for(Path::new(&env.backup));
        if let Some((p, _)) = partials
            .iter()
            .find(|(_, d)| d.file_name() == manifest_name.file_name())
        {
            let m: Manifest = serde_json::from_slice(&std::fs::read(p).unwrap_or_default())
                .map_err(|e| Error::Corrupt {
                    name: env.backup.clone(),
                    reason: format!("its manifest does not parse after decrypting ({e})"),
                })?;
            if m.sha256 != env.dump().plain_sha256 {
                return Err(damaged(
                    env,
                    store,
                    &env.backup,
                    "manifest's",
                    &env.dump().plain_sha256,
                    &m.sha256,
                ));
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        for (p, _) in &partials {
            let _ = std::fs::remove_file(p);
        }
        return Err(e);
    }
    // The dump was decrypted last, so it is renamed last: it appears only when all is there.
    for (partial, dest) in &partials {
        if let Err(e) = std::fs::rename(partial, dest) {
            for (p, _) in &partials {
                let _ = std::fs::remove_file(p);
            }
            return Err(Error::io("renaming a fetched file", e, dest));
        }
    }
    let _ = crate::engine::fsutil::fsync_dir(backup_dir);
    Ok((
        backup_dir.join(&env.backup),
        env.dump().plain_sha256.clone(),
    ))
}

fn damaged(env: &Envelope, store: &Store, file: &str, what: &str, got: &str, want: &str) -> Error {
    Error::Corrupt {
        name: env.backup.clone(),
        reason: format!(
            "{file} from offsite {}: the {what} sha256 is {got}, the envelope says {want}; nothing was fetched",
            store.label
        ),
    }
}
