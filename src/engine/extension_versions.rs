//! What plain pg_dump loses about extensions: it writes `CREATE EXTENSION <name>` without a
//! version, so a restore (on this server or a fresh one) installs the server's default version,
//! not the one the database runs. The backup says so in one line instead of staying silent.

use tokio_postgres::Client;

/// One warning line naming the installed extensions whose version is not the server's
/// default (`pg_available_extensions.default_version`), or None when all are at it (or the
/// catalog cannot be read).
pub async fn old_extensions_warning(client: &Client) -> Option<String> {
    let rows = client
        .query(
            "SELECT format('%s %s (default %s)', e.extname, e.extversion, a.default_version)
               FROM pg_extension e JOIN pg_available_extensions a ON a.name = e.extname
              WHERE a.default_version IS NOT NULL AND e.extversion <> a.default_version
              ORDER BY e.extname",
            &[],
        )
        .await
        .ok()?;
    let found: Vec<String> = rows.iter().filter_map(|r| r.try_get(0).ok()).collect();
    (!found.is_empty()).then(|| warning_line(&found))
}

/// The warning for `found` ("name version (default version)" items).
fn warning_line(found: &[String]) -> String {
    format!(
        "warning: {} extension(s) not at the server's default version come back at the default version on restore (pg_dump keeps no extension version): {}; ALTER EXTENSION <name> UPDATE brings the database to the version a restore creates",
        found.len(),
        found.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_names_each_extension_and_both_versions() {
        let line = warning_line(&[
            "hstore 1.4 (default 1.8)".into(),
            "pg_trgm 1.3 (default 1.6)".into(),
        ]);
        assert!(!line.contains('\n'));
        assert!(line.starts_with("warning: 2 extension(s)"), "{line}");
        assert!(
            line.contains("hstore 1.4 (default 1.8), pg_trgm 1.3 (default 1.6)"),
            "{line}"
        );
    }
}
