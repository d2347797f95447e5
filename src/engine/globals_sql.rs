//! The globals file beside a dump, `<name>.sql.gz.globals.sql`: SQL a person runs with psql on a
//! blank server before loading the dump (roles, memberships, tablespaces, `CREATE DATABASE`
//! with every property), ending with one comment line that holds the same data as JSON for
//! pgkeep's own restore. The statements are the ones pgkeep's restore runs (see
//! [`crate::engine::globals_apply`]), so the two cannot drift apart.

use crate::engine::dbprops::{quote_ident, quote_literal, set_clause};
use crate::engine::globals::{Globals, Membership, Role, Tablespace};
use crate::error::{Error, Result};

/// Prefix of the last line of a globals file: the captured data as JSON.
pub const JSON_LINE: &str = "-- pgkeep-globals-json: ";

/// `CREATE ROLE` with every attribute, then its settings and comment.
pub fn create_role_sql(r: &Role) -> Vec<String> {
    let mut v = vec![format!(
        "CREATE ROLE {} WITH {}",
        quote_ident(&r.name),
        role_options(r)
    )];
    v.extend(role_extras_sql(r));
    v
}

/// `ALTER ROLE` to the captured attributes and password, then settings and comment (for an
/// existing role, only when the user asked for it: `--update-roles`).
pub fn update_role_sql(r: &Role) -> Vec<String> {
    let mut v = vec![format!(
        "ALTER ROLE {} WITH {}",
        quote_ident(&r.name),
        role_options(r)
    )];
    v.extend(role_extras_sql(r));
    v
}

fn role_options(r: &Role) -> String {
    let flag = |on: bool, word: &str| {
        if on {
            word.to_string()
        } else {
            format!("NO{word}")
        }
    };
    let mut o = vec![
        flag(r.superuser, "SUPERUSER"),
        flag(r.inherit, "INHERIT"),
        flag(r.createrole, "CREATEROLE"),
        flag(r.createdb, "CREATEDB"),
        flag(r.login, "LOGIN"),
        flag(r.replication, "REPLICATION"),
        flag(r.bypassrls, "BYPASSRLS"),
        format!("CONNECTION LIMIT {}", r.connection_limit),
    ];
    if let Some(p) = &r.password {
        o.push(format!("PASSWORD {}", quote_literal(p)));
    }
    if let Some(t) = &r.valid_until {
        o.push(format!("VALID UNTIL {}", quote_literal(t)));
    }
    o.join(" ")
}

fn role_extras_sql(r: &Role) -> Vec<String> {
    let mut v: Vec<String> = r
        .settings
        .iter()
        .filter_map(|item| set_clause(item))
        .map(|set| format!("ALTER ROLE {} SET {set}", quote_ident(&r.name)))
        .collect();
    if let Some(c) = &r.comment {
        v.push(format!(
            "COMMENT ON ROLE {} IS {}",
            quote_ident(&r.name),
            quote_literal(c)
        ));
    }
    v
}

/// `GRANT role TO member [WITH ADMIN OPTION]`.
pub fn grant_sql(m: &Membership) -> String {
    format!(
        "GRANT {} TO {}{}",
        quote_ident(&m.role),
        quote_ident(&m.member),
        if m.admin_option {
            " WITH ADMIN OPTION"
        } else {
            ""
        }
    )
}

/// `CREATE TABLESPACE` with owner, location, options and comment.
pub fn create_tablespace_sql(t: &Tablespace) -> Vec<String> {
    let name = quote_ident(&t.name);
    let mut v = vec![format!(
        "CREATE TABLESPACE {name} OWNER {} LOCATION {}",
        quote_ident(&t.owner),
        quote_literal(&t.location)
    )];
    if !t.options.is_empty() {
        v.push(format!(
            "ALTER TABLESPACE {name} SET ({})",
            t.options.join(", ")
        ));
    }
    if let Some(c) = &t.comment {
        v.push(format!(
            "COMMENT ON TABLESPACE {name} IS {}",
            quote_literal(c)
        ));
    }
    v
}

/// A dollar-quote tag that does not occur in `body`.
fn dollar_tag(body: &str) -> String {
    (0..)
        .map(|n| format!("$pgkeep{n}$"))
        .find(|t| !body.contains(t.as_str()))
        .expect("a free tag")
}

/// `DO` block running `statements` only when `condition` (SQL) holds.
fn do_if(condition: &str, statements: &[String]) -> String {
    let body = format!(
        "BEGIN\n  IF {condition} THEN\n{}  END IF;\nEND\n",
        statements
            .iter()
            .map(|s| format!("    {s};\n"))
            .collect::<String>()
    );
    let tag = dollar_tag(&body);
    format!("DO {tag}\n{body}{tag};\n")
}

