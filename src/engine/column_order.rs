//! What plain pg_dump changes about inheritance: it writes a child table as
//! `CREATE TABLE child (<its own columns>) INHERITS (parents)`, so after a restore the inherited
//! columns come first, in the parents' order, and the child's own columns after them. A child
//! whose columns were in another order (a column added to the parent after the child was made,
//! a local column declared before an inherited one) comes back with its columns reordered: a
//! `SELECT *` or an `INSERT` without a column list then sees them differently. The backup names
//! those tables in one line. Partitions keep their order (pg_dump writes all their columns).

use tokio_postgres::Client;

/// Child tables whose column order a restore changes, as `schema.table`, each quoted as needed.
const REORDERED: &str = "
WITH kids AS (
  SELECT DISTINCT i.inhrelid AS rel FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
   WHERE NOT c.relispartition
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                        AND d.objid = c.oid AND d.deptype = 'e')),
restored AS (
  -- The parents' columns in INHERITS order (a name once), then the child's own columns.
  SELECT k.rel, a.attname, min(i.inhseqno::bigint * 100000 + pa.attnum) AS pos
    FROM kids k JOIN pg_inherits i ON i.inhrelid = k.rel
    JOIN pg_attribute pa ON pa.attrelid = i.inhparent AND pa.attnum > 0 AND NOT pa.attisdropped
    JOIN pg_attribute a ON a.attrelid = k.rel AND a.attname = pa.attname
   GROUP BY 1, 2
  UNION ALL
  SELECT k.rel, a.attname, 1000000000 + a.attnum
    FROM kids k JOIN pg_attribute a ON a.attrelid = k.rel
   WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attinhcount = 0)
SELECT format('%I.%I', n.nspname, c.relname)
  FROM kids k JOIN pg_class c ON c.oid = k.rel JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE ARRAY(SELECT r.attname FROM restored r WHERE r.rel = k.rel ORDER BY r.pos)
       IS DISTINCT FROM
       ARRAY(SELECT a.attname FROM pg_attribute a
              WHERE a.attrelid = k.rel AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)
 ORDER BY 1";

/// How many table names the warning lists before "and N more".
const LISTED: usize = 10;

/// One warning line naming the child tables whose column order a restore changes, or None
/// when there are none (or the catalog cannot be read).
pub async fn reordered_columns_warning(client: &Client) -> Option<String> {
    let rows = client.query(REORDERED, &[]).await.ok()?;
    let names: Vec<String> = rows.iter().filter_map(|r| r.try_get(0).ok()).collect();
    (!names.is_empty()).then(|| warning_line(&names))
}

/// The warning for the tables `names`.
fn warning_line(names: &[String]) -> String {
    let more = match names.len().saturating_sub(LISTED) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    format!(
        "warning: {} inheriting table(s) come back with their columns in another order (pg_dump creates inherited columns first): {}{more}; name the columns in SELECT and INSERT rather than relying on their order",
        names.len(),
        names[..names.len().min(LISTED)].join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_list_is_cut_in_one_line() {
        let names: Vec<String> = (0..12).map(|i| format!("public.t{i}")).collect();
        let line = warning_line(&names);
        assert!(!line.contains('\n'));
        assert!(
            line.starts_with("warning: 12 inheriting table(s)"),
            "{line}"
        );
        assert!(line.contains("public.t9 and 2 more;"), "{line}");
        assert!(!line.contains("public.t10"), "{line}");
    }
}
