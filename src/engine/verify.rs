//! Verification: checksum, gzip stream, trailer, test restore into a scratch database,
//! row counts; the result is recorded in the manifest.

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::engine::catalog::BackupEntry;
use crate::engine::dbprops::DbProps;
use crate::engine::loader::{self, LoadOptions, Scratch};
use crate::engine::manifest::{Manifest, Verification};
use crate::engine::progress::{Phase, Sink};
use crate::engine::{precheck, scratch};
use crate::error::{Error, Result};
use crate::target::{self, Target};

/// A passed verification.
#[derive(Debug, Clone)]
pub struct VerifyOutcome {
    /// What was checked ("12 tables, 1,234,567 rows match the manifest").
    pub message: String,
}

/// Verifies `backup`. Ok only when every check passed; a failed check is an error whose
/// message says which. Either way the result is recorded in the manifest when there is one
/// (not when the check could not run at all: server unreachable, cancelled).
pub async fn verify(
    target: &dyn Target,
    backup: &BackupEntry,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<VerifyOutcome> {
    verify_with(target, backup, LoadOptions::default(), sink, cancel).await
}

/// [`verify`] with a choice of loader (`--jobs`).
pub async fn verify_with(
    target: &dyn Target,
    backup: &BackupEntry,
    load_opts: LoadOptions,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<VerifyOutcome> {
    let result = run_checks(target, backup, load_opts, sink, cancel).await;
    let verdict = match &result {
        Ok(o) => Some((true, o.message.clone())),
        Err(e) if is_verdict(e) => Some((false, e.to_string())),
        Err(_) => None,
    };
    if let Some((ok, message)) = verdict {
        record(backup, ok, message)?;
    }
    result
}

/// Errors that say something about the backup itself.
fn is_verdict(e: &Error) -> bool {
    match e {
        Error::Corrupt { .. } | Error::Incomplete(_) => true,
        Error::ToolFailed { tool, .. } => tool == "psql" || tool == "load",
        _ => false,
    }
}

/// Writes the verification into the backup's manifest (re-read, so nothing else is lost).
fn record(backup: &BackupEntry, ok: bool, message: String) -> Result<()> {
    if let Some(mut m) = Manifest::read_for(&backup.path)? {
        m.verification = Some(Verification {
            at: Utc::now(),
            ok,
            message,
        });
        m.write_for(&backup.path)?;
    }
    Ok(())
}

async fn run_checks(
    target: &dyn Target,
    backup: &BackupEntry,
    load_opts: LoadOptions,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<VerifyOutcome> {
    sink.phase(Phase::Check);
    precheck::check(backup, sink, cancel).await?;
    let admin = scratch::admin_connect(target).await?;
    if let Some(line) = scratch::dropped_line(&scratch::drop_abandoned(&admin).await?) {
        sink.log(line);
    }
    let like = match DbProps::read(&admin, &backup.database).await? {
        Some(p) => Some(p),
        None => DbProps::read(&admin, target.database()).await?,
    };
    sink.phase(Phase::Load);
    let scratch_db = scratch::scratch_name(&backup.database);
    scratch::create(&admin, &scratch_db, like.as_ref()).await?;
    let app_name = format!("pgkeep-verify-{}", std::process::id());
    let result = async {
        let into = Scratch {
            admin: &admin,
            name: &scratch_db,
            like: like.as_ref(),
        };
        // The scratch database is dropped right after: no statistics needed.
        let load_opts = LoadOptions {
            skip_analyze: true,
            ..load_opts
        };
        loader::load(target, &into, backup, load_opts, &app_name, sink, cancel).await?;
        sink.phase(Phase::Compare);
        compare_rows(target, &scratch_db, backup).await
    }
    .await;
    if let Err(e) = scratch::drop(&admin, &scratch_db).await {
        sink.log(format!(
            "could not drop scratch database {scratch_db} ({e}); `pgkeep cleanup` will"
        ));
    }
    result
}

/// Counts the rows of every table of the manifest in the scratch database.
async fn compare_rows(
    target: &dyn Target,
    scratch_db: &str,
    backup: &BackupEntry,
) -> Result<VerifyOutcome> {
    let Some(manifest) = &backup.manifest else {
        return Ok(VerifyOutcome {
            message: "test restore ok (no manifest: row counts not compared)".into(),
        });
    };
    let client = target::connect(target, scratch_db).await?;
    let mut tables = 0u64;
    let mut rows = 0u64;
    let mut wrong = Vec::new();
    for t in manifest.tables.iter() {
        let Some(expected) = t.rows else { continue };
        if !is_qualified_name(&t.name) {
            return Err(Error::Corrupt {
                name: backup.name.clone(),
                reason: format!(
                    "the manifest names a table {:?} that is not a qualified name",
                    t.name
                ),
            });
        }
        let sql = format!("SELECT count(*) FROM ONLY {}", t.name);
        let found = match client.query_one(&sql, &[]).await {
            Ok(r) => r.get::<_, i64>(0).max(0) as u64,
            Err(e) => {
                wrong.push(format!("{} is missing ({})", t.name, target::sql_error(e)));
                continue;
            }
        };
        tables += 1;
        rows += found;
        if found != expected {
            wrong.push(format!(
                "{} has {found} rows, the manifest says {expected}",
                t.name
            ));
        }
    }
    if !wrong.is_empty() {
        let more = if wrong.len() > 3 {
            format!(" (and {} more)", wrong.len() - 3)
        } else {
            String::new()
        };
        wrong.truncate(3);
        return Err(Error::Corrupt {
            name: backup.name.clone(),
            reason: format!(
                "the test restore does not match the manifest: {}{more}",
                wrong.join("; ")
            ),
        });
    }
    Ok(VerifyOutcome {
        message: format!("test restore ok: {tables} tables, {rows} rows match the manifest"),
    })
}

/// True for `schema.table` where each part is a plain lower-case identifier or a
/// double-quoted one (as pg_dump writes them in COPY statements).
pub fn is_qualified_name(s: &str) -> bool {
    fn ident(s: &str) -> Option<&str> {
        if let Some(rest) = s.strip_prefix('"') {
            let mut chars = rest.char_indices().peekable();
            while let Some((i, c)) = chars.next() {
                if c == '"' {
                    if chars.peek().map(|p| p.1) == Some('"') {
                        chars.next();
                    } else {
                        return (i > 0).then(|| &rest[i + 1..]);
                    }
                }
            }
            None
        } else {
            let end = s
                .find(|c: char| {
                    !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
                })
                .unwrap_or(s.len());
            let first = s.chars().next()?;
            (end > 0 && (first.is_ascii_lowercase() || first == '_')).then(|| &s[end..])
        }
    }
    ident(s)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(ident)
        .is_some_and(str::is_empty)
}

/// Databases left behind by restores: `<db>_pre_restore_<timestamp>` and abandoned scratch
/// databases (whose pgkeep process is gone and that nobody is connected to).
pub async fn leftover_databases(target: &dyn Target) -> Result<Vec<String>> {
    let admin = scratch::admin_connect(target).await?;
    let mut v = scratch::pre_restore_databases(&admin).await?;
    v.extend(scratch::abandoned(&admin).await?);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names() {
        for ok in [
            "public.t",
            "public.\"Invoice Lines\"",
            "\"My\"\"S\".x_1",
            "s.\"a.b\"",
        ] {
            assert!(is_qualified_name(ok), "{ok}");
        }
        for bad in [
            "t",
            "public.t; DROP DATABASE x",
            "public.\"x",
            "public.t, other.u",
            "\"\".t",
            "Public.t",
        ] {
            assert!(!is_qualified_name(bad), "{bad}");
        }
    }
}
