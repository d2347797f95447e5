//! The cluster-level objects a database needs, captured at backup time: the roles it uses,
//! their memberships and settings, the tablespaces it uses, and the database's own properties.
//!
//! **Which roles** (decided here, documented in the README): the database's owner and the
//! grantees of its ACL, every role with a setting in it (`ALTER ROLE ... IN DATABASE`), every
//! role that owns or is granted something inside it (`pg_shdepend`), the owners of the
//! tablespaces it uses, and the bootstrap superuser when it owns objects of the database;
//! then every member of those roles (transitively: `GRANT reporting TO analyst` keeps
//! `analyst`), then every role any of them belongs to (transitively). Predefined roles
//! (`pg_monitor`, ...) exist on every server: memberships in them are kept, the roles are not
//! created.
//!
//! Password verifiers are read from `pg_authid`, which only a superuser may read; otherwise
//! the capture is *partial*, with a one-line reason. Stored beside the dump as
//! `<name>.sql.gz.globals.sql` (see [`crate::engine::globals_sql`]).

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::engine::dbprops::DbProps;
use crate::error::{Error, Result};
use crate::target;

/// Reason recorded when the connecting role may not read password verifiers.
pub const NO_VERIFIERS: &str = "no password verifiers (not superuser)";

/// One role as it was at backup time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    /// Role name.
    pub name: String,
    /// SUPERUSER.
    pub superuser: bool,
    /// INHERIT.
    pub inherit: bool,
    /// CREATEROLE.
    pub createrole: bool,
    /// CREATEDB.
    pub createdb: bool,
    /// LOGIN.
    pub login: bool,
    /// REPLICATION.
    pub replication: bool,
    /// BYPASSRLS.
    pub bypassrls: bool,
    /// CONNECTION LIMIT (-1: none).
    pub connection_limit: i32,
    /// VALID UNTIL, as ISO text in UTC or `infinity`.
    pub valid_until: Option<String>,
    /// The password verifier (SCRAM or md5), when it could be read and there is one.
    pub password: Option<String>,
    /// `ALTER ROLE ... SET` settings valid in every database, as `name=value`.
    pub settings: Vec<String>,
    /// Comment.
    pub comment: Option<String>,
}

/// `GRANT role TO member`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    /// The role granted.
    pub role: String,
    /// The member.
    pub member: String,
    /// WITH ADMIN OPTION.
    pub admin_option: bool,
}

/// A tablespace the database uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tablespace {
    /// Name.
    pub name: String,
    /// Owner role.
    pub owner: String,
    /// Directory on the server.
    pub location: String,
    /// `spcoptions` (`seq_page_cost=2`, ...).
    pub options: Vec<String>,
    /// Comment.
    pub comment: Option<String>,
}

/// Everything a blank server needs before the dump can load, as it was at backup time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Globals {
    /// The database's name at backup time.
    pub database: String,
    /// Its properties (owner, encoding, locale, ACL, settings, ...).
    pub props: DbProps,
    /// The roles it uses, parents before members.
    pub roles: Vec<Role>,
    /// Memberships among them (and in predefined roles).
    pub memberships: Vec<Membership>,
    /// The tablespaces it uses.
    pub tablespaces: Vec<Tablespace>,
    /// None when complete; else why not (one line).
    pub partial: Option<String>,
}

/// The roles the current database uses (see the module doc), as oids.
const ROLE_SET_SQL: &str = "
WITH RECURSIVE db AS (SELECT oid, datdba, datacl, dattablespace FROM pg_database WHERE datname = current_database()),
spaces AS (
  SELECT t.oid FROM pg_tablespace t
   WHERE t.spcname NOT IN ('pg_default', 'pg_global')
     AND (t.oid = (SELECT dattablespace FROM db)
          OR t.oid IN (SELECT reltablespace FROM pg_class WHERE reltablespace <> 0))),
