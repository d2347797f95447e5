//! WAL still in the live server's `pg_wal` that the archive does not have (yet): listed with
//! `pg_ls_waldir()` and read with `pg_read_binary_file()`, so a point-in-time restore can
//! use finished segments the archiver has not copied, without writing into the archive.

use std::collections::BTreeSet;
use std::path::Path;

use tokio_postgres::Client;

use crate::engine::fsutil;
use crate::error::{Error, IoContext, Result};
use crate::target::sql_error;

/// Names of the segments in the server's `pg_wal` (empty when the role may not list it).
pub async fn server_segments(client: &Client) -> BTreeSet<String> {
    match client
        .query(
            "SELECT name FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'",
            &[],
        )
        .await
    {
        Ok(rows) => rows.iter().map(|r| r.get::<_, String>(0)).collect(),
        Err(_) => BTreeSet::new(),
    }
}

/// Copies segment `name` from the server's `pg_wal` into `dir/name` (0600, fsynced).
pub async fn fetch(client: &Client, name: &str, dir: &Path) -> Result<()> {
    let row = client
        .query_one("SELECT pg_read_binary_file('pg_wal/' || $1)", &[&name])
        .await
        .map_err(|e| match sql_error(e) {
            Error::Sql(m) => Error::Refused(format!(
                "cannot read WAL segment {name} from the server ({m}): run as a superuser or a role with pg_read_server_files, or fix the archive"
            )),
            e => e,
        })?;
    let bytes: Vec<u8> = row.get(0);
    let path = dir.join(name);
    fsutil::write_atomic(&path, &bytes).ctx(|| format!("writing {}", path.display()), &path)
}
