//! Encrypted objects in a [`Store`]: uploads that encrypt while streaming (age on a blocking
//! thread, the upload on the async side) and downloads that decrypt while streaming, each
//! hashing the stored bytes and the plaintext.

use std::io::Read;
use std::path::Path;

use futures_util::StreamExt;
use object_store::buffered::BufWriter;
use tokio::io::AsyncWriteExt;

use super::crypt::{self, DecryptFailure, Digest256, Hashing, Identities, Recipients};
use super::Store;
use crate::error::{Error, Result};

/// The two digests of one encrypted object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedDigests {
    /// Of the bytes stored (ciphertext).
    pub stored: Digest256,
    /// Of the plaintext.
    pub plain: Digest256,
}

impl Store {
    /// Encrypts `plain` to `recipients` while uploading it as `name` (atomically).
    pub async fn put_encrypted(
        &self,
        name: &str,
        plain: impl Read + Send + 'static,
        recipients: &Recipients,
    ) -> Result<SealedDigests> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
        let rec = recipients.clone();
        let encrypting = tokio::task::spawn_blocking(move || crypt::encrypt_into(plain, &rec, tx));
        let mut w = BufWriter::new(self.inner.clone(), self.path(name));
        let mut stored = Hashing::default();
        let mut upload_error = None;
        while let Some(chunk) = rx.recv().await {
            stored.update(&chunk);
            if let Err(e) = w.write_all(&chunk).await {
                upload_error = Some(e);
                break;
            }
        }
        drop(rx);
        let encrypted = encrypting
            .await
            .map_err(|e| Error::Other(format!("the encryption thread failed: {e}")));
        let failure = match (upload_error, encrypted) {
            (Some(e), _) => Some(format!("uploading {name}: {e}")),
            (None, Err(e)) => Some(e.to_string()),
            (None, Ok(Err(e))) => Some(format!("encrypting {name}: {e}")),
            (None, Ok(Ok(plain))) => {
                w.shutdown().await.map_err(|e| {
                    Error::Other(format!("offsite {}: finishing {name}: {e}", self.label))
                })?;
                self.make_private_and_durable(name)?;
                return Ok(SealedDigests {
                    stored: stored.finish(),
                    plain,
                });
            }
        };
        let _ = w.abort().await;
        Err(Error::Other(format!(
            "offsite {}: {}",
            self.label,
            failure.unwrap_or_default()
        )))
    }

    /// Downloads `name`, decrypting it with `ids` while streaming into `out` (a file being
    /// written, or a sink for a test decryption); returns both digests and `out`.
    pub async fn get_decrypted<W: std::io::Write + Send + 'static>(
        &self,
        name: &str,
        ids: &Identities,
        out: W,
    ) -> Result<(SealedDigests, W)> {
        let got = self
            .inner
            .get(&self.path(name))
            .await
            .map_err(|e| self.err(&format!("reading {name}"), e))?;
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let ids2 = ids.clone();
        let decrypting = tokio::task::spawn_blocking(move || crypt::decrypt_into(rx, &ids2, out));
        let mut stream = got.into_stream();
        let mut stored = Hashing::default();
        let mut read_error = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => {
                    stored.update(&c);
                    if tx.send(Ok(c)).await.is_err() {
                        break; // the decryption stopped: its error says why
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other("download failed"))).await;
                    read_error = Some(self.err(&format!("reading {name}"), e));
                    break;
                }
            }
        }
        drop(tx);
        let decrypted = decrypting
            .await
            .map_err(|e| Error::Other(format!("the decryption thread failed: {e}")))?;
        if let Some(e) = read_error {
            return Err(e);
        }
        match decrypted {
            Ok((plain, out)) => Ok((
                SealedDigests {
                    stored: stored.finish(),
                    plain,
                },
                out,
            )),
            Err(DecryptFailure::WrongKey) => Err(Error::Refused(format!(
                "the identity {} cannot decrypt {name} from offsite {}: it was encrypted to other keys; give the identity of one of the recipients in encrypt_to",
                ids.file, self.label
            ))),
            Err(DecryptFailure::Damaged(why)) => Err(Error::Corrupt {
                name: name.to_string(),
                reason: format!("the offsite copy in {} does not decrypt: {why}", self.label),
            }),
            Err(DecryptFailure::Write(e)) => Err(Error::Io {
                context: format!("writing the decrypted {name}"),
                source: e,
            }),
        }
    }

    /// Decrypts `name` into a new private file `dest` (fsynced); returns both digests.
    pub async fn get_decrypted_file(
        &self,
        name: &str,
        ids: &Identities,
        dest: &Path,
    ) -> Result<SealedDigests> {
        let file = crate::engine::fsutil::create_private(dest)
            .map_err(|e| Error::io(format!("creating {}", dest.display()), e, dest))?;
        let out = std::io::BufWriter::with_capacity(1 << 20, file);
        let (d, out) = self.get_decrypted(name, ids, out).await?;
        let file = out
            .into_inner()
            .map_err(|e| Error::io(format!("writing {}", dest.display()), e.into_error(), dest))?;
        file.sync_all()
            .map_err(|e| Error::io(format!("syncing {}", dest.display()), e, dest))?;
        Ok(d)
    }
}
