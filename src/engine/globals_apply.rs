//! Restore's side of the globals: checks that the server can take the backup (privileges,
//! tablespaces) before anything is spent, and creates the roles the backup needs that the
//! server lacks. An existing role is never altered unless asked (`--update-roles`).

use tokio_postgres::Client;

use crate::engine::dbprops::quote_literal;
use crate::engine::globals::Globals;
use crate::engine::globals_sql::{create_role_sql, grant_sql, update_role_sql};
use crate::error::{Error, Result};
use crate::target;

/// What [`apply_roles`] changed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RolesApplied {
    /// Roles created.
    pub created: Vec<String>,
    /// Existing roles set to the backup's attributes (`--update-roles`).
    pub updated: Vec<String>,
    /// Memberships granted, as `role → member`.
    pub granted: Vec<String>,
}

impl RolesApplied {
    /// Log lines naming what was done (none when nothing was).
    pub fn lines(&self) -> Vec<String> {
        let mut v = Vec::new();
        if !self.created.is_empty() {
            v.push(format!(
                "created role(s) from the backup: {}",
                self.created.join(", ")
            ));
        }
        if !self.updated.is_empty() {
            v.push(format!(
                "updated role(s) to the backup's attributes: {}",
                self.updated.join(", ")
            ));
        }
        if !self.granted.is_empty() {
            v.push(format!(
                "granted membership(s): {}",
                self.granted.join(", ")
            ));
        }
        v
    }
}

/// The connecting role's powers.
struct Me {
    name: String,
    superuser: bool,
    createdb: bool,
    createrole: bool,
}

async fn me(admin: &Client) -> Result<Me> {
    let r = admin
        .query_one(
            "SELECT current_user::text, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .map_err(target::sql_error)?;
    Ok(Me {
        name: r.get(0),
        superuser: r.get(1),
        createdb: r.get(2),
        createrole: r.get(3),
    })
}

/// Roles of `g` that do not exist on the server.
async fn missing_roles(admin: &Client, g: &Globals) -> Result<Vec<String>> {
    let names: Vec<String> = g.roles.iter().map(|r| r.name.clone()).collect();
    let rows = admin
        .query(
            "SELECT n FROM unnest($1::text[]) n WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = n)",
            &[&names],
        )
        .await
        .map_err(target::sql_error)?;
    Ok(rows.into_iter().map(|r| r.get(0)).collect())
}

/// Refuses, in one line, a restore that is bound to fail: the connecting role may not create
/// the scratch database, may not rename the live one (`replace`: the database replaced, when
/// restoring in place), or may not create the roles the backup needs; or a tablespace the
/// backup uses is missing. Runs before the safety backup, so no time is spent first.
pub async fn precheck(
    admin: &Client,
    replace: Option<&str>,
    g: Option<&Globals>,
    tablespace_default: bool,
) -> Result<()> {
    let me = me(admin).await?;
    if !me.superuser && !me.createdb {
        return Err(Error::Refused(format!(
            "role \"{}\" may not create databases, and a restore loads into a new scratch database: run it as a superuser or grant it with `ALTER ROLE \"{}\" CREATEDB`",
            me.name, me.name
        )));
    }
    if let (false, Some(db)) = (me.superuser, replace) {
        let owns: bool = admin
            .query_one(
                "SELECT pg_has_role(current_user, datdba, 'MEMBER') FROM pg_database WHERE datname = $1",
                &[&db],
            )
            .await
            .map_err(target::sql_error)?
            .get(0);
        if !owns {
            return Err(Error::Refused(format!(
                "role \"{}\" does not own database \"{db}\" and so may not replace it: run the restore as its owner or a superuser, or restore beside it with --into",
                me.name
            )));
        }
    }
    let Some(g) = g else { return Ok(()) };
    let missing = missing_roles(admin, g).await?;
    if !missing.is_empty() && !me.superuser && !me.createrole {
        return Err(Error::Refused(format!(
            "the backup needs role(s) this server lacks ({}) and role \"{}\" may not create roles: run the restore as a superuser",
            missing.join(", "),
            me.name
        )));
    }
    for t in g.tablespaces.iter().filter(|_| !tablespace_default) {
        let exists = admin
            .query_opt("SELECT 1 FROM pg_tablespace WHERE spcname = $1", &[&t.name])
            .await
            .map_err(target::sql_error)?
            .is_some();
        if !exists {
            return Err(Error::Refused(format!(
                "the backup uses tablespace \"{}\", which this server lacks: create it first, as a superuser, with `CREATE TABLESPACE \"{}\" LOCATION {}` (an empty directory owned by the server's user; any path will do) and restore again, or restore with --tablespace-default to put everything in the default tablespace",
                t.name,
                t.name,
                quote_literal(&t.location).trim_start_matches('E')
            )));
        }
    }
    Ok(())
}

/// Creates the roles of `g` the server lacks (with attributes, password, settings, comment)
/// and their memberships; with `update`, also sets existing roles (never the connecting one)
/// to the backup's attributes and adds every missing membership. One transaction.
pub async fn apply_roles(admin: &Client, g: &Globals, update: bool) -> Result<RolesApplied> {
    let me = me(admin).await?;
    let missing = missing_roles(admin, g).await?;
    let mut done = RolesApplied::default();
    let mut statements = Vec::new();
    for r in &g.roles {
        if missing.contains(&r.name) {
            statements.extend(create_role_sql(r));
            done.created.push(r.name.clone());
        } else if update && r.name != me.name {
            statements.extend(update_role_sql(r));
            done.updated.push(r.name.clone());
        }
    }
    for m in &g.memberships {
        let new = done.created.contains(&m.role) || done.created.contains(&m.member);
        let wanted = new || (update && m.member != me.name);
        if !wanted {
            continue;
        }
        let have = admin
            .query_opt(
                "SELECT m.admin_option FROM pg_auth_members m
                  WHERE m.roleid = (SELECT oid FROM pg_roles WHERE rolname = $1)
                    AND m.member = (SELECT oid FROM pg_roles WHERE rolname = $2)",
                &[&m.role, &m.member],
            )
            .await
            .map_err(target::sql_error)?
            .map(|r| r.get::<_, bool>(0));
        if have.is_none() || (m.admin_option && have == Some(false)) {
            statements.push(grant_sql(m));
            done.granted.push(format!("{} → {}", m.role, m.member));
        }
    }
    if statements.is_empty() {
        return Ok(done);
    }
    let run = async {
        admin.batch_execute("BEGIN").await?;
        for s in &statements {
            admin.batch_execute(s).await?;
        }
        admin.batch_execute("COMMIT").await
    };
    if let Err(e) = run.await {
        let _ = admin.batch_execute("ROLLBACK").await;
        return Err(Error::Sql(format!(
            "creating the backup's roles failed, nothing was changed: {}",
            target::sql_error(e)
                .to_string()
                .trim_start_matches("database error: ")
        )));
    }
    Ok(done)
}
