//! Encrypted offsite copies of base backups and WAL files (destinations with `encrypt_to`):
//! each file is stored as `<object>.age`, encrypted while streaming, and beside it a clear
//! `<object>.age.sha256` companion (JSON: sha256 and size of the stored bytes and of the
//! plaintext) so a copy can be checked without the key. The companion is written last: its
//! presence means the object is complete. A pull decrypts while streaming into a `.partial`
//! file, checks both digests, and only then renames it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::crypt::{Identities, Recipients};
use super::envelope::sealed_name;
use super::sealed::SealedDigests;
use super::Store;
use crate::error::{Error, Result};

/// Suffix of the clear checksum companion after the `.age` object's name.
pub const COMPANION_SUFFIX: &str = ".sha256";

/// The clear checksums of one encrypted object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Companion {
    /// sha256 of the stored (encrypted) bytes.
    pub stored_sha256: String,
    /// Stored bytes.
    pub stored_bytes: u64,
    /// sha256 of the plaintext.
    pub plain_sha256: String,
    /// Plaintext bytes.
    pub plain_bytes: u64,
}

/// The companion's object name for a plain object name (`x` → `x.age.sha256`).
pub fn companion_name(plain: &str) -> String {
    format!("{}{COMPANION_SUFFIX}", sealed_name(plain))
}

/// Encrypts the local file `path` into `store` as `<plain>.age`, reads it back, then writes
/// its companion. `want` is the plaintext sha256 the file must have (a base backup's
/// manifest); on any mismatch the object is deleted.
pub async fn put_sealed(
    store: &Store,
    plain: &str,
    path: &Path,
    recipients: &Recipients,
    want: Option<&str>,
) -> Result<()> {
    let object = sealed_name(plain);
    let file = std::fs::File::open(path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), e, path))?;
    let d = store.put_encrypted(&object, file, recipients).await?;
    if let Some(w) = want.filter(|w| *w != d.plain.sha256) {
        let _ = store.delete(&object).await;
        return Err(Error::Corrupt {
            name: plain.to_string(),
            reason: format!(
                "its sha256 {} differs from the manifest's {w}; not copying it offsite",
                d.plain.sha256
            ),
        });
    }
    let back = store.sha256(&object).await?;
    if back != d.stored.sha256 {
        let _ = store.delete(&object).await;
        return Err(Error::Other(format!(
            "offsite {}: the copy of {plain} reads back with sha256 {back}, expected {}; the copy was deleted, try again",
            store.label, d.stored.sha256
        )));
    }
    let companion = Companion {
        stored_sha256: d.stored.sha256,
        stored_bytes: d.stored.bytes,
        plain_sha256: d.plain.sha256,
        plain_bytes: d.plain.bytes,
    };
    let json = serde_json::to_vec_pretty(&companion).expect("companion serializes");
    store.put_bytes(&companion_name(plain), json).await
}

/// Reads the companion of `plain`.
async fn companion(store: &Store, plain: &str) -> Result<Companion> {
    let bytes = store
        .get_bytes(&companion_name(plain))
        .await?
        .ok_or_else(|| Error::Corrupt {
            name: plain.to_string(),
            reason: format!("its checksum file is missing in offsite {}", store.label),
        })?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
        name: plain.to_string(),
        reason: format!(
            "its checksum file in offsite {} is not valid JSON ({e})",
            store.label
        ),
    })
}

fn check(store: &Store, plain: &str, d: &SealedDigests, c: &Companion) -> Result<()> {
    for (what, got, want) in [
        ("stored bytes", &d.stored.sha256, &c.stored_sha256),
        ("plaintext", &d.plain.sha256, &c.plain_sha256),
    ] {
        if got != want {
            return Err(Error::Corrupt {
                name: plain.to_string(),
                reason: format!(
                    "the {what} sha256 from offsite {} is {got}, its checksum file says {want}; nothing was fetched",
                    store.label
                ),
            });
        }
    }
    Ok(())
}

/// Decrypts `<plain>.age` into memory (a small manifest), checked against its companion.
pub async fn get_sealed_bytes(store: &Store, plain: &str, ids: &Identities) -> Result<Vec<u8>> {
    let c = companion(store, plain).await?;
    let (d, out) = store
        .get_decrypted(&sealed_name(plain), ids, Vec::new())
        .await?;
    check(store, plain, &d, &c)?;
    Ok(out)
}

/// Decrypts `<plain>.age` into `dest` through a `.partial` file, checked against its
/// companion and against `want` (the plaintext sha256 of a base backup's manifest).
pub async fn get_sealed_file(
    store: &Store,
    plain: &str,
    ids: &Identities,
    dest: &Path,
    want: Option<&str>,
) -> Result<()> {
    let c = companion(store, plain).await?;
    let partial = dest.with_file_name(format!(
        "{}.partial",
        dest.file_name().unwrap_or_default().to_string_lossy()
    ));
    let _ = std::fs::remove_file(&partial);
    let result = async {
        let d = store
            .get_decrypted_file(&sealed_name(plain), ids, &partial)
            .await?;
        check(store, plain, &d, &c)?;
        if let Some(w) = want.filter(|w| **w != d.plain.sha256) {
            return Err(Error::Corrupt {
                name: plain.to_string(),
                reason: format!(
                    "the offsite copy decrypts to sha256 {}, its manifest says {w}; nothing was fetched",
                    d.plain.sha256
                ),
            });
        }
        std::fs::rename(&partial, dest).map_err(|e| Error::io("renaming a fetched file", e, dest))
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// The message for encrypted base backups or WAL and no identity.
pub fn identity_needed(store: &Store) -> Error {
    Error::Refused(format!(
        "the base backups and WAL in offsite {} are encrypted: give --identity FILE (or set PGKEEP_AGE_IDENTITY) with the age identity of one of its recipients",
        store.label
    ))
}
