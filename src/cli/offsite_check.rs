//! `pgkeep offsite check [BACKUP] [--identity FILE]`: every offsite copy (or one) checked
//! against its sha256 without the key; with the identity, the newest encrypted copy of each
//! destination (or the one named) is decrypted in full and the test decryption recorded.
//! Without a BACKUP, base backups and WAL are checked too (see [`crate::offsite::physical_check`]).

use color_eyre::eyre::{bail, Result};

use super::Context;
use crate::offsite::check::{self, DecryptionCheck};
use crate::offsite::{self, Identities, Store};

/// Runs the check; exit 1 when a copy failed.
pub async fn run(
    ctx: &Context,
    stores: &[Store],
    backup: Option<&str>,
    ids: Option<&Identities>,
) -> Result<i32> {
    let mut failed = 0;
    let mut decrypted_any = false;
    for store in stores {
        let mut names: Vec<String> = offsite::remote_backups(&store.list().await?)
            .into_iter()
            .map(|o| o.name)
            .filter(|n| backup.is_none_or(|b| b == n))
            .collect();
        // newest first: the test decryption takes the newest copy
        names
            .sort_by_key(|n| std::cmp::Reverse(crate::engine::catalog::parse_name(n).map(|p| p.1)));
        if names.is_empty() {
            println!(
                "{}: no copies{}",
                store.label,
                backup.map(|b| format!(" of {b}")).unwrap_or_default()
            );
            continue;
        }
        let mut decrypted_here = false;
        for name in &names {
            let with_key = if decrypted_here { None } else { ids };
            match check::check_copy(store, name, with_key).await {
                Ok(c) => {
                    let how = match (c.encrypted, c.decrypted) {
                        (false, _) => "ok (plain, sha256 matches its manifest)",
                        (true, false) => "ok (encrypted; stored sha256 matches its envelope)",
                        (true, true) => {
                            "ok (encrypted; decrypted in full, plaintext sha256 matches)"
                        }
                    };
                    println!("{}: {name} {how}", store.label);
                    if c.decrypted {
                        decrypted_here = true;
                        decrypted_any = true;
                        check::record(
                            &ctx.config.backup_dir,
                            DecryptionCheck {
                                at: chrono::Utc::now(),
                                destination: store.label.clone(),
                                backup: name.clone(),
                                recipients: c.recipients,
                            },
                        )?;
                    }
                }
                Err(e @ crate::Error::Refused(_)) => bail!(e),
                Err(e) => {
                    failed += 1;
                    println!("{}: {name} FAILED: {e}", store.label);
                }
            }
        }
    }
    let mut damaged = 0;
    if backup.is_none() {
        for store in stores {
            damaged += super::offsite_check_physical::report(store).await?;
        }
    }
    if decrypted_any {
        println!(
            "test decryption recorded in {}",
            ctx.config.backup_dir.join(check::RECORD_FILE).display()
        );
    } else if ids.is_some() {
        println!("no encrypted copy to test-decrypt");
    }
    if damaged > 0 {
        bail!(
            "{} offsite copies failed the check: delete the damaged objects named above at the destination, then run `pgkeep offsite push` to copy them again from here",
            failed + damaged
        );
    }
    if failed > 0 {
        bail!(
            "{failed} offsite copies failed the check: push them again with `pgkeep offsite push`"
        );
    }
    Ok(0)
}