seed AS (
  SELECT datdba AS oid FROM db
  UNION SELECT a.grantee FROM db, aclexplode(db.datacl) a WHERE a.grantee <> 0
  UNION SELECT s.setrole FROM pg_db_role_setting s, db WHERE s.setdatabase = db.oid AND s.setrole <> 0
  UNION SELECT sd.refobjid FROM pg_shdepend sd, db
         WHERE sd.refclassid = 'pg_authid'::regclass AND sd.dbid = db.oid
  UNION SELECT spcowner FROM pg_tablespace WHERE oid IN (SELECT oid FROM spaces)
  UNION SELECT 10::oid WHERE EXISTS (
          SELECT 1 FROM pg_class WHERE relowner = 10 AND oid >= 16384
          UNION ALL SELECT 1 FROM pg_namespace WHERE nspowner = 10 AND oid >= 16384
          UNION ALL SELECT 1 FROM pg_proc WHERE proowner = 10 AND oid >= 16384
          UNION ALL SELECT 1 FROM pg_type WHERE typowner = 10 AND oid >= 16384
          UNION ALL SELECT 1 FROM pg_largeobject_metadata WHERE lomowner = 10)),
down AS (
  SELECT oid FROM seed
  UNION SELECT m.member FROM pg_auth_members m JOIN down d ON m.roleid = d.oid WHERE d.oid >= 16384),
up AS (
  SELECT oid FROM down
  UNION SELECT m.roleid FROM pg_auth_members m JOIN up u ON m.member = u.oid)
SELECT array_agg(oid) FROM up";

impl Globals {
    /// Captures the globals of the database `client` is connected to.
    pub async fn capture(client: &Client) -> Result<Globals> {
        let database: String = one(client, "SELECT current_database()::text").await?;
        let props = DbProps::read(client, &database)
            .await?
            .ok_or_else(|| Error::NoSuchDatabase(database.clone()))?;
        let superuser: bool = one(
            client,
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
        )
        .await?;
        let oids: Vec<u32> = client
            .query_one(ROLE_SET_SQL, &[])
            .await
            .map_err(target::sql_error)?
            .get::<_, Option<Vec<u32>>>(0)
            .unwrap_or_default();
        let roles = read_roles(client, &oids, superuser).await?;
        let memberships = read_memberships(client, &oids).await?;
        let tablespaces = read_tablespaces(client).await?;
        Ok(Globals {
            database,
            props,
            roles: parents_first(roles, &memberships),
            memberships,
            tablespaces,
            partial: (!superuser).then(|| NO_VERIFIERS.to_string()),
        })
    }

    /// The role named `name`, if captured.
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }
}

async fn one<T: for<'a> tokio_postgres::types::FromSql<'a>>(
    client: &Client,
    sql: &str,
) -> Result<T> {
    Ok(client
        .query_one(sql, &[])
        .await
        .map_err(target::sql_error)?
        .get(0))
}

