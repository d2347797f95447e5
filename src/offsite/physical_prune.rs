//! `[retention] keep_base` offsite: after a scheduled base backup reached a destination, the
//! base backups there beyond the newest `keep_base` of each cluster are deleted, with the WAL
//! only they needed — by the same rule as here ([`crate::engine::physical::prune`]): a WAL
//! object goes only when it lies before the start segment of the oldest kept base backup on
//! its timeline or an earlier one. History files are always kept; a cluster whose oldest kept
//! base backup's start is unknown (no manifest here or in clear offsite) keeps all its WAL.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::envelope::sealed_name;
use super::physical_sealed::{companion_name, COMPANION_SUFFIX};
use super::Store;
use crate::engine::physical::base_catalog::{self, BaseManifest, BASE_SUFFIX};
use crate::engine::physical::walseg::Segment;
use crate::error::Result;

/// Prefix of WAL objects: `wal_<system identifier>_<file>`.
pub const WAL_PREFIX: &str = "wal_";

/// What an offsite prune deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsitePruned {
    /// Base backups deleted (their names).
    pub bases: Vec<String>,
    /// WAL files deleted.
    pub wal_files: usize,
}

/// Every object stored for the plain name `plain`: itself, its manifests' objects (for a
/// base backup), the encrypted variants and checksum companions. Companions first, so an
/// interrupted delete leaves an object that counts as incomplete, never one that looks whole.
pub(super) fn objects_of(plain: &str, base: bool) -> Vec<String> {
    let mut names = vec![
        companion_name(plain),
        format!("{plain}{COMPANION_SUFFIX}"),
        sealed_name(plain),
        plain.to_string(),
    ];
    if base {
        for side in [".json", ".backup_manifest"] {
            names.extend(objects_of(&format!("{plain}{side}"), false));
        }
    }
    names
}

/// The clear objects of [`objects_of`] (not the encrypted ones nor their companions), in
/// the same order.
pub(super) fn clear_objects_of(plain: &str, base: bool) -> Vec<String> {
    let (sealed, sealed_companion) = (sealed_name(""), companion_name(""));
    objects_of(plain, base)
        .into_iter()
        .filter(|n| !n.ends_with(&sealed) && !n.ends_with(&sealed_companion))
        .collect()
}

/// The plain name an object stands for (`x.age.sha256`, `x.age`, `x.sha256` → `x`).
fn plain_of(object: &str) -> &str {
    let o = object.strip_suffix(COMPANION_SUFFIX).unwrap_or(object);
    o.strip_suffix(".age").unwrap_or(o)
}

/// Deletes, in `store`, the base backups beyond the newest `keep` of each cluster and the
/// WAL no kept base backup needs. `backup_dir` supplies the kept base backups' manifests
/// (the clear `.json` offsite is read when the base backup is not here).
pub async fn prune(store: &Store, backup_dir: &Path, keep: usize) -> Result<OffsitePruned> {
    let keep = keep.max(1);
    let listed: BTreeSet<String> = store.list().await?.into_iter().map(|o| o.name).collect();
    let plains: BTreeSet<&str> = listed.iter().map(|n| plain_of(n)).collect();
    // Complete base backups per cluster (a clear object, or an encrypted one whose companion,
    // written last, is there), newest first (the time in the name sorts).
    let complete = listed
        .iter()
        .map(|n| n.strip_suffix(".age.sha256").unwrap_or(n))
        .filter(|p| p.ends_with(BASE_SUFFIX) && !p.contains('/'));
    let mut clusters: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in complete {
        if let Some((sysid, _)) = p.split_once('_') {
            clusters.entry(sysid).or_default().push(p);
        }
    }
    let local = base_catalog::scan(backup_dir).unwrap_or_default();
    let mut out = OffsitePruned::default();
    let mut doomed: Vec<String> = Vec::new();
    for (sysid, mut bases) in clusters {
        bases.sort_by(|a, b| b.cmp(a));
        bases.dedup();
        let (kept, old) = bases.split_at(keep.min(bases.len()));
        for b in old {
            doomed.extend(objects_of(b, true));
            out.bases.push(b.to_string());
        }
        let Some(oldest) = kept.last() else { continue };
        let manifest = match local.iter().find(|l| l.name == *oldest) {
            Some(l) => Some(l.manifest.clone()),
            None => store
                .get_bytes(&format!("{oldest}.json"))
                .await?
                .and_then(|b| serde_json::from_slice::<BaseManifest>(&b).ok()),
        };
        let Some(m) = manifest else { continue };
        let Some(start) = m.start_segment() else {
            continue;
        };
        let prefix = format!("{WAL_PREFIX}{sysid}_");
        for p in plains.iter().filter_map(|p| p.strip_prefix(&prefix)) {
            let seg = Segment::parse(p.get(..24).unwrap_or(""), m.wal_segment_size);
            let is_wal = p.len() == 24 || p.ends_with(".backup");
            if let (Some(seg), true) = (seg, is_wal) {
                if seg.timeline <= start.timeline && seg.number < start.number {
                    doomed.extend(objects_of(&format!("{prefix}{p}"), false));
                    out.wal_files += 1;
                }
            }
        }
    }
    for name in doomed.iter().filter(|n| listed.contains(*n)) {
        store.delete(name).await?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clear_objects_are_the_companion_then_the_object_then_the_manifests() {
        assert_eq!(
            clear_objects_of("wal_1_x", false),
            ["wal_1_x.sha256", "wal_1_x"]
        );
        assert_eq!(
            clear_objects_of("b.tar.gz", true),
            [
                "b.tar.gz.sha256",
                "b.tar.gz",
                "b.tar.gz.json.sha256",
                "b.tar.gz.json",
                "b.tar.gz.backup_manifest.sha256",
                "b.tar.gz.backup_manifest"
            ]
        );
    }

    #[test]
    fn every_variant_of_an_object_maps_to_its_plain_name() {
        for o in [
            "x.tar.gz",
            "x.tar.gz.age",
            "x.tar.gz.age.sha256",
            "x.tar.gz.sha256",
        ] {
            assert_eq!(plain_of(o), "x.tar.gz");
        }
        let all = objects_of("b.tar.gz", true);
        assert!(
            all.contains(&"b.tar.gz.json.age.sha256".to_string()),
            "{all:?}"
        );
        assert!(
            all.contains(&"b.tar.gz.backup_manifest".to_string()),
            "{all:?}"
        );
        assert_eq!(all[0], "b.tar.gz.age.sha256");
    }
}
