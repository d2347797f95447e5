//! Offsite copies: every finished backup, its globals file and its manifest are copied to the configured
//! destinations (`[[offsite]]`: a directory or S3-compatible storage), read back and checked
//! against the sha256; retention applies there too; backups can be fetched back. A
//! destination with `encrypt_to` gets every file encrypted with age (see [`encrypted`]).

pub mod check;
pub mod crypt;
pub mod encrypted;
pub mod envelope;
pub mod physical;
pub mod physical_check;
pub mod physical_prune;
pub mod physical_sealed;
pub mod sealed;
pub mod store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::config::{Config, RetentionConfig};
use crate::engine::catalog::{self, BackupEntry, BackupStatus};
use crate::engine::localcrypt;
use crate::engine::manifest::Manifest;
use crate::engine::retention;
use crate::error::{Error, Result};
pub use crypt::Identities;
pub use envelope::backup_of_object;
pub use store::{local_sha256, RemoteObject, Store};

/// The manifest's object name for a backup name.
pub fn manifest_name(name: &str) -> String {
    format!("{name}.json")
}

/// Opens every configured destination.
pub fn open_all(config: &Config) -> Result<Vec<Store>> {
    config.offsite.iter().map(Store::open).collect()
}

/// Copies `entry` (and its manifest) to `store`, reads it back and checks the sha256.
/// The local file is checked against its manifest first, so a damaged file is never copied.
pub async fn push(store: &Store, entry: &BackupEntry) -> Result<String> {
    if !entry.status.is_restorable() {
        return Err(Error::Other(format!(
            "{} is {}: not copying it offsite",
            entry.name,
            entry.status.label()
        )));
    }
    let local = local_sha256(&entry.path).await?;
    if let Some(m) = &entry.manifest {
        if m.sha256 != local {
            return Err(Error::Corrupt {
                name: entry.name.clone(),
                reason: format!(
                    "its sha256 {local} differs from the manifest's {}; not copying it offsite",
                    m.sha256
                ),
            });
        }
    }
    let files = unit_files(entry);
    if let Some(recipients) = &store.recipients {
        encrypted::push_sealed(store, entry, &files, recipients, &local).await?;
        return Ok(local);
    }
    store.put_file(&entry.name, &entry.path).await?;
    let remote = store.sha256(&entry.name).await?;
    if remote != local {
        let _ = store.delete(&entry.name).await;
        return Err(Error::Other(format!(
            "offsite {}: the copy of {} reads back with sha256 {remote}, expected {local}; the copy was deleted, try again",
            store.label, entry.name
        )));
    }
    for sidecar in files.iter().skip(1).filter(|p| !is_manifest(p, entry)) {
        let name = file_name(sidecar);
        store.put_file(&name, sidecar).await?;
    }
    let manifest_path = Manifest::path_for(&entry.path);
    if manifest_path.exists() {
        let bytes = std::fs::read(&manifest_path)
            .map_err(|e| Error::io("reading the manifest", e, &manifest_path))?;
        store.put_bytes(&manifest_name(&entry.name), bytes).await?;
    }
    Ok(local)
}

/// Every local file of a backup, the dump first and the manifest last: the dump, its
/// sidecars (`<name>.<suffix>`, e.g. cluster globals) and the manifest when there is one.
pub fn unit_files(entry: &BackupEntry) -> Vec<PathBuf> {
    let mut files = vec![entry.path.clone()];
    let dir = entry.path.parent().unwrap_or(Path::new("."));
    let prefix = format!("{}.", entry.name);
    let mut sidecars: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.starts_with(&prefix)
                        && !n.ends_with(".partial")
                        && !n.ends_with(".json")
                        && !n.ends_with(".lock")
                })
                .map(|n| dir.join(n))
                .collect()
        })
        .unwrap_or_default();
    sidecars.sort();
    files.extend(sidecars);
    let manifest = Manifest::path_for(&entry.path);
    if manifest.is_file() {
        files.push(manifest);
    }
    files
}

