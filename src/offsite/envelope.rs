//! The clear envelope of an encrypted offsite copy: `<backup>.envelope.json` beside the
//! `.age` objects. It holds only what is needed to check the copy without the key (object
//! names, sizes and sha256 of the stored bytes and of the plaintext), the backup's name, time
//! and the recipients (public keys): no table names, no row counts, no data. The full manifest
//! travels encrypted (`<backup>.json.age`). It is written last, so its presence means the copy
//! is complete.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::catalog::is_backup_name;
use crate::error::{Error, Result};

/// Suffix of encrypted objects.
pub const SEALED_SUFFIX: &str = ".age";
/// Suffix of the clear envelope after the backup's name.
pub const ENVELOPE_SUFFIX: &str = ".envelope.json";
/// Envelope format version.
pub const ENVELOPE_VERSION: u32 = 1;

/// The envelope's object name for a backup name.
pub fn envelope_name(backup: &str) -> String {
    format!("{backup}{ENVELOPE_SUFFIX}")
}

/// The encrypted object's name for a local file name.
pub fn sealed_name(file: &str) -> String {
    format!("{file}{SEALED_SUFFIX}")
}

/// One encrypted file of the copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedFile {
    /// The file's name in the backup directory (plaintext).
    pub name: String,
    /// The object holding it, encrypted.
    pub object: String,
    /// sha256 of the stored (encrypted) bytes.
    pub stored_sha256: String,
    /// Stored bytes.
    pub stored_bytes: u64,
    /// sha256 of the plaintext.
    pub plain_sha256: String,
    /// Plaintext bytes.
    pub plain_bytes: u64,
}

/// The clear part of an encrypted copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Format version.
    pub format_version: u32,
    /// The backup's file name (`shop_2026-11-24T02-00-00Z.sql.gz`).
    pub backup: String,
    /// When the backup was taken.
    pub started_at: Option<DateTime<Utc>>,
    /// When it was copied here.
    pub pushed_at: DateTime<Utc>,
    /// The age recipients it is encrypted to.
    pub encrypted_to: Vec<String>,
    /// Every file of the backup: the dump first, the manifest last.
    pub files: Vec<SealedFile>,
}

impl Envelope {
    /// Parses an envelope read from `store_label`, checking that its file names stay within
    /// the backup (a damaged or hostile envelope cannot name other files).
    pub fn parse(bytes: &[u8], backup: &str, store_label: &str) -> Result<Envelope> {
        let env: Envelope = serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
            name: envelope_name(backup),
            reason: format!("the envelope in offsite {store_label} is not valid JSON ({e})"),
        })?;
        let inside = |n: &str| {
            !n.contains('/')
                && (n == backup
                    || n.strip_prefix(backup)
                        .is_some_and(|rest| rest.starts_with('.') && rest.len() > 1))
        };
        let ok = env.backup == backup
            && env.files.first().is_some_and(|f| f.name == backup)
            && env
                .files
                .iter()
                .all(|f| inside(&f.name) && inside(&f.object) && !f.name.ends_with(".partial"));
        if !ok {
            return Err(Error::Corrupt {
                name: envelope_name(backup),
                reason: format!(
                    "the envelope in offsite {store_label} names files of another backup; nothing was fetched"
                ),
            });
        }
        Ok(env)
    }

    /// The dump's entry.
    pub fn dump(&self) -> &SealedFile {
        &self.files[0]
    }
}

/// The backup an object belongs to, when it marks a complete copy: a plain dump
/// (`<name>.sql.gz`, or `<name>.sql.gz.age` copied as it is from a host that encrypts its
/// local backups) or the envelope of an encrypted one. A `<name>.sql.gz.age` object may also
/// be the sealed dump of `<name>.sql.gz`: [`super::remote_backups`] tells them apart by the
/// envelope.
pub fn backup_of_object(object: &str) -> Option<&str> {
    if is_backup_name(object) {
        return Some(object);
    }
    object
        .strip_suffix(ENVELOPE_SUFFIX)
        .filter(|b| is_backup_name(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> SealedFile {
        SealedFile {
            name: name.into(),
            object: sealed_name(name),
            stored_sha256: "a".into(),
            stored_bytes: 1,
            plain_sha256: "b".into(),
            plain_bytes: 1,
        }
    }

    #[test]
    fn objects_map_to_backups() {
        let b = "shop_2026-11-24T02-00-00Z.sql.gz";
        assert_eq!(backup_of_object(b), Some(b));
        assert_eq!(backup_of_object(&envelope_name(b)), Some(b));
        assert_eq!(backup_of_object(&format!("{b}.json")), None);
        assert_eq!(backup_of_object(&format!("{b}.globals.sql.age")), None);
        // A locally encrypted backup copied as it is, and one sealed again.
        let local = sealed_name(b);
        assert_eq!(backup_of_object(&local), Some(local.as_str()));
        assert_eq!(
            backup_of_object(&envelope_name(&local)),
            Some(local.as_str())
        );
        assert_eq!(backup_of_object(&sealed_name(&local)), None);
        // Told apart from the sealed dump of `b` by the envelope.
        let obj = |n: &str| super::super::RemoteObject {
            name: n.to_string(),
            size: 1,
        };
        let sealed = [obj(&sealed_name(b)), obj(&envelope_name(b))];
        let found: Vec<String> = super::super::remote_backups(&sealed)
            .into_iter()
            .map(|o| o.name)
            .collect();
        assert_eq!(found, vec![b.to_string()]);
        let plain = super::super::remote_backups(&[obj(&local)]);
        assert_eq!(plain[0].name, local);
    }

    #[test]
    fn envelope_names_stay_inside_the_backup() {
        let b = "shop_2026-11-24T02-00-00Z.sql.gz";
        let mut env = Envelope {
            format_version: ENVELOPE_VERSION,
            backup: b.into(),
            started_at: None,
            pushed_at: Utc::now(),
            encrypted_to: vec![],
            files: vec![file(b), file(&format!("{b}.json"))],
        };
        let ok = serde_json::to_vec(&env).unwrap();
        assert!(Envelope::parse(&ok, b, "x").is_ok());
        env.files.push(file("../../etc/passwd"));
        let bad = serde_json::to_vec(&env).unwrap();
        assert!(Envelope::parse(&bad, b, "x").is_err());
        env.files.pop();
        env.files.push(file("shop_2026-11-24T02-00-00Z.sql.gzX"));
        let bad = serde_json::to_vec(&env).unwrap();
        assert!(Envelope::parse(&bad, b, "x").is_err());
    }
}
