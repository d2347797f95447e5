//! Checking offsite copies: the stored bytes against their sha256 (no key needed), and a test
//! decryption with the identity, recorded in the backup directory so `doctor` and
//! `schedule install` can warn while encryption is on and nobody has proved the key works.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::crypt::Identities;
use super::encrypted;
use super::Store;
use crate::config::Config;
use crate::engine::manifest::Manifest;
use crate::error::{Error, Result};

/// File in the backup directory recording successful test decryptions.
pub const RECORD_FILE: &str = "decryption-checks.json";

/// One successful test decryption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecryptionCheck {
    /// When it ran.
    pub at: DateTime<Utc>,
    /// The destination the copy came from.
    pub destination: String,
    /// The backup decrypted.
    pub backup: String,
    /// The recipients the copy was encrypted to (sorted).
    pub recipients: Vec<String>,
}

/// The outcome of checking one copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyCheck {
    /// Whether the copy is encrypted.
    pub encrypted: bool,
    /// Whether it was decrypted in full (and the plaintext checked).
    pub decrypted: bool,
    /// The recipients of an encrypted copy.
    pub recipients: Vec<String>,
}

/// Checks `backup` in `store`: every stored object against the sha256 its envelope (or plain
/// manifest) gives; with `ids`, an encrypted copy is also decrypted in full (into nothing)
/// and its plaintext checked. Err when anything does not match.
pub async fn check_copy(
    store: &Store,
    backup: &str,
    ids: Option<&Identities>,
) -> Result<CopyCheck> {
    let bad = |reason: String| Error::Corrupt {
        name: backup.to_string(),
        reason: format!("offsite {}: {reason}", store.label),
    };
    if let Some(env) = encrypted::envelope(store, backup).await? {
        for f in &env.files {
            let got = store.sha256(&f.object).await?;
            if got != f.stored_sha256 {
                return Err(bad(format!(
                    "{} has sha256 {got}, its envelope says {}",
                    f.object, f.stored_sha256
                )));
            }
        }
        let mut recipients = env.encrypted_to.clone();
        recipients.sort();
        let decrypted = match ids {
            Some(ids) => {
                for f in &env.files {
                    let (d, _) = store.get_decrypted(&f.object, ids, std::io::sink()).await?;
                    if d.plain.sha256 != f.plain_sha256 {
                        return Err(bad(format!(
                            "{} decrypts to sha256 {}, its envelope says {}",
                            f.object, d.plain.sha256, f.plain_sha256
                        )));
                    }
                }
                true
            }
            None => false,
        };
        return Ok(CopyCheck {
            encrypted: true,
            decrypted,
            recipients,
        });
    }
    let manifest = store
        .get_bytes(&super::manifest_name(backup))
        .await?
        .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok());
    if let Some(m) = manifest {
        let got = store.sha256(backup).await?;
        if got != m.sha256 {
            return Err(bad(format!(
                "it has sha256 {got}, its manifest says {}",
                m.sha256
            )));
        }
    }
    Ok(CopyCheck {
        encrypted: false,
        decrypted: false,
        recipients: Vec::new(),
    })
}

fn record_path(backup_dir: &Path) -> PathBuf {
    backup_dir.join(RECORD_FILE)
}

/// The recorded test decryptions (none when the file is missing or unreadable).
pub fn recorded(backup_dir: &Path) -> Vec<DecryptionCheck> {
    std::fs::read(record_path(backup_dir))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Records a successful test decryption (one entry per set of recipients, the newest kept).
pub fn record(backup_dir: &Path, check: DecryptionCheck) -> Result<()> {
    let mut all = recorded(backup_dir);
    all.retain(|c| c.recipients != check.recipients);
    all.push(check);
    let path = record_path(backup_dir);
    let json = serde_json::to_vec_pretty(&all).expect("records serialize");
    crate::engine::fsutil::write_atomic(&path, &json)
        .map_err(|e| Error::io(format!("writing {}", path.display()), e, &path))
}

/// How a destination is shown, without opening it.
pub fn label_of(o: &crate::config::OffsiteConfig) -> String {
    match o {
        crate::config::OffsiteConfig::Dir { path, .. } => format!("dir {}", path.display()),
        crate::config::OffsiteConfig::S3 { bucket, prefix, .. } => {
            format!("s3://{bucket}/{}", prefix.trim_matches('/'))
        }
    }
}

/// Destination name under which test decryptions of local backups are recorded.
pub const LOCAL_DESTINATION: &str = "local";

/// Whether a test decryption was recorded for exactly these recipients.
fn tested(done: &[DecryptionCheck], keys: &[String]) -> bool {
    let mut want: Vec<String> = keys.iter().map(|k| k.trim().to_string()).collect();
    want.sort();
    done.iter().any(|c| c.recipients == want)
}

/// A warning when a destination (or the local backups, top-level `encrypt_to`) encrypts and
/// no test decryption was ever recorded for its recipients: a lost or wrong key makes every
/// encrypted backup useless.
pub fn missing_test_decryption(config: &Config) -> Option<String> {
    let done = recorded(&config.backup_dir);
    let local = (!config.encrypt_to.is_empty() && !tested(&done, &config.encrypt_to)).then(|| {
        "local backups are encrypted but no test decryption was recorded: run `pgkeep verify latest --identity KEY` with the identity you keep off this server (a lost key makes every backup useless)".to_string()
    });
    let untested: Vec<String> = config
        .offsite
        .iter()
        .filter(|o| !o.encrypt_to().is_empty() && !tested(&done, o.encrypt_to()))
        .map(label_of)
        .collect();
    let offsite = (!untested.is_empty()).then(|| {
        format!(
            "offsite {} is encrypted but no test decryption was recorded: push a backup, then run `pgkeep offsite check --identity KEY` with the identity you keep off this server (a lost key makes every copy useless)",
            untested.join(", ")
        )
    });
    match (local, offsite) {
        (Some(l), Some(o)) => Some(format!("{l}; {o}")),
        (l, o) => l.or(o),
    }
}

/// Records that `backup`, encrypted locally to `recipients`, was decrypted in full with the
/// identity (a `pgkeep verify --identity` that passed).
pub fn record_local(backup_dir: &Path, backup: &str, recipients: &[String]) -> Result<()> {
    let mut recipients: Vec<String> = recipients.iter().map(|k| k.trim().to_string()).collect();
    recipients.sort();
    record(
        backup_dir,
        DecryptionCheck {
            at: Utc::now(),
            destination: LOCAL_DESTINATION.into(),
            backup: backup.into(),
            recipients,
        },
    )
}

/// The doctor's check "encryption key tested"; None when nothing is encrypted.
pub fn doctor_check(config: &Config) -> Option<crate::monitor::checks::Check> {
    use crate::monitor::doctor_checks::{fail, pass};
    if config.encrypt_to.is_empty() && config.offsite.iter().all(|o| o.encrypt_to().is_empty()) {
        return None;
    }
    let local_untested =
        !config.encrypt_to.is_empty() && !tested(&recorded(&config.backup_dir), &config.encrypt_to);
    let fix = if local_untested {
        "pgkeep verify latest --identity /path/to/key.txt"
    } else {
        "pgkeep offsite check --identity /path/to/key.txt"
    };
    Some(match missing_test_decryption(config) {
        None => pass(
            "encryption key tested",
            "a test decryption with the identity is recorded for every encrypted destination and the local backups",
        ),
        Some(w) => fail("encryption key tested", w, Some(fix.into())),
    })
}