fn is_manifest(p: &Path, entry: &BackupEntry) -> bool {
    p == Manifest::path_for(&entry.path)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The complete backups in a store's listing, with the size of their dump as stored.
pub fn remote_backups(objects: &[RemoteObject]) -> Vec<RemoteObject> {
    let names: std::collections::HashSet<&str> = objects.iter().map(|o| o.name.as_str()).collect();
    // `<b>.sql.gz.age` beside `<b>.sql.gz.envelope.json` is the sealed dump of `<b>.sql.gz`.
    let sealed_dump = |n: &str| {
        n.strip_suffix(envelope::SEALED_SUFFIX)
            .is_some_and(|b| names.contains(envelope::envelope_name(b).as_str()))
    };
    objects
        .iter()
        .filter(|o| !sealed_dump(&o.name))
        .filter_map(|o| {
            let name = backup_of_object(&o.name)?;
            let size = if name == o.name {
                o.size
            } else {
                let sealed = envelope::sealed_name(name);
                objects.iter().find(|x| x.name == sealed).map(|x| x.size)?
            };
            Some(RemoteObject {
                name: name.to_string(),
                size,
            })
        })
        .collect()
}

/// What [`push_missing`] did.
#[derive(Debug, Clone, Default)]
pub struct Pushed {
    /// Backups copied.
    pub copied: Vec<String>,
    /// Backups whose clear copy (made before `encrypt_to` was set) was replaced by an
    /// encrypted one.
    pub resealed: Vec<String>,
    /// Clear copies left with `encrypt_to` set: this host no longer has the backup to
    /// encrypt them from.
    pub left_clear: Vec<String>,
}

/// Pushes every finished local backup `store` does not have yet, or has without the
/// manifest this one has (a push killed between the two; an encrypted copy is complete once
/// its envelope, written last, is there); with `encrypt_to`, a clear copy made before it was
/// set is copied again encrypted and deleted once the encrypted one is complete. Staging
/// files of uploads a killed push abandoned are removed first.
pub async fn push_missing(store: &Store, entries: &[BackupEntry]) -> Result<Pushed> {
    store.remove_abandoned_uploads();
    let objects = store.list().await?;
    let raw: Vec<&str> = objects.iter().map(|o| o.name.as_str()).collect();
    let have: Vec<String> = remote_backups(&objects)
        .into_iter()
        .map(|o| o.name)
        .collect();
    let sealed_there = |e: &BackupEntry| raw.contains(&envelope::envelope_name(&e.name).as_str());
    let complete_there = |e: &BackupEntry| {
        have.contains(&e.name)
            && (e.manifest.is_none()
                || raw.contains(&manifest_name(&e.name).as_str())
                || sealed_there(e))
    };
    let mut done = Pushed::default();
    for e in entries.iter().filter(|e| e.status.is_restorable()) {
        let clear_there = raw.contains(&e.name.as_str()) && !localcrypt::is_encrypted(&e.name);
        if store.recipients.is_some() && clear_there {
            if !sealed_there(e) {
                push(store, e).await?;
                done.copied.push(e.name.clone());
            }
            for object in clear_objects(&raw, &e.name) {
                store.delete(object).await?;
            }
            done.resealed.push(e.name.clone());
            continue;
        }
        if !complete_there(e) {
            push(store, e).await?;
            done.copied.push(e.name.clone());
        }
    }
    if store.recipients.is_some() {
        done.left_clear = have
            .iter()
            .filter(|n| raw.contains(&n.as_str()) && !localcrypt::is_encrypted(n))
            .filter(|n| !entries.iter().any(|e| &e.name == *n))
            .cloned()
            .collect();
    }
    Ok(done)
}

/// The clear objects of backup `name` in a listing: the dump, its sidecars and manifest,
/// not the encrypted ones (`.age`) or the envelope.
fn clear_objects<'a>(raw: &[&'a str], name: &str) -> Vec<&'a str> {
    let prefix = format!("{name}.");
    let envelope = envelope::envelope_name(name);
    raw.iter()
        .copied()
        .filter(|n| *n == name || n.starts_with(&prefix))
        .filter(|n| !n.ends_with(envelope::SEALED_SUFFIX) && *n != envelope)
        .collect()
}

