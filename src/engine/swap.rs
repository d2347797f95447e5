//! Swapping a loaded scratch database in, atomically: one transaction gives the scratch
//! database the live one's properties, renames the live database to `<db>_pre_restore_<ts>`
//! and the scratch database to `<db>`. `ALTER DATABASE ... RENAME` is transactional, so a
//! failure or a killed pgkeep at any point leaves the live database where it was. Renaming
//! needs the live database free of sessions: they are ended first, and the rename itself
//! locks the database against new ones; a session that slips in between is retried.

use std::time::Duration;

use tokio_postgres::Client;

use crate::engine::dbprops::{quote_ident, DbProps};
use crate::engine::progress::Sink;
use crate::error::{Error, Result};
use crate::target;

/// How many times the swap is tried when new sessions keep arriving.
const ATTEMPTS: u32 = 5;

/// Runs `statements` in one transaction on `admin`; rolls back on error.
async fn in_transaction(
    admin: &Client,
    statements: &[String],
) -> std::result::Result<(), tokio_postgres::Error> {
    admin
        .batch_execute("BEGIN; SET LOCAL lock_timeout = '30s'")
        .await?;
    for s in statements {
        if let Err(e) = admin.batch_execute(s).await {
            let _ = admin.batch_execute("ROLLBACK").await;
            return Err(e);
        }
    }
    if let Err(e) = admin.batch_execute("COMMIT").await {
        let _ = admin.batch_execute("ROLLBACK").await;
        return Err(e);
    }
    Ok(())
}

/// Ends every other session on `database`; returns how many.
pub async fn end_sessions(admin: &Client, database: &str) -> Result<i64> {
    let row = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
              WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&database],
        )
        .await
        .map_err(target::sql_error)?;
    Ok(row.get(0))
}

/// Replaces `live` with `scratch`: `live` becomes `previous`, `scratch` becomes `live` with
/// `props` applied. All or nothing.
pub async fn swap(
    admin: &Client,
    live: &str,
    scratch: &str,
    previous: &str,
    props: &DbProps,
    sink: &Sink,
) -> Result<()> {
    let mut statements = props.apply_sql(scratch);
    statements.push(format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(live),
        quote_ident(previous)
    ));
    statements.push(format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(scratch),
        quote_ident(live)
    ));
    statements.extend(props.flags_sql(live));
    let mut attempt = 0;
    loop {
        attempt += 1;
        let ended = end_sessions(admin, live).await?;
        if ended > 0 {
            sink.log(format!("ended {ended} session(s) on {live}"));
        }
        match in_transaction(admin, &statements).await {
            Ok(()) => return Ok(()),
            Err(e) if is_in_use(&e) && attempt < ATTEMPTS => {
                sink.log(format!(
                    "{live} is still in use, retrying the swap ({attempt}/{ATTEMPTS})"
                ));
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => {
                return Err(Error::Sql(format!(
                    "the swap failed, {live} was left as it was: {}",
                    target::sql_error(e)
                        .to_string()
                        .trim_start_matches("database error: ")
                )))
            }
        }
    }
}

/// Gives `scratch` the properties and the new name `into` (a restore with `--into`).
pub async fn rename_into(
    admin: &Client,
    scratch: &str,
    into: &str,
    props: Option<&DbProps>,
) -> Result<()> {
    let mut statements = props.map(|p| p.apply_sql(scratch)).unwrap_or_default();
    statements.push(format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(scratch),
        quote_ident(into)
    ));
    statements.extend(props.map(|p| p.flags_sql(into)).unwrap_or_default());
    in_transaction(admin, &statements)
        .await
        .map_err(|e| match e.code().map(|c| c.code()) {
            Some("42P04") => Error::Refused(format!(
                "database \"{into}\" already exists: choose another name for --into"
            )),
            _ => target::sql_error(e),
        })
}

/// True when the error says the database is being accessed by other users.
fn is_in_use(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| c.code() == "55006")
}
