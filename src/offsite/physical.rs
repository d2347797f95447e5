//! Offsite copies of the physical recovery units: base backups (with both manifests) and the
//! WAL archive, so the recoverable window survives the loss of the host. Objects are flat
//! names beside the dumps: `<sysid>_<time>.tar.gz` (+ `.json`, `.backup_manifest`) and
//! `wal_<sysid>_<file>`; dump pruning only ever looks at `*.sql.gz`. When the destination
//! has recipients (`encrypt_to`), each of these is stored encrypted instead (see
//! [`super::physical_sealed`]): `<object>.age` with a clear `<object>.age.sha256`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::crypt::Identities;
use super::envelope::sealed_name;
use super::physical_check::plain_companion_name;
use super::physical_prune::{clear_objects_of, WAL_PREFIX};
use super::physical_sealed::{self as ps, companion_name};
use super::store::{local_sha256, Store};
use crate::engine::fsutil;
use crate::engine::physical::base_catalog::{self, BaseBackup, BASE_SUFFIX};
use crate::engine::physical::base_leftovers;
use crate::error::{Error, Result};

/// What a physical push or pull copied.
#[derive(Debug, Clone, Default)]
pub struct Copied {
    /// Base backups copied.
    pub bases: Vec<String>,
    /// WAL files copied.
    pub wal_files: usize,
    /// Clear copies (made before `encrypt_to` was set) replaced by encrypted ones: base
    /// backups and WAL files.
    pub resealed: usize,
    /// Clear copies left with `encrypt_to` set: this host no longer has the file to encrypt
    /// them from.
    pub left_clear: usize,
}

/// Copies every base backup and archived WAL file `store` does not have, each read back and
/// checked against its sha256. With `encrypt_to`, a clear copy made before it was set is
/// copied again encrypted, and the clear one deleted once the encrypted one is complete.
pub async fn push(store: &Store, backup_dir: &Path, wal_dir: &Path) -> Result<Copied> {
    let have: BTreeSet<String> = store.list().await?.into_iter().map(|o| o.name).collect();
    let mut copied = Copied::default();
    // What this host has, to count the clear copies it cannot replace.
    let mut local = BTreeSet::new();
    for b in base_catalog::scan(backup_dir)? {
        local.insert(b.name.clone());
        let clear = have.contains(&b.name);
        let sealed = sealed_copy(&have, &b.name);
        if let Some(rec) = &store.recipients {
            if !sealed {
                // The manifests first, the base backup last: its companion marks it complete.
                for (object, path) in side_manifests(&b) {
                    ps::put_sealed(store, &object, &path, rec, None).await?;
                }
                ps::put_sealed(store, &b.name, &b.path, rec, Some(&b.manifest.sha256)).await?;
                copied.bases.push(b.name.clone());
            }
            if clear {
                delete_present(store, &have, &clear_objects_of(&b.name, true)).await?;
                copied.resealed += 1;
            }
            continue;
        }
        if sealed || (clear && have.contains(&format!("{}.json", b.name))) {
            continue;
        }
        put_checked(store, &b.name, &b.path, Some(&b.manifest.sha256)).await?;
        for (object, path) in side_manifests(&b) {
            if let Ok(bytes) = std::fs::read(&path) {
                store.put_bytes(&object, bytes).await?;
            }
        }
        copied.bases.push(b.name);
    }
    for (sysid, file, path) in wal_files(wal_dir) {
        let name = format!("{WAL_PREFIX}{sysid}_{file}");
        local.insert(name.clone());
        let plain_sum = plain_companion_name(&name);
        let clear = have.contains(&name);
        let sealed = sealed_copy(&have, &name);
        if let Some(rec) = &store.recipients {
            if !sealed {
                ps::put_sealed(store, &name, &path, rec, None).await?;
                copied.wal_files += 1;
            }
            if clear {
                delete_present(store, &have, &clear_objects_of(&name, false)).await?;
                copied.resealed += 1;
            }
            continue;
        }
        if sealed || (clear && have.contains(&plain_sum)) {
            continue;
        }
        if clear {
            // Copied by an older pgkeep, without a checksum file: add it when the copy
            // matches this host's file, copy it again when it does not.
            let local = local_sha256(&path).await?;
            if store.sha256(&name).await? == local {
                put_plain_companion(store, &name, &path, &local).await?;
                continue;
            }
        }
        let sha = put_checked(store, &name, &path, None).await?;
        put_plain_companion(store, &name, &path, &sha).await?;
        copied.wal_files += 1;
    }
    if store.recipients.is_some() {
        copied.left_clear = have
            .iter()
            .filter(|n| n.ends_with(BASE_SUFFIX) || is_wal_object(n))
            .filter(|n| !local.contains(*n))
            .count();
    }
    Ok(copied)
}

