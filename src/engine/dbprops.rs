//! Database-level properties a plain dump does not carry: encoding and locale (fixed when the
//! database is created), owner, comment, connection limit, `ALTER DATABASE ... SET` and
//! `ALTER ROLE ... IN DATABASE ... SET` settings, privileges, `IS_TEMPLATE` and
//! `ALLOW_CONNECTIONS`. Captured at backup time (in the backup's globals) and replayed onto the
//! restored database, so `pg_dump --create` of both reads the same.

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::error::Result;
use crate::target;

/// Settings whose stored value is already a list in SQL syntax (pg_dump's GUC_LIST_QUOTE set).
const LIST_SETTINGS: &[&str] = &[
    "search_path",
    "temp_tablespaces",
    "session_preload_libraries",
    "local_preload_libraries",
    "shared_preload_libraries",
];

/// One privilege on the database, in `datacl` order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// Role name, or None for PUBLIC.
    pub grantee: Option<String>,
    /// CREATE, TEMPORARY or CONNECT.
    pub privilege: String,
    /// WITH GRANT OPTION.
    pub grantable: bool,
}

/// The properties of one database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DbProps {
    /// Server version number (e.g. 150004), to pick the CREATE DATABASE options.
    pub server_version: i32,
    /// Owner role.
    pub owner: String,
    /// Encoding name.
    pub encoding: String,
    /// LC_COLLATE.
    pub collate: String,
    /// LC_CTYPE.
    pub ctype: String,
    /// Locale provider: `c` (libc), `i` (icu), `b` (builtin); None before PostgreSQL 15.
    pub locale_provider: Option<String>,
    /// ICU or builtin locale.
    pub provider_locale: Option<String>,
    /// Tablespace, when not pg_default.
    pub tablespace: Option<String>,
    /// Connection limit (-1 = none).
    pub connection_limit: i32,
    /// Comment.
    pub comment: Option<String>,
    /// `(role, "name=value")`: role None for database-wide settings.
    pub settings: Vec<(Option<String>, String)>,
    /// None when `datacl` is NULL (the default privileges).
    pub grants: Option<Vec<Grant>>,
    /// `IS_TEMPLATE`.
    #[serde(default)]
    pub is_template: bool,
    /// `ALLOW_CONNECTIONS`.
    #[serde(default = "yes")]
    pub allow_connections: bool,
}

fn yes() -> bool {
    true
}