/// A psql meta-command argument in single quotes.
fn psql_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// The whole file: header, roles, memberships, tablespaces, database, JSON line.
/// `backup_name` is the dump's file name, for the instructions in the header.
pub fn render(g: &Globals, backup_name: &str, globals_name: &str) -> String {
    let db = &g.database;
    let (backup_name, globals_name) = (&one_line(backup_name), &one_line(globals_name));
    let mut s = String::new();
    s.push_str(&format!(
        "-- pgkeep globals of database {}, captured with the backup {backup_name}\n",
        one_line(&quote_ident(db))
    ));
    match &g.partial {
        None => s.push_str("-- Status: complete\n"),
        Some(why) => s.push_str(&format!(
            "-- Status: partial: {}; set the passwords by hand after restoring (ALTER ROLE name PASSWORD '...')\n",
            one_line(why)
        )),
    }
    // An encrypted backup's files are read through `age -d` (the key is kept elsewhere).
    let (globals_in, dump_in) = if backup_name.ends_with(".age") {
        (
            format!("age -d -i key.txt {globals_name} | psql -X -d postgres"),
            format!("age -d -i key.txt {backup_name} | gunzip"),
        )
    } else {
        (
            format!("psql -X -d postgres -f {globals_name}"),
            format!("gunzip -c {backup_name}"),
        )
    };
    s.push_str(&format!(
        "--\n-- Restore by hand on a server without this database, as a superuser:\n\
         --   {globals_in}\n\
         --   {dump_in} | psql -X -d {} -v ON_ERROR_STOP=1 --single-transaction\n\
         --   psql -X -d {} -c ANALYZE\n\
         -- This file creates the roles below that do not exist yet (an existing role is not\n\
         -- changed), adds their memberships, creates missing tablespaces (the directory must\n\
         -- exist, empty, owned by the server's user) and creates the database with its\n\
         -- owner, encoding, locale, settings and privileges. It stops at the first error.\n\n",
        one_line(&shell_word(db)),
        one_line(&shell_word(db))
    ));
    s.push_str("\\set ON_ERROR_STOP on\n\n-- Roles\n");
    for r in &g.roles {
        let cond = format!(
            "NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {})",
            quote_literal(&r.name)
        );
        s.push_str(&do_if(&cond, &create_role_sql(r)));
    }
    if !g.memberships.is_empty() {
        s.push_str("\n-- Memberships\n");
        for m in &g.memberships {
            s.push_str(&format!("{};\n", grant_sql(m)));
        }
    }
    if !g.tablespaces.is_empty() {
        s.push_str("\n-- Tablespaces\n");
        for t in &g.tablespaces {
            s.push_str(&format!(
                "SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_tablespace WHERE spcname = {}) AS pgkeep_missing \\gset\n\\if :pgkeep_missing\n",
                quote_literal(&t.name)
            ));
            for st in create_tablespace_sql(t) {
                s.push_str(&format!("{st};\n"));
            }
            s.push_str("\\endif\n");
        }
    }
    s.push_str("\n-- The database\n");
    s.push_str(&format!("{};\n", g.props.create_sql(db)));
    for st in g.props.apply_sql(db).iter().chain(&g.props.flags_sql(db)) {
        s.push_str(&format!("{st};\n"));
    }
    s.push_str(&format!(
        "\n\\echo {}\n\n",
        psql_quote(&format!(
            "pgkeep: roles and database {} are ready; now load the dump",
            one_line(db)
        ))
    ));
    let json = serde_json::to_string(g).expect("globals serialize");
    s.push_str(JSON_LINE);
    s.push_str(&json);
    s.push('\n');
    s
}

/// `s` safe inside a `--` comment line: control characters become `?`.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// `name` as one shell word (single-quoted when it needs it).
fn shell_word(name: &str) -> String {
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
    {
        name.to_string()
    } else {
        format!("'{}'", name.replace('\'', "'\\''"))
    }
}

/// Reads the captured data back from a globals file's text.
pub fn parse(text: &str, file_name: &str) -> Result<Globals> {
    let json = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(JSON_LINE))
        .ok_or_else(|| Error::Corrupt {
            name: file_name.to_string(),
            reason: "the globals file has no pgkeep-globals-json line".into(),
        })?;
    serde_json::from_str(json).map_err(|e| Error::Corrupt {
        name: file_name.to_string(),
        reason: format!("the globals file's JSON line is not readable ({e})"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn do_blocks_pick_a_free_tag() {
        let s = do_if("true", &["SELECT '$pgkeep0$'".to_string()]);
        assert!(s.starts_with("DO $pgkeep1$\n"), "{s}");
        assert!(s.ends_with("$pgkeep1$;\n"), "{s}");
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("shop_1"), "shop_1");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
    }

    #[test]
    fn memberships_keep_admin_option() {
        let m = Membership {
            role: "reporting".into(),
            member: "analyst".into(),
            admin_option: true,
        };
        assert_eq!(
            grant_sql(&m),
            "GRANT \"reporting\" TO \"analyst\" WITH ADMIN OPTION"
        );
    }
}