/// The manifests beside base backup `b` this host has: (object name, path), pgkeep's
/// `.json` first, then the server's `.backup_manifest`.
fn side_manifests(b: &BaseBackup) -> Vec<(String, PathBuf)> {
    [".json", ".backup_manifest"]
        .iter()
        .map(|side| {
            let object = format!("{}{side}", b.name);
            let path = b.path.with_file_name(&object);
            (object, path)
        })
        .filter(|(_, path)| path.is_file())
        .collect()
}

/// A clear WAL object's name (`wal_<system id>_<file>`, no suffix).
fn is_wal_object(name: &str) -> bool {
    name.strip_prefix(WAL_PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .is_some_and(|(_, file)| !file.contains('.'))
}

/// Deletes those of `names` the listing `have` holds.
async fn delete_present(store: &Store, have: &BTreeSet<String>, names: &[String]) -> Result<()> {
    for n in names.iter().filter(|n| have.contains(*n)) {
        store.delete(n).await?;
    }
    Ok(())
}

/// True when `store` holds the encrypted copy of `name` and its checksum companion. A copy
/// is whole only with both (the companion is written last): one whose object was deleted
/// (damaged, as `offsite check` said) is copied again, and so is a clear one below.
fn sealed_copy(have: &BTreeSet<String>, name: &str) -> bool {
    have.contains(&sealed_name(name)) && have.contains(&companion_name(name))
}

/// Writes the clear checksum companion `<name>.sha256` of a clear WAL object (after the
/// object: its presence means the object is complete and checkable).
async fn put_plain_companion(store: &Store, name: &str, path: &Path, sha: &str) -> Result<()> {
    let bytes = std::fs::metadata(path)
        .map_err(|e| Error::io("reading the size of", e, path))?
        .len();
    let c = ps::Companion {
        stored_sha256: sha.to_string(),
        stored_bytes: bytes,
        plain_sha256: sha.to_string(),
        plain_bytes: bytes,
    };
    let json = serde_json::to_vec_pretty(&c).expect("companion serializes");
    store.put_bytes(&plain_companion_name(name), json).await
}

/// Fetches every base backup and WAL file `store` has and this host lacks (after the loss
/// of the host's disk), each checked against its sha256; encrypted ones are decrypted with
/// `ids` (refused without).
pub async fn pull(
    store: &Store,
    backup_dir: &Path,
    wal_dir: &Path,
    ids: Option<&Identities>,
) -> Result<Copied> {
    let listed: Vec<String> = store.list().await?.into_iter().map(|o| o.name).collect();
    // An encrypted object counts once its companion (written last) is there; it is listed
    // under its plain name, and `sealed` says which plain names are encrypted.
    let sealed: BTreeSet<String> = listed
        .iter()
        .filter_map(|n| n.strip_suffix(".age.sha256"))
        .map(str::to_string)
        .collect();
    let mut objects: Vec<String> = listed
        .iter()
        .filter(|n| !n.ends_with(".age") && !n.ends_with(ps::COMPANION_SUFFIX))
        .cloned()
        .collect();
    objects.extend(sealed.iter().cloned());
    objects.sort();
    objects.dedup();
    let need_ids = || ids.ok_or_else(|| ps::identity_needed(store));
    let mut copied = Copied::default();
    let base_dir = base_catalog::base_dir(backup_dir);
    let bases: Vec<&String> = objects
        .iter()
        .filter(|n| n.ends_with(BASE_SUFFIX) && !n.contains('/'))
        .collect();
    // Held while base/ is written; a killed pull's leftovers go first.
    let held = match bases.is_empty() {
        true => None,
        false => {
            fsutil::ensure_private_dir(&base_dir)?;
            let held = base_leftovers::lock(&base_dir)?;
            base_leftovers::remove_stale(&base_dir, &held);
            Some(held)
        }
    };
    for name in bases {
        let dest = base_dir.join(name);
        if dest.exists() && base_catalog::manifest_path(&dest).exists() {
            continue;
        }
        // A `.tar.gz` without its manifest is not listed: fetch it again.
        let _ = std::fs::remove_file(&dest);
        let ids = sealed.contains(name).then(need_ids).transpose()?;
        if let Err(e) = fetch_base(store, name, &dest, &sealed, ids).await {
            if let Some(held) = &held {
                base_leftovers::remove_stale(&base_dir, held);
            }
            return Err(e);
        }
        copied.bases.push(name.clone());
    }
    for name in objects.iter().filter(|n| n.starts_with(WAL_PREFIX)) {
        let Some((sysid, file)) = name[WAL_PREFIX.len()..].split_once('_') else {
            continue;
        };
        if !sysid.bytes().all(|b| b.is_ascii_digit()) || file.contains('/') {
            continue;
        }
        let dir = wal_dir.join(sysid);
        let dest = dir.join(file);
        if dest.exists() {
            continue;
        }
        ensure_archive_dir(&dir)?;
        if sealed.contains(name) {
            ps::get_sealed_file(store, name, need_ids()?, &dest, None).await?;
        } else {
            let want = store
                .get_bytes(&plain_companion_name(name))
                .await?
                .and_then(|b| serde_json::from_slice::<ps::Companion>(&b).ok())
                .map(|c| c.stored_sha256);
            get_checked(store, name, &dest, want.as_deref()).await?;
        }
        give_to_archive_owner(wal_dir, &dir, &dest);
        copied.wal_files += 1;
    }
    Ok(copied)
}

/// A cluster's archive folder, created when missing. Unlike the backup dir it belongs to the
/// database server's user (the server writes it), so only a real directory (never a symlink)
/// is required; every file is still written exclusively, through a `.partial` and a rename.
fn ensure_archive_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io("creating the WAL archive folder", e, dir))?;
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        _ => Err(Error::BackupDir {
            path: dir.to_path_buf(),
            reason: "it is not a directory (a symlink?)".into(),
        }),
    }
}