/// Roles to create: the set minus predefined roles (which every server has).
async fn read_roles(client: &Client, oids: &[u32], superuser: bool) -> Result<Vec<Role>> {
    let password = if superuser {
        "(SELECT a.rolpassword FROM pg_authid a WHERE a.oid = r.oid)"
    } else {
        "NULL::text"
    };
    let sql = format!(
        "SELECT r.rolname::text, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
                r.rolreplication, r.rolbypassrls, r.rolconnlimit,
                CASE WHEN r.rolvaliduntil IS NULL THEN NULL
                     WHEN r.rolvaliduntil = 'infinity' THEN 'infinity'
                     ELSE to_char(r.rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') END,
                {password},
                ARRAY(SELECT unnest(s.setconfig) FROM pg_db_role_setting s
                       WHERE s.setrole = r.oid AND s.setdatabase = 0),
                shobj_description(r.oid, 'pg_authid')
           FROM pg_roles r
          WHERE r.oid = ANY($1) AND (r.oid = 10 OR r.oid >= 16384) AND r.rolname !~ '^pg_'
          ORDER BY r.rolname"
    );
    let rows = client
        .query(&sql, &[&oids])
        .await
        .map_err(target::sql_error)?;
    Ok(rows
        .into_iter()
        .map(|r| Role {
            name: r.get(0),
            superuser: r.get(1),
            inherit: r.get(2),
            createrole: r.get(3),
            createdb: r.get(4),
            login: r.get(5),
            replication: r.get(6),
            bypassrls: r.get(7),
            connection_limit: r.get(8),
            valid_until: r.get(9),
            password: r.get(10),
            settings: r.get(11),
            comment: r.get(12),
        })
        .collect())
}

async fn read_memberships(client: &Client, oids: &[u32]) -> Result<Vec<Membership>> {
    let rows = client
        .query(
            "SELECT pg_get_userbyid(m.roleid)::text, pg_get_userbyid(m.member)::text, m.admin_option
               FROM pg_auth_members m
              WHERE m.member = ANY($1) AND m.roleid = ANY($1)
              ORDER BY 1, 2",
            &[&oids],
        )
        .await
        .map_err(target::sql_error)?;
    Ok(rows
        .into_iter()
        .map(|r| Membership {
            role: r.get(0),
            member: r.get(1),
            admin_option: r.get(2),
        })
        .collect())
}

async fn read_tablespaces(client: &Client) -> Result<Vec<Tablespace>> {
    let rows = client
        .query(
            "SELECT t.spcname::text, pg_get_userbyid(t.spcowner)::text, pg_tablespace_location(t.oid),
                    coalesce(t.spcoptions, '{}'), shobj_description(t.oid, 'pg_tablespace')
               FROM pg_tablespace t
              WHERE t.spcname NOT IN ('pg_default', 'pg_global')
                AND (t.oid = (SELECT dattablespace FROM pg_database WHERE datname = current_database())
                     OR t.oid IN (SELECT reltablespace FROM pg_class WHERE reltablespace <> 0))
              ORDER BY 1",
            &[],
        )
        .await
        .map_err(target::sql_error)?;
    Ok(rows
        .into_iter()
        .map(|r| Tablespace {
            name: r.get(0),
            owner: r.get(1),
            location: r.get(2),
            options: r.get(3),
            comment: r.get(4),
        })
        .collect())
}

/// Orders roles so that every role comes after the roles it is a member of (creation order
/// does not need it, but a reader of the file does); ties by name.
fn parents_first(mut roles: Vec<Role>, memberships: &[Membership]) -> Vec<Role> {
    let depth = |name: &str| -> usize {
        let mut d = 0;
        let mut frontier = vec![name.to_string()];
        while !frontier.is_empty() && d < 64 {
            frontier = memberships
                .iter()
                .filter(|m| frontier.contains(&m.member))
                .map(|m| m.role.clone())
                .collect();
            if !frontier.is_empty() {
                d += 1;
            }
        }
        d
    };
    roles.sort_by_cached_key(|r| (depth(&r.name), r.name.clone()));
    roles
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str) -> Role {
        Role {
            name: name.into(),
            superuser: false,
            inherit: true,
            createrole: false,
            createdb: false,
            login: false,
            replication: false,
            bypassrls: false,
            connection_limit: -1,
            valid_until: None,
            password: None,
            settings: vec![],
            comment: None,
        }
    }

    #[test]
    fn parents_come_first() {
        let m = vec![
            Membership {
                role: "b_group".into(),
                member: "a_user".into(),
                admin_option: false,
            },
            Membership {
                role: "c_top".into(),
                member: "b_group".into(),
                admin_option: true,
            },
        ];
        let sorted = parents_first(vec![role("a_user"), role("b_group"), role("c_top")], &m);
        let names: Vec<_> = sorted.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["c_top", "b_group", "a_user"]);
    }
}
