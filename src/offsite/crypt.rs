//! age encryption for offsite copies: recipients (public keys, from the config) and
//! identities (secret keys, from a file given at pull/check time), and the blocking halves of
//! streaming encryption and decryption. Every byte is hashed twice on the way: as stored
//! (ciphertext) and as plaintext, so a copy can be checked without the key and the plaintext
//! checked after decrypting. Nothing is ever written to disk in clear but the result.

use std::io::{BufReader, Read, Write};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Environment variable naming the identity file when `--identity` is not given.
pub const IDENTITY_ENV: &str = "PGKEEP_AGE_IDENTITY";

/// Size of the chunks handed between the async and the blocking half.
const CHUNK: usize = 256 * 1024;

/// The recipients of one destination (parsed `age1...` keys, in config order).
#[derive(Clone)]
pub struct Recipients {
    keys: Vec<age::x25519::Recipient>,
    /// The keys as written in the config (for envelopes and messages).
    pub text: Vec<String>,
}

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.text).finish()
    }
}

impl Recipients {
    /// Parses `encrypt_to`; None when it is empty (a plain destination).
    pub fn parse(list: &[String], destination: &str) -> Result<Option<Recipients>> {
        if list.is_empty() {
            return Ok(None);
        }
        let mut keys = Vec::new();
        for k in list {
            let r = age::x25519::Recipient::from_str(k.trim()).map_err(|e| {
                Error::Config(format!(
                    "{destination}: encrypt_to entry {k:?} is not an age recipient ({e}): give public keys as `age-keygen -y key.txt` prints them (age1...)"
                ))
            })?;
            keys.push(r);
        }
        Ok(Some(Recipients {
            keys,
            text: list.iter().map(|k| k.trim().to_string()).collect(),
        }))
    }

    /// A writer that encrypts what is written to it into `out` (call `finish` at the end).
    pub fn encrypting<W: Write>(&self, out: W) -> std::io::Result<age::stream::StreamWriter<W>> {
        age::Encryptor::with_recipients(self.keys.iter().map(|r| r as _))
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .wrap_output(out)
    }
}

/// Secret keys loaded from an identity file.
#[derive(Clone)]
pub struct Identities {
    keys: Arc<Vec<Box<dyn age::Identity + Send + Sync>>>,
    /// The file they came from (for messages).
    pub file: String,
}

impl Identities {
    /// Reads an age identity file (`age-keygen -o key.txt`).
    pub fn load(path: &Path) -> Result<Identities> {
        let file = path.display().to_string();
        let parsed = age::IdentityFile::from_file(file.clone()).map_err(|e| {
            Error::Config(format!(
                "cannot read the age identity {file} ({e}): give the file `age-keygen -o` wrote"
            ))
        })?;
        let keys = parsed
            .into_identities()
            .map_err(|e| Error::Config(format!("the age identity {file} is not usable ({e})")))?;
        if keys.is_empty() {
            return Err(Error::Config(format!(
                "{file} holds no age identity (AGE-SECRET-KEY-1...): give the file `age-keygen -o` wrote"
            )));
        }
        Ok(Identities {
            keys: Arc::new(keys),
            file,
        })
    }

    /// A reader of the plaintext of the age file `input`; reads only its header before it
    /// returns, so a wrong key is found at once.
    pub fn decrypting<R: std::io::BufRead>(
        &self,
        input: R,
    ) -> std::result::Result<age::stream::StreamReader<R>, DecryptFailure> {
        age::Decryptor::new_buffered(input)
            .map_err(|e| DecryptFailure::Damaged(format!("not a readable age file ({e})")))?
            .decrypt(self.keys.iter().map(|k| k.as_ref() as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => DecryptFailure::WrongKey,
                e => DecryptFailure::Damaged(e.to_string()),
            })
    }

    /// `--identity FILE`, else `PGKEEP_AGE_IDENTITY`, else None.
    pub fn from_arg_or_env(arg: Option<&Path>) -> Result<Option<Identities>> {
        match arg {
            Some(p) => Identities::load(p).map(Some),
            None => match std::env::var_os(IDENTITY_ENV).filter(|v| !v.is_empty()) {
                Some(v) => Identities::load(Path::new(&v)).map(Some),
                None => Ok(None),
            },
        }
    }
}

/// sha256 and length of a byte stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Digest256 {
    /// sha256, lowercase hex.
    pub sha256: String,
    /// Bytes.
    pub bytes: u64,
}

/// A running sha256 and byte count.
#[derive(Default)]
pub struct Hashing {
    hasher: Sha256,
    bytes: u64,
}

impl Hashing {
    /// Adds bytes.
    pub fn update(&mut self, b: &[u8]) {
        self.hasher.update(b);
        self.bytes += b.len() as u64;
    }

    /// The result.
    pub fn finish(self) -> Digest256 {
        Digest256 {
            sha256: hex::encode(self.hasher.finalize()),
            bytes: self.bytes,
        }
    }
}