/// Fetched WAL must stay readable and comparable by the server that archives (and by a
/// recovering server's restore_command): when pgkeep runs as root, the folder and file go to
/// the owner of the WAL folder, or to user postgres.
fn give_to_archive_owner(wal_dir: &Path, dir: &Path, file: &Path) {
    use std::os::unix::fs::MetadataExt;
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let owner = std::fs::metadata(wal_dir)
        .ok()
        .filter(|m| m.uid() != 0)
        .map(|m| {
            (
                nix::unistd::Uid::from_raw(m.uid()),
                nix::unistd::Gid::from_raw(m.gid()),
            )
        })
        .or_else(|| {
            nix::unistd::User::from_name("postgres")
                .ok()
                .flatten()
                .map(|u| (u.uid, u.gid))
        });
    if let Some((uid, gid)) = owner {
        for p in [wal_dir, dir, file] {
            let _ = nix::unistd::chown(p, Some(uid), Some(gid));
        }
    }
}

/// Fetches one base backup into `dest` (`base/<name>`): its manifests first, the `.tar.gz`
/// last (through a `.partial`, checked against the manifest's sha256), decrypting with `ids`
/// when it is stored encrypted (`sealed` names the encrypted objects).
async fn fetch_base(
    store: &Store,
    name: &str,
    dest: &Path,
    sealed: &BTreeSet<String>,
    ids: Option<&Identities>,
) -> Result<()> {
    let json_name = format!("{name}.json");
    let manifest_bytes = if let Some(ids) = ids {
        Some(ps::get_sealed_bytes(store, &json_name, ids).await?)
    } else {
        store.get_bytes(&json_name).await?
    }
    .ok_or_else(|| Error::Corrupt {
        name: name.to_string(),
        reason: "its manifest is missing offsite".into(),
    })?;
    let manifest: base_catalog::BaseManifest =
        serde_json::from_slice(&manifest_bytes).map_err(|e| Error::Corrupt {
            name: name.to_string(),
            reason: format!("offsite manifest is not valid JSON ({e})"),
        })?;
    // The small files first, the big one last: a wrong key is refused at once, and the
    // base backup is listed only once its `.tar.gz` is whole.
    let bm_name = format!("{name}.backup_manifest");
    let bm = match ids {
        Some(ids) if sealed.contains(&bm_name) => {
            Some(ps::get_sealed_bytes(store, &bm_name, ids).await?)
        }
        Some(_) => None,
        None => store.get_bytes(&bm_name).await?,
    };
    if let Some(bytes) = bm {
        let p = dest.with_file_name(&bm_name);
        fsutil::write_atomic(&p, &bytes)
            .map_err(|e| Error::io("writing backup_manifest", e, &p))?;
    }
    base_catalog::write_manifest(dest, &manifest)?;
    match ids {
        Some(ids) => ps::get_sealed_file(store, name, ids, dest, Some(&manifest.sha256)).await,
        None => get_checked(store, name, dest, Some(&manifest.sha256)).await,
    }
}

