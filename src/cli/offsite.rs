//! `pgkeep offsite`: copy backups to offsite storage, list where each lives, fetch one back.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use color_eyre::eyre::{bail, Result};

use super::Context;
use crate::engine::catalog;
use crate::offsite::{self, Identities, Store};

/// Arguments of `pgkeep offsite`.
#[derive(Debug, Args)]
pub struct OffsiteArgs {
    /// What to do
    #[command(subcommand)]
    pub action: OffsiteAction,
}

/// The offsite actions.
#[derive(Debug, Subcommand)]
pub enum OffsiteAction {
    /// Copy BACKUP (or every backup not yet offsite) to each destination, checking sha256
    Push {
        /// A backup file name, or `latest`
        backup: Option<String>,
    },
    /// Every backup and where it lives: here, offsite, or both
    List,
    /// Fetch a backup (and its manifest) from offsite into the backup directory
    Pull {
        /// The backup's file name
        name: String,
        /// age identity file to decrypt an encrypted copy (kept off this server)
        #[arg(long, env = "PGKEEP_AGE_IDENTITY", value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Check the offsite copies against their checksums (no key needed); with --identity,
    /// also decrypt the newest encrypted copy in full and record that test decryption
    Check {
        /// A backup file name (default: every copy)
        backup: Option<String>,
        /// age identity file for a test decryption (kept off this server)
        #[arg(long, env = "PGKEEP_AGE_IDENTITY", value_name = "FILE")]
        identity: Option<PathBuf>,
    },
}

/// Runs `pgkeep offsite`.
pub async fn run(ctx: &Context, args: OffsiteArgs) -> Result<i32> {
    if ctx.config.offsite.is_empty() {
        bail!("no offsite destination configured: add an [[offsite]] entry (kind = \"dir\" with path, or kind = \"s3\" with bucket) to pgkeep.toml");
    }
    let stores = offsite::open_all(&ctx.config)?;
    let dir = &ctx.config.backup_dir;
    match args.action {
        OffsiteAction::Push { backup } => {
            let entries = catalog::scan(dir)?;
            for store in &stores {
                if let Some(w) = store.same_disk_warning(dir) {
                    eprintln!("pgkeep: warning: {w}");
                }
                match &backup {
                    Some(spec) => {
                        let entry = catalog::resolve(dir, spec, None)?;
                        let sha = offsite::push(store, &entry).await?;
                        match store.recipients {
                            Some(_) => println!(
                                "copied {} to {} encrypted (stored bytes read back and checked; plaintext sha256 {})",
                                entry.name, store.label, sha
                            ),
                            None => println!(
                                "copied {} to {} (sha256 {} read back and checked)",
                                entry.name, store.label, sha
                            ),
                        }
                    }
                    None => {
                        let pushed = offsite::push_missing(store, &entries).await?;
                        let how = if store.recipients.is_some() {
                            " encrypted"
                        } else {
                            ""
                        };
                        for n in &pushed.copied {
                            println!("copied {n} to {}{how}", store.label);
                        }
                        for n in &pushed.resealed {
                            println!("deleted the clear copy of {n} at {} (made before encrypt_to; the encrypted one is there)", store.label);
                        }
                        println!(
                            "{}: {} copied, every backup here is there",
                            store.label,
                            pushed.copied.len()
                        );
                        let phys =
                            crate::offsite::physical::push(store, dir, &ctx.config.wal_dir())
                                .await?;
                        if !phys.bases.is_empty() || phys.wal_files > 0 {
                            println!(
                                "{}: {} base backup(s) and {} WAL file(s) copied",
                                store.label,
                                phys.bases.len(),
                                phys.wal_files
                            );
                        }
                        if phys.resealed > 0 {
                            println!(
                                "{}: {} clear base backup and WAL copies (made before encrypt_to) replaced by encrypted ones",
                                store.label, phys.resealed
                            );
                        }
                        let left = pushed.left_clear.len() + phys.left_clear;
                        if left > 0 {
                            println!(
                                "{}: {left} copies made before encrypt_to are still in clear there: this host no longer has them to encrypt; they stay until retention removes them there (or delete them by hand)",
                                store.label
                            );
                        }
                    }
                }
            }
            Ok(0)
        }
        OffsiteAction::List => {
            let local = catalog::scan(dir)?;
            let mut remote = Vec::new();
            let mut sealed = std::collections::HashSet::new();
            for s in &stores {
                let objects = s.list().await?;
                for o in &objects {
                    if let Some(b) = o.name.strip_suffix(offsite::envelope::ENVELOPE_SUFFIX) {
                        sealed.insert((s.label.clone(), b.to_string()));
                    }
                }
                remote.push((s.label.clone(), objects));
            }
            let locs = offsite::locations(&local, &remote);
            if locs.is_empty() {
                println!("no backups here or offsite");
            }
            for l in locs {
                let whereabouts = if l.offsite.is_empty() {
                    String::new()
                } else {
                    let labels: Vec<String> = l
                        .offsite
                        .iter()
                        .map(|d| match sealed.contains(&(d.clone(), l.name.clone())) {
                            true => format!("{d}, encrypted"),
                            false => d.clone(),
                        })
                        .collect();
                    format!("  ({})", labels.join("; "))
                };
                println!("{:<8} {}{whereabouts}", l.word(), l.name);
            }
            Ok(0)
        }
        OffsiteAction::Pull { name, identity } => {
            let ids = Identities::from_arg_or_env(identity.as_deref())?;
            let store = find_holder(&stores, &name).await?;
            let pulled = offsite::pull(store, &name, dir, ids.as_ref()).await?;
            let check = if pulled.decrypted {
                "decrypted; sha256 of the stored and the decrypted bytes match its envelope"
                    .to_string()
            } else if pulled.checked {
                "sha256 matches its manifest".to_string()
            } else {
                format!(
                    "no manifest offsite, so nothing to check against; sha256 {}",
                    pulled.sha256
                )
            };
            println!(
                "fetched {} from {} ({check})",
                pulled.path.display(),
                store.label
            );
            Ok(0)
        }
        OffsiteAction::Check { backup, identity } => {
            let ids = Identities::from_arg_or_env(identity.as_deref())?;
            super::offsite_check::run(ctx, &stores, backup.as_deref(), ids.as_ref()).await
        }
    }
}

/// For `restore NAME` of a backup that is only offsite: fetches it (decrypting with the
/// identity when the copy is encrypted) and returns it from the local catalog.
pub async fn fetch_for_restore(
    ctx: &Context,
    name: &str,
    identity: Option<&std::path::Path>,
) -> Result<catalog::BackupEntry> {
    let ids = Identities::from_arg_or_env(identity)?;
    let stores = offsite::open_all(&ctx.config)?;
    let store = find_holder(&stores, name).await?;
    let pulled = offsite::pull(store, name, &ctx.config.backup_dir, ids.as_ref()).await?;
    eprintln!(
        "pgkeep: fetched {} from {}{}",
        name,
        store.label,
        if pulled.decrypted {
            " (decrypted, checked)"
        } else {
            ""
        }
    );
    Ok(catalog::resolve(&ctx.config.backup_dir, name, None)?)
}

async fn find_holder<'a>(stores: &'a [Store], name: &str) -> Result<&'a Store> {
    for s in stores {
        if offsite::remote_backups(&s.list().await?)
            .iter()
            .any(|o| o.name == name)
        {
            return Ok(s);
        }
    }
    bail!("no offsite copy named {name}: run `pgkeep offsite list` to see what is there")
}