/// A writer that hands its bytes to the async half in chunks.
struct ChanWriter {
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

impl ChanWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "upload stopped"))
    }
}

impl Write for ChanWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Encrypts `plain` to `recipients`, sending the ciphertext in chunks to `tx`; returns the
/// plaintext's digest. Blocking: run on a blocking thread.
pub fn encrypt_into(
    plain: impl Read,
    recipients: &Recipients,
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
) -> std::io::Result<Digest256> {
    let enc = age::Encryptor::with_recipients(recipients.keys.iter().map(|r| r as _))
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let out = ChanWriter {
        tx,
        buf: Vec::with_capacity(CHUNK),
    };
    let mut w = enc.wrap_output(out)?;
    let mut plain = BufReader::with_capacity(CHUNK, plain);
    let mut h = Hashing::default();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match plain.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        w.write_all(&buf[..n])?;
    }
    let mut out = w.finish()?;
    out.flush()?;
    Ok(h.finish())
}

/// A reader over chunks the async half receives (an `Err` chunk ends it with that error).
struct ChanReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    cur: bytes::Bytes,
}

impl Read for ChanReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len());
        out[..n].copy_from_slice(&self.cur[..n]);
        let _ = self.cur.split_to(n);
        Ok(n)
    }
}

/// Why a decryption stopped.
#[derive(Debug)]
pub enum DecryptFailure {
    /// The identity does not match any recipient of the file.
    WrongKey,
    /// The stored bytes are not an age file, or were damaged (the reason).
    Damaged(String),
    /// Writing the plaintext failed.
    Write(std::io::Error),
}

/// Decrypts the age stream arriving on `rx` with `ids` into `out`; returns the plaintext's
/// digest and `out`. Blocking: run on a blocking thread.
pub fn decrypt_into<W: Write>(
    rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    ids: &Identities,
    mut out: W,
) -> std::result::Result<(Digest256, W), DecryptFailure> {
    let input = BufReader::with_capacity(
        CHUNK,
        ChanReader {
            rx,
            cur: bytes::Bytes::new(),
        },
    );
    let dec = age::Decryptor::new_buffered(input)
        .map_err(|e| DecryptFailure::Damaged(format!("not a readable age file ({e})")))?;
    let mut r = dec
        .decrypt(ids.keys.iter().map(|k| k.as_ref() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => DecryptFailure::WrongKey,
            e => DecryptFailure::Damaged(e.to_string()),
        })?;
    let mut h = Hashing::default();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(DecryptFailure::Damaged(e.to_string())),
        };
        h.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(DecryptFailure::Write)?;
    }
    Ok((h.finish(), out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keypair() -> (age::x25519::Identity, String) {
        let id = age::x25519::Identity::generate();
        let r = id.to_public().to_string();
        (id, r)
    }

    fn ids_of(id: age::x25519::Identity) -> Identities {
        Identities {
            keys: Arc::new(vec![Box::new(id)]),
            file: "test".into(),
        }
    }

    fn roundtrip(
        data: &[u8],
        rec: &Recipients,
        ids: &Identities,
    ) -> std::result::Result<Vec<u8>, DecryptFailure> {
        let (tx, mut rx) = tokio::sync::mpsc::channel(64); // room for it all: one thread
        let plain = encrypt_into(data, rec, tx).unwrap();
        assert_eq!(plain.bytes, data.len() as u64);
        let mut cipher = Vec::new();
        while let Ok(c) = rx.try_recv() {
            cipher.extend(c);
        }
        assert!(!cipher
            .windows(data.len().min(16))
            .any(|w| w == &data[..data.len().min(16)]));
        let (tx2, rx2) = tokio::sync::mpsc::channel(cipher.len() / 1000 + 2);
        for c in cipher.chunks(1000) {
            tx2.try_send(Ok(bytes::Bytes::copy_from_slice(c))).unwrap();
        }
        drop(tx2);
        decrypt_into(rx2, ids, Vec::new()).map(|(d, out)| {
            assert_eq!(d, plain);
            out
        })
    }

    #[test]
    fn encrypts_and_decrypts_and_refuses_a_wrong_key() {
        let (id, r) = keypair();
        let (other, _) = keypair();
        let rec = Recipients::parse(&[r], "test").unwrap().unwrap();
        let data: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
        assert_eq!(roundtrip(&data, &rec, &ids_of(id)).unwrap(), data);
        assert!(matches!(
            roundtrip(&data, &rec, &ids_of(other)),
            Err(DecryptFailure::WrongKey)
        ));
    }

    #[test]
    fn bad_recipient_is_a_config_error() {
        let e = Recipients::parse(&["age1nope".into()], "dir /x").unwrap_err();
        assert!(e.to_string().contains("age-keygen -y"), "{e}");
        assert!(Recipients::parse(&[], "dir /x").unwrap().is_none());
    }
}
