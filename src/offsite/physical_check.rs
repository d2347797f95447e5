//! `pgkeep offsite check` for base backups and WAL: every stored object against the sha256
//! recorded beside it, without the key — an encrypted object (`<x>.age`) against its clear
//! `<x>.age.sha256` companion, a clear base backup against its `.json` manifest, a clear WAL
//! file against its `<x>.sha256` companion. A WAL file copied by an older pgkeep has no
//! companion: it is counted as unchecked (the next `offsite push` adds one).

use std::collections::BTreeSet;

use super::envelope::sealed_name;
use super::physical_prune::WAL_PREFIX;
use super::physical_sealed::{companion_name, Companion, COMPANION_SUFFIX};
use super::Store;
use crate::engine::physical::base_catalog::{BaseManifest, BASE_SUFFIX};
use crate::error::Result;

/// The outcome of checking one destination's base backups and WAL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhysicalCheck {
    /// Base backups whose stored bytes match.
    pub bases: usize,
    /// WAL files whose stored bytes match.
    pub wal_files: usize,
    /// WAL files without a checksum companion.
    pub unchecked: usize,
    /// (object, what is wrong) for every object that does not match.
    pub failures: Vec<(String, String)>,
}

/// The clear checksum companion of a clear object (`x` → `x.sha256`).
pub fn plain_companion_name(plain: &str) -> String {
    format!("{plain}{COMPANION_SUFFIX}")
}

/// Checks every complete base backup and WAL object in `store`.
pub async fn check(store: &Store) -> Result<PhysicalCheck> {
    let listed: BTreeSet<String> = store.list().await?.into_iter().map(|o| o.name).collect();
    let mut out = PhysicalCheck::default();
    for name in &listed {
        // The plain name of a complete encrypted object (its companion is written last), or
        // a clear object.
        let (plain, sealed) = match name.strip_suffix(".age.sha256") {
            Some(p) => (p, true),
            None if name.ends_with(".age") || name.ends_with(COMPANION_SUFFIX) => continue,
            None => (name.as_str(), false),
        };
        let is_base = plain.ends_with(BASE_SUFFIX) && !plain.contains('/');
        let is_wal = plain.starts_with(WAL_PREFIX);
        if !is_base && !is_wal {
            continue;
        }
        let (object, want) = if sealed {
            let c = companion(store, &companion_name(plain)).await?;
            (sealed_name(plain), c.map(|c| c.stored_sha256))
        } else if is_base {
            let m = store
                .get_bytes(&format!("{plain}.json"))
                .await?
                .and_then(|b| serde_json::from_slice::<BaseManifest>(&b).ok());
            (plain.to_string(), m.map(|m| m.sha256))
        } else {
            let c = companion(store, &plain_companion_name(plain)).await?;
            if c.is_none() && !listed.contains(&plain_companion_name(plain)) {
                out.unchecked += 1;
                continue;
            }
            (plain.to_string(), c.map(|c| c.stored_sha256))
        };
        let Some(want) = want else {
            out.failures.push((
                plain.to_string(),
                if is_base {
                    "its manifest is missing or unreadable offsite".into()
                } else {
                    "its checksum file is unreadable".into()
                },
            ));
            continue;
        };
        match store.sha256(&object).await {
            Ok(got) if got == want => {
                if is_base {
                    out.bases += 1;
                } else {
                    out.wal_files += 1;
                }
            }
            Ok(got) => out.failures.push((
                object,
                format!("it has sha256 {got}, its checksum file says {want}"),
            )),
            Err(e) => out.failures.push((object, e.to_string())),
        }
    }
    Ok(out)
}

/// A companion's content; None when it is missing or not valid JSON.
async fn companion(store: &Store, name: &str) -> Result<Option<Companion>> {
    Ok(store
        .get_bytes(name)
        .await?
        .and_then(|b| serde_json::from_slice::<Companion>(&b).ok()))
}
