//! What a backup learns from the server: facts before the dump (versions, tables with row
//! estimates), progress samples during it (`pg_stat_progress_copy` of the pg_dump backend),
//! and the manifest's table entries after it. Every query here is lock-free.

use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio_postgres::Client;

use crate::engine::dumpstream::Shared;
use crate::engine::manifest::TableEntry;
use crate::engine::progress::Progress;
use crate::error::Result;
use crate::target;

/// Server facts gathered before the dump starts.
pub struct ServerFacts {
    /// `server_version`.
    pub version: String,
    /// Major version.
    pub major: u32,
    /// `pg_database_size`.
    pub db_size: Option<u64>,
    /// (qualified name, reltuples, live tuples) of every user table.
    pub tables: Vec<(String, i64, u64)>,
}

/// One progress sample: the current table and its rows from `pg_stat_progress_copy` of the
/// pg_dump backend (found by its application_name); bytes from the stream.
pub async fn sample_progress(
    client: &Client,
    app_name: &str,
    shared: &Shared,
    rows_total: u64,
    started: Instant,
) -> Progress {
    let row = client
        .query_opt(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), p.tuples_processed
               FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid)
               LEFT JOIN pg_class c ON c.oid = p.relid
               LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE a.application_name = $1 LIMIT 1",
            &[&app_name],
        )
        .await
        .ok()
        .flatten();
    let finished = shared.rows_finished.load(Ordering::Relaxed);
    let (table, rows_done) = match row {
        Some(r) => {
            let t: Option<String> = r.get(0);
            let n: i64 = r.get(1);
            (t, finished + n.max(0) as u64)
        }
        None => (
            shared
                .table
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            finished,
        ),
    };
    Progress {
        bytes_done: shared.raw.load(Ordering::Relaxed),
        bytes_written: shared.written.load(Ordering::Relaxed),
        bytes_total: None,
        table,
        rows_done,
        rows_total,
        elapsed: started.elapsed(),
        ..Default::default()
    }
}

/// Rows a table contributes to the progress total: the larger of `pg_class.reltuples`
/// (-1 when never analysed, stale after bulk loads) and the statistics collector's live
/// tuple count; both are read without taking a lock.
pub fn progress_estimate(reltuples: i64, live_tuples: u64) -> u64 {
    (reltuples.max(0) as u64).max(live_tuples)
}

/// Server version, database size and every table with its row estimate and size, from the
/// catalogs only: nothing here takes a lock, so a locked table cannot stall the backup
/// before pg_dump starts.
pub async fn server_facts(client: &Client) -> Result<ServerFacts> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int,
                    pg_database_size(current_database())",
            &[],
        )
        .await
        .map_err(target::sql_error)?;
    let num: i32 = row.get(1);
    let size: i64 = row.get(2);
    let tables = client
        .query(
            // As bytes: a SQL_ASCII database may hold names that are not valid UTF-8, which the
            // server refuses to send as text (see `namebytes`).
            "SELECT convert_to(quote_ident(n.nspname) || '.' || quote_ident(c.relname),
                               CASE current_setting('server_encoding') WHEN 'SQL_ASCII' THEN 'SQL_ASCII' ELSE 'UTF8' END),
                    c.reltuples::bigint,
                    pg_stat_get_live_tuples(c.oid)
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
                AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                 WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                   AND d.deptype = 'e')
              ORDER BY 1",
            &[],
        )
        .await
        .map_err(target::sql_error)?
        .into_iter()
        .map(|r| {
            (
                crate::engine::namebytes::decode(r.get::<_, &[u8]>(0)),
                r.get::<_, i64>(1),
                r.get::<_, i64>(2).max(0) as u64,
            )
        })
        .collect();
    Ok(ServerFacts {
        version: row.get(0),
        major: (num / 10000) as u32,
        db_size: Some(size.max(0) as u64),
        tables,
    })
}

/// Why a finished dump cannot be complete: it copied no rows at all (no COPY statement)
/// while the server said its tables hold rows (a pg_dump that printed only its trailer).
pub fn empty_dump_reason(facts: &ServerFacts, counted: &[(String, u64)]) -> Option<String> {
    if !counted.is_empty() {
        return None;
    }
    let rows: u64 = facts
        .tables
        .iter()
        .map(|t| progress_estimate(t.1, t.2))
        .sum();
    (rows > 0).then(|| {
        format!(
            "the dump copied no table data although the database holds about {rows} rows in {} tables",
            facts.tables.len()
        )
    })
}

/// Manifest table entries: every table the server listed (with its estimate) and every table
/// the dump contained (with its counted rows).
pub fn table_entries(
    estimates: &[(String, i64, u64)],
    counted: &[(String, u64)],
) -> Vec<TableEntry> {
    let mut out: Vec<TableEntry> = counted
        .iter()
        .map(|(name, rows)| TableEntry {
            name: name.clone(),
            estimated_rows: estimates.iter().find(|e| &e.0 == name).map_or(-1, |e| e.1),
            rows: Some(*rows),
        })
        .collect();
    for (name, est, _) in estimates {
        if !out.iter().any(|t| &t.name == name) {
            out.push(TableEntry {
                name: name.clone(),
                estimated_rows: *est,
                rows: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_merge_counts_and_estimates() {
        let est = vec![
            ("public.a".to_string(), 10, 0),
            ("public.b".to_string(), -1, 0),
        ];
        let counted = vec![("public.a".to_string(), 12)];
        let e = table_entries(&est, &counted);
        assert_eq!(e[0].rows, Some(12));
        assert_eq!(e[0].estimated_rows, 10);
        assert_eq!(e[1].name, "public.b");
        assert_eq!(e[1].rows, None);
    }

    #[test]
    fn a_dump_without_data_of_a_database_with_rows_is_incomplete() {
        let facts = |rows: i64| ServerFacts {
            version: "15".into(),
            major: 15,
            db_size: None,
            tables: vec![("public.a".into(), rows, 0)],
        };
        assert!(empty_dump_reason(&facts(40), &[]).is_some());
        assert!(empty_dump_reason(&facts(0), &[]).is_none());
        assert!(empty_dump_reason(&facts(40), &[("public.a".into(), 0)]).is_none());
    }

    #[test]
    fn estimate_takes_the_larger_count() {
        assert_eq!(progress_estimate(-1, 100), 100);
        assert_eq!(progress_estimate(500, 100), 500);
        assert_eq!(progress_estimate(0, 0), 0);
    }
}
