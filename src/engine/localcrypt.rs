//! Local encryption of backups (top-level `encrypt_to`): the dump is written as
//! `<name>.sql.gz.age` (the gzip stream encrypted with age while it streams) and its globals
//! file is encrypted too; the manifest stays readable (no secrets in it). Reading one needs
//! the identity (the secret key), given with `--identity FILE` or `PGKEEP_AGE_IDENTITY`; it
//! is checked against the file's header before anything else happens, so a missing or wrong
//! key is refused before the live database is touched.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::engine::catalog::{BackupEntry, ENCRYPTED_SUFFIX};
use crate::error::{Error, Result};
use crate::offsite::crypt::{DecryptFailure, Identities, IDENTITY_ENV};

/// The identity file given on the command line, for every decryption in this process.
static IDENTITY_FILE: OnceLock<PathBuf> = OnceLock::new();

/// Sets the identity file given with `--identity` (the first call wins); without it,
/// `PGKEEP_AGE_IDENTITY` is used.
pub fn set_identity_file(path: &Path) {
    let _ = IDENTITY_FILE.set(path.to_path_buf());
}

/// The identities that decrypt local backups: `--identity`, else `PGKEEP_AGE_IDENTITY`.
pub fn identities() -> Result<Option<Identities>> {
    Identities::from_arg_or_env(IDENTITY_FILE.get().map(PathBuf::as_path))
}

/// True for the name of an encrypted backup (`.sql.gz.age`).
pub fn is_encrypted(name: &str) -> bool {
    name.ends_with(ENCRYPTED_SUFFIX)
}

/// The one-line refusal when no identity is given for an encrypted backup.
pub fn identity_needed(name: &str) -> Error {
    Error::Refused(format!(
        "{name} is encrypted: give its age identity with --identity FILE or {IDENTITY_ENV}=FILE (keep the key off this server); nothing was changed"
    ))
}

/// The identities for the encrypted backup `name`, or the one-line refusal.
pub fn require_identities(name: &str) -> Result<Identities> {
    identities()?.ok_or_else(|| identity_needed(name))
}

/// Turns a decryption failure of `name` into one line.
pub fn failure(name: &str, ids: &Identities, f: DecryptFailure) -> Error {
    match f {
        DecryptFailure::WrongKey => Error::Refused(format!(
            "the age identity {} does not decrypt {name} (wrong key): give the identity whose public key is in the manifest's encrypted_to; nothing was changed",
            ids.file
        )),
        DecryptFailure::Damaged(reason) => Error::Corrupt {
            name: name.to_string(),
            reason: format!("it does not decrypt ({reason}); the file is damaged"),
        },
        DecryptFailure::Write(e) => Error::Other(format!("decrypting {name}: {e}")),
    }
}

/// A reader of the plaintext of the encrypted file `input` (named `name` in messages).
pub fn open<R: Read>(
    input: R,
    ids: &Identities,
    name: &str,
) -> Result<age::stream::StreamReader<BufReader<R>>> {
    ids.decrypting(BufReader::with_capacity(1 << 20, input))
        .map_err(|f| failure(name, ids, f))
}

/// For an encrypted backup: checks that an identity is given and opens the file's header
/// (a wrong key is refused here, in one line). Nothing to do for a plain backup. Run it
/// before anything touches a database.
pub fn check_key(entry: &BackupEntry) -> Result<()> {
    if !is_encrypted(&entry.name) {
        return Ok(());
    }
    let ids = require_identities(&entry.name)?;
    let file = File::open(&entry.path)
        .map_err(|e| Error::io(format!("opening {}", entry.path.display()), e, &entry.path))?;
    open(file, &ids, &entry.name).map(|_| ())
}

/// Decrypts a small encrypted file held in memory (the globals file).
pub fn decrypt_bytes(bytes: &[u8], name: &str) -> Result<Vec<u8>> {
    let ids = require_identities(name)?;
    let mut r = open(bytes, &ids, name)?;
    let mut out = Vec::new();
    r.read_to_end(&mut out).map_err(|e| Error::Corrupt {
        name: name.to_string(),
        reason: format!("it does not decrypt ({e}); the file is damaged"),
    })?;
    Ok(out)
}

/// Encrypts a small text to `recipients` in memory (the globals file).
pub fn encrypt_bytes(
    text: &[u8],
    recipients: &crate::offsite::crypt::Recipients,
) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut w = recipients.encrypting(Vec::new())?;
    w.write_all(text)?;
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn bytes_round_trip_and_a_wrong_key_is_one_line() {
        let d = tempfile::tempdir().unwrap();
        let write_key = |n: &str| {
            let id = age::x25519::Identity::generate();
            let p = d.path().join(n);
            std::fs::write(&p, format!("{}\n", id.to_string().expose_secret())).unwrap();
            (p, id.to_public().to_string())
        };
        let (key, rcp) = write_key("k.txt");
        let (wrong, _) = write_key("w.txt");
        let r = crate::offsite::crypt::Recipients::parse(&[rcp], "local")
            .unwrap()
            .unwrap();
        let sealed = encrypt_bytes(b"CREATE ROLE x", &r).unwrap();
        assert!(sealed.starts_with(b"age-encryption.org/v1\n"));
        let ids = Identities::load(&key).unwrap();
        let mut plain = Vec::new();
        open(&sealed[..], &ids, "g")
            .unwrap()
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, b"CREATE ROLE x");
        let bad = Identities::load(&wrong).unwrap();
        let e = match open(&sealed[..], &bad, "g") {
            Err(e) => e.to_string(),
            Ok(_) => panic!("a wrong key decrypted"),
        };
        assert!(e.contains("wrong key") && !e.contains('\n'), "{e}");
    }
}