/// (system identifier, file name, path) of every finished file in the archive.
fn wal_files(wal_dir: &Path) -> Vec<(String, String, std::path::PathBuf)> {
    let mut out = Vec::new();
    let Ok(clusters) = std::fs::read_dir(wal_dir) else {
        return out;
    };
    for c in clusters.flatten() {
        let sysid = c.file_name().to_string_lossy().into_owned();
        if !sysid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(files) = std::fs::read_dir(c.path()) else {
            continue;
        };
        for f in files.flatten() {
            let file = f.file_name().to_string_lossy().into_owned();
            if file.ends_with(".tmp") || file.ends_with(".partial") || !f.path().is_file() {
                continue;
            }
            out.push((sysid.clone(), file, f.path()));
        }
    }
    out.sort();
    out
}

async fn put_checked(store: &Store, name: &str, path: &Path, want: Option<&str>) -> Result<String> {
    let local = local_sha256(path).await?;
    if let Some(w) = want.filter(|w| *w != local) {
        return Err(Error::Corrupt {
            name: name.to_string(),
            reason: format!(
                "its sha256 {local} differs from the manifest's {w}; not copying it offsite"
            ),
        });
    }
    store.put_file(name, path).await?;
    let remote = store.sha256(name).await?;
    if remote != local {
        let _ = store.delete(name).await;
        return Err(Error::Other(format!(
            "offsite {}: the copy of {name} reads back with sha256 {remote}, expected {local}; the copy was deleted, try again",
            store.label
        )));
    }
    Ok(local)
}

async fn get_checked(store: &Store, name: &str, dest: &Path, want: Option<&str>) -> Result<()> {
    let partial = dest.with_file_name(format!(
        "{}.partial",
        dest.file_name().unwrap_or_default().to_string_lossy()
    ));
    let _ = std::fs::remove_file(&partial);
    let sha = match store.get_file(name, &partial).await {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    if let Some(w) = want.filter(|w| *w != sha) {
        let _ = std::fs::remove_file(&partial);
        return Err(Error::Corrupt {
            name: name.to_string(),
            reason: format!(
                "the offsite copy has sha256 {sha}, its manifest says {w}; nothing was fetched"
            ),
        });
    }
    std::fs::rename(&partial, dest).map_err(|e| Error::io("renaming a fetched file", e, dest))
}
