//! One offsite destination behind the object_store API: a directory (a mounted NAS or disk,
//! files mode 0600, fsynced) or an S3-compatible bucket. Credentials come from the config or
//! the AWS_* environment and are never printed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::crypt::Recipients;
use crate::config::OffsiteConfig;
use crate::error::{Error, Result};

/// An object in a store: its file name and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteObject {
    /// File name (no prefix).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
}

/// An opened offsite destination.
pub struct Store {
    pub(super) inner: Arc<dyn ObjectStore>,
    prefix: Option<ObjPath>,
    /// For directory targets: the directory (to set modes and fsync).
    local_dir: Option<PathBuf>,
    /// How it is shown: `dir /mnt/nas` or `s3://bucket/prefix` (never credentials).
    pub label: String,
    /// When set, everything stored here is encrypted to these age recipients.
    pub recipients: Option<Recipients>,
}

impl Store {
    /// Opens the destination a config entry describes (a directory target must exist).
    pub fn open(config: &OffsiteConfig) -> Result<Store> {
        let mut store = Store::open_storage(config)?;
        store.recipients =
            Recipients::parse(config.encrypt_to(), &format!("offsite {}", store.label))?;
        Ok(store)
    }

    fn open_storage(config: &OffsiteConfig) -> Result<Store> {
        match config {
            OffsiteConfig::Dir { path, .. } => {
                // object_store's staging files must never be readable by others, not even
                // briefly before the chmod below: pgkeep only ever creates private files.
                nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
                // Never created here: a missing directory usually is an unmounted NAS, and
                // creating it would put the "offsite" copy on the local disk.
                if !path.is_dir() {
                    return Err(Error::Config(format!(
                        "offsite directory {} does not exist: mount the disk or NAS there, or create it, then try again",
                        path.display()
                    )));
                }
                let fs = LocalFileSystem::new_with_prefix(path).map_err(|e| {
                    Error::Other(format!("offsite directory {}: {e}", path.display()))
                })?;
                Ok(Store {
                    inner: Arc::new(fs),
                    prefix: None,
                    local_dir: Some(path.clone()),
                    label: format!("dir {}", path.display()),
                    recipients: None,
                })
            }
            OffsiteConfig::S3 {
                endpoint,
                region,
                bucket,
                prefix,
                access_key_id,
                secret_access_key,
                ..
            } => {
                let retry = object_store::RetryConfig {
                    max_retries: 5,
                    retry_timeout: std::time::Duration::from_secs(60),
                    ..Default::default()
                };
                let mut b = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retry);
                if let Some(e) = endpoint.as_deref().filter(|e| !e.is_empty()) {
                    b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
                }
                if let Some(r) = region {
                    b = b.with_region(r);
                }
                if let Some(k) = access_key_id {
                    b = b.with_access_key_id(k);
                }
                if let Some(s) = secret_access_key {
                    b = b.with_secret_access_key(s);
                }
                let s3 = b.build().map_err(|e| {
                    Error::Config(format!(
                        "offsite s3 bucket {bucket}: {} (set endpoint/region/keys under [[offsite]] or AWS_* variables)",
                        one_line(&e)
                    ))
                })?;
                let prefix = prefix.trim_matches('/');
                Ok(Store {
                    inner: Arc::new(s3),
                    prefix: (!prefix.is_empty()).then(|| ObjPath::from(prefix)),
                    local_dir: None,
                    label: format!("s3://{bucket}/{prefix}"),
                    recipients: None,
                })
            }
        }
    }

    /// For a directory target on the same file system as `backup_dir`: a warning that this
    /// copy would not survive the loss of that disk.
    pub fn same_disk_warning(&self, backup_dir: &Path) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        let dir = self.local_dir.as_ref()?;
        let a = std::fs::metadata(dir).ok()?.dev();
        let b = std::fs::metadata(backup_dir).ok()?.dev();
        (a == b).then(|| {
            format!(
                "offsite {} is on the same disk as {}: it will not survive that disk's loss (mount a NAS or another disk there)",
                self.label,
                backup_dir.display()
            )
        })
    }

    pub(super) fn path(&self, name: &str) -> ObjPath {
        match &self.prefix {
            Some(p) => p.child(name),
            None => ObjPath::from(name),
        }
    }

    pub(super) fn err(&self, what: &str, e: object_store::Error) -> Error {
        let hint = match (&e, self.local_dir.is_some()) {
            (_, true) => "",
            (object_store::Error::NotFound { .. }, false) => " (does the bucket exist?)",
            _ => " (check endpoint, bucket and credentials under [[offsite]] in pgkeep.toml)",
        };
        Error::Other(format!(
            "offsite {}: {what}: {}{hint}",
            self.label,
            one_line(&e)
        ))
    }

    /// Uploads a local file as `name` (atomically: it appears only when complete).
    pub async fn put_file(&self, name: &str, local: &Path) -> Result<()> {
        let mut file = tokio::fs::File::open(local)
            .await
            .map_err(|e| Error::io(format!("opening {}", local.display()), e, local))?;
        let mut w = BufWriter::new(self.inner.clone(), self.path(name));
        let copy = tokio::io::copy(&mut file, &mut w).await;
        if let Err(e) = copy {
            let _ = w.abort().await;
            return Err(Error::Other(format!(
                "offsite {}: uploading {name}: {e}",
                self.label
            )));
        }
        w.shutdown()
            .await
            .map_err(|e| Error::Other(format!("offsite {}: finishing {name}: {e}", self.label)))?;
        self.make_private_and_durable(name)
    }

    /// Stores small bytes (a manifest) as `name`.
    pub async fn put_bytes(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        self.inner
            .put(&self.path(name), PutPayload::from(bytes))
            .await
            .map_err(|e| self.err(&format!("writing {name}"), e))?;
        self.make_private_and_durable(name)
    }

    pub(super) fn make_private_and_durable(&self, name: &str) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let Some(dir) = &self.local_dir else {
            return Ok(());
        };
        let p = dir.join(name);
        let res = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
            .and_then(|_| std::fs::File::open(&p)?.sync_all())
            .and_then(|_| crate::engine::fsutil::fsync_dir(dir));
        res.map_err(|e| Error::io(format!("securing {}", p.display()), e, &p))
    }

    /// Reads `name` back and returns its sha256 (lowercase hex).
    pub async fn sha256(&self, name: &str) -> Result<String> {
        let got = self
            .inner
            .get(&self.path(name))
            .await
            .map_err(|e| self.err(&format!("reading {name}"), e))?;
        let mut stream = got.into_stream();
        let mut h = Sha256::new();
        while let Some(chunk) = stream.next().await {
            h.update(chunk.map_err(|e| self.err(&format!("reading {name}"), e))?);
        }
        Ok(hex::encode(h.finalize()))
    }

    /// Reads small objects (manifests) whole; None when missing.
    pub async fn get_bytes(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match self.inner.get(&self.path(name)).await {
            Ok(r) => Ok(Some(
                r.bytes()
                    .await
                    .map_err(|e| self.err(&format!("reading {name}"), e))?
                    .to_vec(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(&format!("reading {name}"), e)),
        }
    }

    /// Downloads `name` into `dest` (created 0600, must not exist); returns its sha256.
    pub async fn get_file(&self, name: &str, dest: &Path) -> Result<String> {
        let got = self
            .inner
            .get(&self.path(name))
            .await
            .map_err(|e| self.err(&format!("reading {name}"), e))?;
        let file = crate::engine::fsutil::create_private(dest)
            .map_err(|e| Error::io(format!("creating {}", dest.display()), e, dest))?;
        let mut file = tokio::fs::File::from_std(file);
        let mut stream = got.into_stream();
        let mut h = Sha256::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.err(&format!("reading {name}"), e))?;
            h.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| Error::io(format!("writing {}", dest.display()), e, dest))?;
        }
        file.sync_all()
            .await
            .map_err(|e| Error::io(format!("syncing {}", dest.display()), e, dest))?;
        Ok(hex::encode(h.finalize()))
    }

    /// Every object under the prefix (names only, no sub-folders).
    pub async fn list(&self) -> Result<Vec<RemoteObject>> {
        let mut out = Vec::new();
        let mut stream = self.inner.list(self.prefix.as_ref());
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(|e| self.err("listing", e))?;
            let Some(name) = meta.location.filename() else {
                continue;
            };
            let direct = match &self.prefix {
                Some(p) => meta
                    .location
                    .prefix_match(p)
                    .map(|parts| parts.count() == 1)
                    .unwrap_or(false),
                None => meta.location.parts().count() == 1,
            };
            if direct {
                out.push(RemoteObject {
                    name: name.to_string(),
                    size: meta.size,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes the staging files of uploads a killed push abandoned (`<name>#<digits>` in a
    /// directory destination, untouched for a minute, so a push running now keeps its own);
    /// returns their names. S3 destinations expire incomplete uploads by bucket lifecycle.
    pub fn remove_abandoned_uploads(&self) -> Vec<String> {
        let Some(dir) = &self.local_dir else {
            return Vec::new();
        };
        let Ok(rd) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut removed = Vec::new();
        for ent in rd.flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            let staged = name.rsplit_once('#').is_some_and(|(base, n)| {
                !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
            });
            let quiet = ent
                .metadata()
                .ok()
                .filter(|m| m.is_file())
                .and_then(|m| m.modified().ok())
                .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age >= std::time::Duration::from_secs(60));
            if staged && quiet && std::fs::remove_file(ent.path()).is_ok() {
                removed.push(name);
            }
        }
        removed.sort();
        removed
    }

    /// Deletes `name` (missing is fine).
    pub async fn delete(&self, name: &str) -> Result<()> {
        match self.inner.delete(&self.path(name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(&format!("deleting {name}"), e)),
        }
    }
}

/// sha256 of a local file (lowercase hex).
pub async fn local_sha256(path: &Path) -> Result<String> {
    let mut f = tokio::fs::File::open(path)
        .await
        .map_err(|e| Error::io(format!("opening {}", path.display()), e, path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .await
            .map_err(|e| Error::io(format!("reading {}", path.display()), e, path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn one_line(e: &dyn std::error::Error) -> String {
    e.to_string().replace('\n', " ")
}