/// Quotes an SQL identifier.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Quotes an SQL string literal (safe whatever standard_conforming_strings is).
pub fn quote_literal(s: &str) -> String {
    format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// `"name" = value` for a stored setting `name=value` (as in `setconfig`), None when the
/// item has no `=`.
pub fn set_clause(item: &str) -> Option<String> {
    let (key, value) = item.split_once('=')?;
    let value = if LIST_SETTINGS.contains(&key) {
        value.to_string()
    } else {
        quote_literal(value)
    };
    Some(format!("{} = {value}", quote_ident(key)))
}

impl DbProps {
    /// Reads the properties of database `name`; None when it does not exist.
    pub async fn read(client: &Client, name: &str) -> Result<Option<DbProps>> {
        let version: i32 = client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await
            .map_err(target::sql_error)?
            .get(0);
        let locale_cols = match version {
            v if v >= 170000 => "d.datlocprovider::text, d.datlocale",
            v if v >= 150000 => "d.datlocprovider::text, d.daticulocale",
            _ => "NULL::text, NULL::text",
        };
        let sql = format!(
            "SELECT pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), d.datcollate::text,
                    d.datctype::text, {locale_cols}, NULLIF(t.spcname::text, 'pg_default'), d.datconnlimit,
                    shobj_description(d.oid, 'pg_database'), d.datacl IS NULL,
                    d.datistemplate, d.datallowconn
               FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace
              WHERE d.datname = $1"
        );
        let Some(row) = client
            .query_opt(&sql, &[&name])
            .await
            .map_err(target::sql_error)?
        else {
            return Ok(None);
        };
        let settings = client
            .query(
                "SELECT CASE WHEN s.setrole = 0 THEN NULL ELSE pg_get_userbyid(s.setrole)::text END,
                        c.item
                   FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase,
                        unnest(s.setconfig) WITH ORDINALITY c(item, n)
                  WHERE d.datname = $1
                  ORDER BY s.setrole <> 0, pg_get_userbyid(s.setrole), c.n",
                &[&name],
            )
            .await
            .map_err(target::sql_error)?
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let acl_null: bool = row.get(9);
        let grants = if acl_null {
            None
        } else {
            let rows = client
                .query(
                    "SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee)::text END,
                            a.privilege_type, a.is_grantable
                       FROM pg_database d, aclexplode(d.datacl) WITH ORDINALITY a(g, grantee, privilege_type, is_grantable, n)
                      WHERE d.datname = $1 ORDER BY a.n",
                    &[&name],
                )
                .await
                .map_err(target::sql_error)?;
            Some(
                rows.into_iter()
                    .map(|r| Grant {
                        grantee: r.get(0),
                        privilege: r.get(1),
                        grantable: r.get(2),
                    })
                    .collect(),
            )
        };
        Ok(Some(DbProps {
            server_version: version,
            owner: row.get(0),
            encoding: row.get(1),
            collate: row.get(2),
            ctype: row.get(3),
            locale_provider: row.get(4),
            provider_locale: row.get(5),
            tablespace: row.get(6),
            connection_limit: row.get(7),
            comment: row.get(8),
            settings,
            grants,
            is_template: row.get(10),
            allow_connections: row.get(11),
        }))
    }

    /// `CREATE DATABASE name` from template0 with this encoding, locale and tablespace.
    pub fn create_sql(&self, name: &str) -> String {
        let mut s = format!(
            "CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}",
            quote_ident(name),
            quote_literal(&self.encoding),
            quote_literal(&self.collate),
            quote_literal(&self.ctype)
        );
        match (self.locale_provider.as_deref(), &self.provider_locale) {
            (Some("i"), Some(l)) => s.push_str(&format!(
                " LOCALE_PROVIDER icu ICU_LOCALE {}",
                quote_literal(l)
            )),
            (Some("b"), Some(l)) => s.push_str(&format!(
                " LOCALE_PROVIDER builtin BUILTIN_LOCALE {}",
                quote_literal(l)
            )),
            (Some("c"), _) => s.push_str(" LOCALE_PROVIDER libc"),
            _ => {}
        }
        if let Some(ts) = &self.tablespace {
            s.push_str(&format!(" TABLESPACE {}", quote_ident(ts)));
        }
        s
    }

    /// Statements that give database `name` (created by us, default privileges) these
    /// owner, connection limit, comment, settings and privileges. Transaction-safe.
    pub fn apply_sql(&self, name: &str) -> Vec<String> {
        let db = quote_ident(name);
        let mut v = vec![format!(
            "ALTER DATABASE {db} OWNER TO {}",
            quote_ident(&self.owner)
        )];
        if self.connection_limit != -1 {
            v.push(format!(
                "ALTER DATABASE {db} CONNECTION LIMIT {}",
                self.connection_limit
            ));
        }
        if let Some(c) = &self.comment {
            v.push(format!("COMMENT ON DATABASE {db} IS {}", quote_literal(c)));
        }
        for (role, item) in &self.settings {
            let Some(set) = set_clause(item) else {
                continue;
            };
            let who = match role {
                Some(r) => format!("ALTER ROLE {} IN DATABASE {db}", quote_ident(r)),
                None => format!("ALTER DATABASE {db}"),
            };
            v.push(format!("{who} SET {set}"));
        }
        if let Some(grants) = &self.grants {
            v.push(format!("REVOKE ALL ON DATABASE {db} FROM PUBLIC"));
            v.push(format!(
                "REVOKE ALL ON DATABASE {db} FROM {}",
                quote_ident(&self.owner)
            ));
            for g in grants {
                let to = g
                    .grantee
                    .as_deref()
                    .map_or("PUBLIC".to_string(), quote_ident);
                let opt = if g.grantable {
                    " WITH GRANT OPTION"
                } else {
                    ""
                };
                v.push(format!(
                    "GRANT {} ON DATABASE {db} TO {to}{opt}",
                    g.privilege
                ));
            }
        }
        v
    }

    /// Statements for the flags that change how the database may be used (`IS_TEMPLATE`,
    /// `ALLOW_CONNECTIONS false`): applied last, after any rename.
    pub fn flags_sql(&self, name: &str) -> Vec<String> {
        let db = quote_ident(name);
        let mut v = Vec::new();
        if self.is_template {
            v.push(format!("ALTER DATABASE {db} IS_TEMPLATE true"));
        }
        if !self.allow_connections {
            v.push(format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false"));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props() -> DbProps {
        DbProps {
            server_version: 150004,
            owner: "app".into(),
            encoding: "UTF8".into(),
            collate: "C".into(),
            ctype: "C".into(),
            locale_provider: Some("c".into()),
            provider_locale: None,
            tablespace: None,
            connection_limit: 20,
            comment: Some("it's \\ here".into()),
            settings: vec![
                (None, "search_path=public, \"My App\"".into()),
                (Some("rep".into()), "work_mem=64MB".into()),
            ],
            grants: Some(vec![Grant {
                grantee: None,
                privilege: "CONNECT".into(),
                grantable: false,
            }]),
            is_template: true,
            allow_connections: true,
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("My \"x\""), "\"My \"\"x\"\"\"");
        assert_eq!(quote_literal("a'b\\c"), "E'a''b\\\\c'");
    }

    #[test]
    fn create_keeps_encoding_and_locale() {
        let s = props().create_sql("s");
        assert_eq!(
            s,
            "CREATE DATABASE \"s\" TEMPLATE template0 ENCODING E'UTF8' LC_COLLATE E'C' LC_CTYPE E'C' LOCALE_PROVIDER libc"
        );
    }

    #[test]
    fn apply_replays_everything() {
        let v = props().apply_sql("shop");
        assert_eq!(v[0], "ALTER DATABASE \"shop\" OWNER TO \"app\"");
        assert!(v.contains(&"ALTER DATABASE \"shop\" CONNECTION LIMIT 20".to_string()));
        assert!(v.contains(&"COMMENT ON DATABASE \"shop\" IS E'it''s \\\\ here'".to_string()));
        assert!(v.contains(
            &"ALTER DATABASE \"shop\" SET \"search_path\" = public, \"My App\"".to_string()
        ));
        assert!(v.contains(
            &"ALTER ROLE \"rep\" IN DATABASE \"shop\" SET \"work_mem\" = E'64MB'".to_string()
        ));
        assert_eq!(
            v.last().unwrap(),
            "GRANT CONNECT ON DATABASE \"shop\" TO PUBLIC"
        );
    }
}
