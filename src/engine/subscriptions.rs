//! Logical-replication subscriptions inside a database that pgkeep must drop (a scratch
//! database, a replaced `_pre_restore_` one): `DROP DATABASE` refuses while a subscription
//! exists, so each is disabled, detached from its replication slot (`slot_name = NONE`: the
//! slot on the publisher belongs to the live subscription, never dropped from here) and
//! dropped first, from inside the database.

use tokio_postgres::Client;

use crate::engine::dbprops::quote_ident;
use crate::error::Result;
use crate::target::{self, Target};

/// The subscriptions of database `name` (as seen from any database of the server).
pub async fn in_database(admin: &Client, name: &str) -> Result<Vec<String>> {
    let rows = admin
        .query(
            "SELECT s.subname::text FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid
              WHERE d.datname = $1 ORDER BY 1",
            &[&name],
        )
        .await
        .map_err(target::sql_error)?;
    Ok(rows.into_iter().map(|r| r.get(0)).collect())
}

/// Disables, detaches and drops every subscription of database `name`; returns their names.
pub async fn detach_all(target: &dyn Target, admin: &Client, name: &str) -> Result<Vec<String>> {
    let subs = in_database(admin, name).await?;
    if subs.is_empty() {
        return Ok(subs);
    }
    let client = target::connect(target, name).await?;
    for s in &subs {
        let q = quote_ident(s);
        client
            .batch_execute(&format!(
                "ALTER SUBSCRIPTION {q} DISABLE; ALTER SUBSCRIPTION {q} SET (slot_name = NONE); DROP SUBSCRIPTION {q}"
            ))
            .await
            .map_err(target::sql_error)?;
    }
    Ok(subs)
}
