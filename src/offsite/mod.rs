//! Offsite copies: every finished backup, its globals file and its manifest are copied to the configured
//! destinations (`[[offsite]]`: a directory or S3-compatible storage), read back and checked
//! against the sha256; retention applies there too; backups can be fetched back.

pub mod store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::config::{Config, RetentionConfig};
use crate::engine::catalog::{self, BackupEntry, BackupStatus, BACKUP_SUFFIX};
use crate::engine::manifest::Manifest;
use crate::engine::retention;
use crate::error::{Error, Result};
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
    store.put_file(&entry.name, &entry.path).await?;
    let remote = store.sha256(&entry.name).await?;
    if remote != local {
        let _ = store.delete(&entry.name).await;
        return Err(Error::Other(format!(
            "offsite {}: the copy of {} reads back with sha256 {remote}, expected {local}; the copy was deleted, try again",
            store.label, entry.name
        )));
    }
    push_globals(store, entry).await?;
    let manifest_path = Manifest::path_for(&entry.path);
    if manifest_path.exists() {
        let bytes = std::fs::read(&manifest_path)
            .map_err(|e| Error::io("reading the manifest", e, &manifest_path))?;
        store.put_bytes(&manifest_name(&entry.name), bytes).await?;
    }
    Ok(local)
}

/// Copies the backup's globals file (when its manifest lists one) and checks the copy against
/// the manifest's sha256. Pushed before the manifest, which is the last object of a unit.
async fn push_globals(store: &Store, entry: &BackupEntry) -> Result<()> {
    let Some(g) = entry
        .manifest
        .as_ref()
        .and_then(|m| m.globals.as_ref())
        .filter(|g| !g.file.is_empty())
    else {
        return Ok(());
    };
    let path = entry.path.with_file_name(&g.file);
    store.put_file(&g.file, &path).await?;
    let remote = store.sha256(&g.file).await?;
    if remote != g.sha256 {
        let _ = store.delete(&g.file).await;
        return Err(Error::Corrupt {
            name: entry.name.clone(),
            reason: format!(
                "its globals file {} reads back offsite with sha256 {remote}, the manifest says {}; not copied",
                g.file, g.sha256
            ),
        });
    }
    Ok(())
}

/// Fetches the globals file the manifest `m` lists into `backup_dir`, checked against its
/// sha256 (as `.partial`, then renamed).
async fn pull_globals(store: &Store, m: &Manifest, backup_dir: &Path) -> Result<()> {
    let Some(g) = m.globals.as_ref().filter(|g| !g.file.is_empty()) else {
        return Ok(());
    };
    if g.file.contains('/') {
        return Err(Error::Corrupt {
            name: manifest_name(&g.file),
            reason: "the offsite manifest names a globals file outside the backup directory".into(),
        });
    }
    let dest = backup_dir.join(&g.file);
    let partial = backup_dir.join(format!("{}.partial", g.file));
    let _ = std::fs::remove_file(&partial);
    let sha = match store.get_file(&g.file, &partial).await {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    if sha != g.sha256 {
        let _ = std::fs::remove_file(&partial);
        return Err(Error::Corrupt {
            name: g.file.clone(),
            reason: format!(
                "the offsite copy has sha256 {sha}, its manifest says {}; nothing was fetched",
                g.sha256
            ),
        });
    }
    std::fs::rename(&partial, &dest)
        .map_err(|e| Error::io("renaming the fetched globals", e, &dest))
}

/// Pushes every finished local backup `store` does not have yet; returns the names copied.
pub async fn push_missing(store: &Store, entries: &[BackupEntry]) -> Result<Vec<String>> {
    let have: Vec<String> = store.list().await?.into_iter().map(|o| o.name).collect();
    let mut copied = Vec::new();
    for e in entries
        .iter()
        .filter(|e| e.status.is_restorable() && !have.contains(&e.name))
    {
        push(store, e).await?;
        copied.push(e.name.clone());
    }
    Ok(copied)
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
}

/// Fetches backup `name` from `store` into `backup_dir` (as `.partial`, checked against the
/// offsite manifest's sha256, then renamed); refuses to overwrite a local backup.
pub async fn pull(store: &Store, name: &str, backup_dir: &Path) -> Result<Pulled> {
    if !name.ends_with(BACKUP_SUFFIX) || name.contains('/') {
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
    let manifest: Option<Manifest> = match store.get_bytes(&manifest_name(name)).await? {
        Some(b) => Some(serde_json::from_slice(&b).map_err(|e| Error::Corrupt {
            name: manifest_name(name),
            reason: format!("offsite manifest is not valid JSON ({e})"),
        })?),
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
        if let Err(e) = pull_globals(store, m, backup_dir).await {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
        m.write_for(&dest)?;
    }
    std::fs::rename(&partial, &dest)
        .map_err(|e| Error::io("renaming the fetched backup", e, &dest))?;
    let _ = crate::engine::fsutil::fsync_dir(backup_dir);
    Ok(Pulled {
        path: dest,
        sha256: sha,
        checked: manifest.is_some(),
    })
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
        for o in objects.iter().filter(|o| o.name.ends_with(BACKUP_SUFFIX)) {
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
    let objects = store.list().await?;
    let entries: Vec<BackupEntry> = objects
        .iter()
        .filter(|o| o.name.ends_with(BACKUP_SUFFIX))
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
    for p in plan_prune(store, local, policy, now, tz).await? {
        if !p.decision.is_keep() {
            store.delete(&p.entry.name).await?;
            store.delete(&catalog::globals_name(&p.entry.name)).await?;
            store.delete(&manifest_name(&p.entry.name)).await?;
            removed.push(p.entry.name);
        }
    }
    Ok(removed)
}
