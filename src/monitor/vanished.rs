//! The vanished-data alarm: the live database compared with the newest backup's manifest.
//! After `docker compose down -v` and `up -d` the database is empty and everything else looks
//! healthy; this check turns red when tables or most rows the last backup held are gone, with
//! the fix `pgkeep restore latest`. Estimates are read lock-free from the catalogs; a drop in
//! rows is confirmed with exact counts before it is reported.

use tokio_postgres::Client;

use super::checks::Check;
use super::doctor_checks::{fail, pass};
use crate::engine::backupinfo::{progress_estimate, server_facts};
use crate::engine::catalog::{BackupEntry, SAFETY_LABEL};
use crate::engine::manifest::Manifest;

/// The check's name.
pub const NAME: &str = "live data";
/// The fix shown when data vanished.
pub const FIX: &str = "pgkeep restore latest";
/// Row losses below this many rows are not judged (small databases change a lot).
const MIN_ROWS: u64 = 100;

/// The newest regular backup of `database` with a manifest (safety backups never count: a
/// safety backup of an emptied database would make the loss look like the normal state).
pub fn reference<'a>(entries: &'a [BackupEntry], database: &str) -> Option<&'a BackupEntry> {
    entries.iter().find(|e| {
        e.status.is_restorable()
            && e.database == database
            && e.label.as_deref() != Some(SAFETY_LABEL)
            && e.manifest.is_some()
    })
}

/// What is missing in the live database compared with `manifest`, given the live tables
/// with their estimated rows and an exact row count when one was taken. None when fine.
pub fn judge(
    manifest: &Manifest,
    live: &[(String, u64)],
    exact_rows: Option<u64>,
) -> Option<String> {
    let backed: Vec<&str> = manifest.tables.iter().map(|t| t.name.as_str()).collect();
    if backed.is_empty() {
        return None;
    }
    let missing: Vec<&str> = backed
        .iter()
        .copied()
        .filter(|n| !live.iter().any(|(l, _)| l == n))
        .collect();
    if missing.len() * 2 >= backed.len() {
        let shown: Vec<&str> = missing.iter().copied().take(3).collect();
        return Some(format!(
            "{} of the {} tables the last backup holds are gone from the live database ({}{})",
            missing.len(),
            backed.len(),
            shown.join(", "),
            if missing.len() > 3 { ", …" } else { "" }
        ));
    }
    let had = manifest.total_rows();
    let now = exact_rows.unwrap_or_else(|| live.iter().map(|(_, r)| *r).sum());
    if had >= MIN_ROWS && now * 2 < had {
        return Some(format!(
            "the live database holds {now} rows, the last backup {had}: most rows are gone"
        ));
    }
    None
}

/// Compares the live database behind `client` with the newest backup of `database`; None
/// when there is no backup to compare with.
pub async fn check(client: &Client, entries: &[BackupEntry], database: &str) -> Option<Check> {
    let newest = reference(entries, database)?;
    let manifest = newest.manifest.as_ref()?;
    let facts = server_facts(client).await.ok()?;
    let live: Vec<(String, u64)> = facts
        .tables
        .iter()
        .map(|(n, rel, live)| (n.clone(), progress_estimate(*rel, *live)))
        .collect();
    let mut verdict = judge(manifest, &live, None);
    if verdict.is_some() && !live.is_empty() {
        // Estimates lag after a crash or a bulk load: confirm with exact counts.
        let exact = exact_rows(client, &facts.tables).await;
        verdict = judge(manifest, &live, exact);
    }
    Some(match verdict {
        Some(what) => fail(
            NAME,
            format!("DATA MAY BE LOST: {what} (newest backup {})", newest.name),
            Some(FIX.to_string()),
        ),
        None => pass(
            NAME,
            format!(
                "the live database holds the tables of the newest backup ({})",
                newest.name
            ),
        ),
    })
}

async fn exact_rows(client: &Client, tables: &[(String, i64, u64)]) -> Option<u64> {
    let mut total = 0u64;
    for (name, _, _) in tables {
        if !crate::engine::verify::is_qualified_name(name) {
            return None;
        }
        let row = client
            .query_one(&format!("SELECT count(*) FROM ONLY {name}"), &[])
            .await
            .ok()?;
        total += row.get::<_, i64>(0).max(0) as u64;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::manifest::TableEntry;

    fn manifest(tables: &[(&str, u64)]) -> Manifest {
        let t = chrono::Utc::now();
        Manifest {
            format_version: 1,
            database: "shop".into(),
            server_version: "15".into(),
            pg_dump_version: "15".into(),
            started_at: t,
            finished_at: t,
            duration_secs: 1.0,
            raw_bytes: 1,
            compressed_bytes: 1,
            sha256: String::new(),
            compression_level: 6,
            label: None,
            pgkeep_version: "0".into(),
            target: "direct".into(),
            database_size_bytes: None,
            tables: tables
                .iter()
                .map(|(n, r)| TableEntry {
                    name: n.to_string(),
                    estimated_rows: *r as i64,
                    rows: Some(*r),
                })
                .collect(),
            verification: None,
            globals: None,
            large_objects: None,
            warnings: Vec::new(),
            encryption: None,
        }
    }

    #[test]
    fn an_emptied_database_is_an_alarm_a_normal_one_is_not() {
        let m = manifest(&[("public.a", 90_000), ("public.b", 9_243)]);
        let gone = judge(&m, &[], None).unwrap();
        assert!(gone.contains("2 of the 2 tables"), "{gone}");
        let same = vec![
            ("public.a".to_string(), 90_100),
            ("public.b".to_string(), 9_000),
        ];
        assert_eq!(judge(&m, &same, None), None);
        let emptied = vec![("public.a".to_string(), 0), ("public.b".to_string(), 0)];
        assert!(judge(&m, &emptied, Some(12)).unwrap().contains("most rows"));
        assert_eq!(judge(&m, &emptied, Some(99_000)), None, "exact counts win");
        let small = manifest(&[("public.a", 10)]);
        assert_eq!(judge(&small, &[("public.a".to_string(), 0)], Some(0)), None);
    }
}