/// A fetched backup.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// Where it now is.
    pub path: PathBuf,
    /// Its sha256.
    pub sha256: String,
    /// Whether an offsite manifest vouched for that sha256 (false: there was none).
    pub checked: bool,
    /// Whether the copy was encrypted (and was decrypted on the way).
    pub decrypted: bool,
}

/// Fetches backup `name` from `store` into `backup_dir` (as `.partial`, checked against the
/// offsite manifest's sha256, then renamed); refuses to overwrite a local backup. An
/// encrypted copy needs `ids` and is decrypted while streaming.
pub async fn pull(
    store: &Store,
    name: &str,
    backup_dir: &Path,
    ids: Option<&Identities>,
) -> Result<Pulled> {
    if !catalog::is_backup_name(name) || name.contains('/') {
        return Err(Error::NoSuchBackup(format!("{name} (give a file name like facturatie_2026-11-24T02-00-00Z.sql.gz, see `pgkeep offsite list`)")));
    }
    crate::engine::fsutil::ensure_private_dir(backup_dir)?;
    let dest = backup_dir.join(name);
    if dest.exists() {
        return Err(Error::Refused(format!(
            "{} already exists here; nothing was fetched",
            dest.display()
        )));
    }
    if let Some(env) = encrypted::envelope(store, name).await? {
        let ids = ids.ok_or_else(|| encrypted::identity_needed(name, store))?;
        let (path, sha256) = encrypted::pull_sealed(store, &env, ids, backup_dir).await?;
        return Ok(Pulled {
            path,
            sha256,
            checked: true,
            decrypted: true,
        });
    }
    let manifest: Option<Manifest> = match store.get_bytes(&manifest_name(name)).await? {
        Some(b) => Some(serde_json::from_slice(&b).map_err(|e| Error::Corrupt {
            name: manifest_name(name),
            reason: format!("offsite manifest is not valid JSON ({e})"),
        })?),
        None => None,
    };
    // Held while the `.partial` exists, so no other command takes it for a killed run's.
    let _pulling = match catalog::parse_name(name) {
        Some((db, _)) => Some(crate::engine::lock::DbLock::acquire(
            backup_dir,
            &crate::engine::leftovers::pull_lock_name(&db),
        )?),
        None => None,
    };
    let partial = backup_dir.join(format!("{name}.partial"));
    let _ = std::fs::remove_file(&partial);
    let got = store.get_file(name, &partial).await;
    let sha = match got {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    if let Some(m) = &manifest {
        if m.sha256 != sha {
            let _ = std::fs::remove_file(&partial);
            return Err(Error::Corrupt {
                name: name.to_string(),
                reason: format!(
                    "the offsite copy has sha256 {sha}, its manifest says {}; nothing was fetched",
                    m.sha256
                ),
            });
        }
    }
    if let Err(e) = pull_plain_sidecars(store, name, backup_dir).await {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    if let Some(m) = &manifest {
        m.write_for(&dest)?;
    }
    std::fs::rename(&partial, &dest)
        .map_err(|e| Error::io("renaming the fetched backup", e, &dest))?;
    let _ = crate::engine::fsutil::fsync_dir(backup_dir);
    Ok(Pulled {
        path: dest,
        sha256: sha,
        checked: manifest.is_some(),
        decrypted: false,
    })
}

/// Fetches the sidecars of a plain copy (`<name>.<suffix>` objects other than the manifest).
async fn pull_plain_sidecars(store: &Store, name: &str, backup_dir: &Path) -> Result<()> {
    let prefix = format!("{name}.");
    for o in store.list().await? {
        let plain_sidecar = o.name.starts_with(&prefix)
            && o.name != manifest_name(name)
            && !o.name.ends_with(envelope::SEALED_SUFFIX)
            && !o.name.ends_with(envelope::ENVELOPE_SUFFIX)
            && !o.name.contains('/');
        if !plain_sidecar || backup_dir.join(&o.name).exists() {
            continue;
        }
        let partial = backup_dir.join(format!("{}.partial", o.name));
        let _ = std::fs::remove_file(&partial);
        if let Err(e) = store.get_file(&o.name, &partial).await {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
        std::fs::rename(&partial, backup_dir.join(&o.name))
            .map_err(|e| Error::io("renaming a fetched file", e, &partial))?;
    }
    Ok(())
}

/// Where one backup lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The backup's file name.
    pub name: String,
    /// In the local backup directory.
    pub here: bool,
    /// Labels of the destinations holding it.
    pub offsite: Vec<String>,
}

impl Location {
    /// "here", "offsite" or "both".
    pub fn word(&self) -> &'static str {
        match (self.here, self.offsite.is_empty()) {
            (true, true) => "here",
            (false, _) => "offsite",
            (true, false) => "both",
        }
    }
}

/// Every backup known locally or offsite, newest first, with where it lives.
pub fn locations(local: &[BackupEntry], remote: &[(String, Vec<RemoteObject>)]) -> Vec<Location> {
    let mut map: BTreeMap<String, Location> = BTreeMap::new();
    for e in local.iter().filter(|e| e.status.is_restorable()) {
        map.entry(e.name.clone())
            .or_insert_with(|| Location {
                name: e.name.clone(),
                here: false,
                offsite: Vec::new(),
            })
            .here = true;
    }
    for (label, objects) in remote {
        for o in remote_backups(objects) {
            map.entry(o.name.clone())
                .or_insert_with(|| Location {
                    name: o.name.clone(),
                    here: false,
                    offsite: Vec::new(),
                })
                .offsite
                .push(label.clone());
        }
    }
    let mut out: Vec<Location> = map.into_values().collect();
    let time = |n: &str| catalog::parse_name(n).map(|(_, t)| t);
    out.sort_by(|a, b| {
        time(&b.name)
            .cmp(&time(&a.name))
            .then_with(|| b.name.cmp(&a.name))
    });
    out
}

/// The retention decisions for `store`'s copies (status and labels taken from the local
/// catalog where the backup is also here).
pub async fn plan_prune(
    store: &Store,
    local: &[BackupEntry],
    policy: &RetentionConfig,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<Vec<retention::Planned>> {
    let objects = remote_backups(&store.list().await?);
    let entries: Vec<BackupEntry> = objects
        .iter()
        .filter_map(|o| {
            let (database, time) = catalog::parse_name(&o.name)?;
            let known = local.iter().find(|e| e.name == o.name);
            Some(BackupEntry {
                name: o.name.clone(),
                path: PathBuf::from(&o.name),
                database,
                time: known.map(|k| k.time).unwrap_or(time),
                size: o.size,
                label: known.and_then(|k| k.label.clone()),
                status: known
                    .map(|k| k.status.clone())
                    .unwrap_or(BackupStatus::NoManifest),
                manifest: None,
            })
        })
        .collect();
    Ok(retention::plan(&entries, policy, now, tz))
}

/// Applies the retention policy to `store`'s copies; returns the names removed.
pub async fn prune(
    store: &Store,
    local: &[BackupEntry],
    policy: &RetentionConfig,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let plan = plan_prune(store, local, policy, now, tz).await?;
    if plan.iter().all(|p| p.decision.is_keep()) {
        return Ok(removed);
    }
    let objects = store.list().await?;
    for p in plan {
        if !p.decision.is_keep() {
            // The marker of a complete copy (the plain dump, or the envelope) goes first.
            let name = &p.entry.name;
            store.delete(name).await?;
            store.delete(&envelope::envelope_name(name)).await?;
            let prefix = format!("{name}.");
            for o in objects.iter().filter(|o| o.name.starts_with(&prefix)) {
                store.delete(&o.name).await?;
            }
            removed.push(p.entry.name);
        }
    }
    Ok(removed)
}
