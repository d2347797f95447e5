//! Verification: checksum, gzip stream, trailer, test restore into a scratch database,
//! row counts; the result is recorded in the manifest.

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::engine::catalog::BackupEntry;
use crate::engine::dbprops::DbProps;
use crate::engine::loader::{self, LoadOptions, Scratch};
use crate::engine::manifest::{Manifest, Verification};
use crate::engine::progress::{Phase, Sink};
use crate::engine::{namebytes, precheck, scratch};
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
    if let (Ok(_), Some(enc)) = (
        &result,
        backup.manifest.as_ref().and_then(|m| m.encryption.as_ref()),
    ) {
        // Decrypted in full with the identity: the test decryption `doctor` asks for.
        let dir = backup.path.parent().unwrap_or(std::path::Path::new("."));
        if let Err(e) = crate::offsite::check::record_local(dir, &backup.name, &enc.encrypted_to) {
            sink.log(format!("could not record the test decryption: {e}"));
        }
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

/// Writes the verification into the backup's manifest (re-read, so nothing else is lost). A
/// damaged manifest (accepted with `--accept-unchecked`) is left as it is.
fn record(backup: &BackupEntry, ok: bool, message: String) -> Result<()> {
    if let Ok(Some(mut m)) = Manifest::read_for(&backup.path) {
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
    crate::engine::catalog::refuse_damaged(backup, "verify")?;
    crate::engine::localcrypt::check_key(backup)?;
    precheck::check(backup, sink, cancel).await?;
    // The globals file is part of the backup: missing or changed, the backup is damaged.
    let globals = crate::engine::globals_file::read(backup)?;
    let admin = scratch::admin_connect(target).await?;
    let (dropped, failed) = scratch::drop_abandoned(target, &admin).await?;
    if let Some(line) = scratch::dropped_line(&dropped) {
        sink.log(line);
    }
    failed.into_iter().for_each(|l| sink.log(l));
    // The scratch database gets the backup's encoding and locale (from its globals), else the
    // live database's.
    let like = match globals {
        Some(g) => Some(g.props),
        None => match DbProps::read(&admin, &backup.database).await? {
            Some(p) => Some(p),
            None => DbProps::read(&admin, target.database()).await?,
        },
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
    if let Err(e) = scratch::drop_in(target, &admin, &scratch_db).await {
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
    let config_filters = extension_config_filters(&client).await?;
    let mut tables = 0u64;
    let mut rows = 0u64;
    let mut wrong = Vec::new();
    for t in manifest.tables.iter() {
        let Some(expected) = t.rows else {
            wrong.push(format!(
                "{} is in the manifest's table list but the dump holds no data for it",
                t.name
            ));
            continue;
        };
        if !is_qualified_name(&t.name) {
            return Err(Error::Corrupt {
                name: backup.name.clone(),
                reason: format!(
                    "the manifest names a table {:?} that is not a qualified name",
                    t.name
                ),
            });
        }
        let found = if namebytes::has_escapes(&t.name) {
            count_by_bytes(&client, &t.name).await
        } else {
            // An extension's configuration table holds the rows the extension created too;
            // the dump (and so the manifest) holds only those its filter selects.
            let filter = config_filters.get(&t.name).map_or("", String::as_str);
            let sql = format!("SELECT count(*) FROM ONLY {} {filter}", t.name);
            client.query_one(&sql, &[]).await
        };
        let found = match found {
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
        message: format!(
            "test restore ok: {tables} tables, {} rows match the manifest",
            crate::format::count(rows)
        ),
    })
}

/// Extension configuration tables (`pg_extension_config_dump`, e.g. PostGIS's
/// `spatial_ref_sys`) with the filter pg_dump applies to their rows (`WHERE ...`, or empty).
async fn extension_config_filters(
    client: &tokio_postgres::Client,
) -> Result<std::collections::HashMap<String, String>> {
    let rows = client
        .query(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), coalesce(x.cond, '')
               FROM pg_extension e,
                    unnest(e.extconfig, e.extcondition) AS x(reloid, cond)
               JOIN pg_class c ON c.oid = x.reloid JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind = 'r'",
            &[],
        )
        .await
        .map_err(target::sql_error)?;
    Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Counts the rows of a table whose name is not valid UTF-8 (a SQL_ASCII database): found by
/// its name's bytes, counted server-side, so the name never crosses the connection as text.
async fn count_by_bytes(
    client: &tokio_postgres::Client,
    name: &str,
) -> std::result::Result<tokio_postgres::Row, tokio_postgres::Error> {
    let bytes = namebytes::encode(name);
    let rows = client
        .query(
            "SELECT (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM ONLY %s', c.oid::regclass), false, true, '')))[1]::text::bigint
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE convert_to(quote_ident(n.nspname) || '.' || quote_ident(c.relname), 'SQL_ASCII') = $1",
            &[&bytes],
        )
        .await?;
    match rows.into_iter().next() {
        Some(r) => Ok(r),
        // Not there: the same error the plain count gives.
        None => {
            client
                .query_one(
                    "SELECT count(*) FROM ONLY pg_catalog.pgkeep_missing_table",
                    &[],
                )
                .await
        }
    }
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
