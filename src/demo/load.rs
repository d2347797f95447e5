//! Loading the demo invoicing database: `assets/demo/schema.sql`, then
//! `assets/demo/data.sql` one `-- step:` at a time, so the user sees progress.

use std::path::Path;

use crate::error::{Error, Result};
use crate::target::{map_connect_error, sql_error};

/// The schema (tables, types, views), compiled into the binary.
pub const SCHEMA_SQL: &str = include_str!("../../assets/demo/schema.sql");
/// The data generator, compiled into the binary.
pub const DATA_SQL: &str = include_str!("../../assets/demo/data.sql");

/// Marks the start of a step in data.sql; the rest of the line is shown to the user.
const STEP_MARK: &str = "-- step:";

/// One step of the data load: what to tell the user, and the SQL to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Shown before the step runs ("loading 100,000 invoices…").
    pub message: String,
    /// The statements of the step.
    pub sql: String,
}

/// Splits data.sql at its `-- step:` lines; text before the first step is commentary.
pub fn steps(text: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    for line in text.lines() {
        if let Some(message) = line.strip_prefix(STEP_MARK) {
            steps.push(Step {
                message: message.trim().to_string(),
                sql: String::new(),
            });
        } else if let Some(step) = steps.last_mut() {
            step.sql.push_str(line);
            step.sql.push('\n');
        }
    }
    steps
}

/// Creates `database` on the demo server (socket in `socket_dir`, `port`, superuser
/// `postgres`, trust) and loads the schema and data, calling `say` before each step.
pub async fn load(socket_dir: &Path, port: u16, database: &str, say: &dyn Fn(&str)) -> Result<()> {
    let admin = connect(socket_dir, port, "postgres").await?;
    admin
        .batch_execute(&format!("CREATE DATABASE \"{database}\""))
        .await
        .map_err(sql_error)?;
    drop(admin);
    let client = connect(socket_dir, port, database).await?;
    say("creating the invoicing schema…");
    client
        .batch_execute(SCHEMA_SQL)
        .await
        .map_err(step_error("the schema"))?;
    for step in steps(DATA_SQL) {
        say(&step.message);
        client
            .batch_execute(&step.sql)
            .await
            .map_err(step_error(&step.message))?;
    }
    Ok(())
}

/// Switches WAL archiving on now that the data is loaded (the load itself archived to nowhere:
/// it would only fill the disk), with the command `pgkeep wal archive-command` prints for the
/// demo cluster, and archives a first segment so the demo shows archiving at work.
pub async fn start_archiving(socket_dir: &Path, port: u16, layout: &super::Layout) -> Result<()> {
    let client = connect(socket_dir, port, "postgres").await?;
    let id: String = client
        .query_one(
            "SELECT system_identifier::text FROM pg_control_system()",
            &[],
        )
        .await
        .map_err(sql_error)?
        .get(0);
    let command = super::settings::archive_command(layout, &id)?;
    let literal = command.replace('\'', "''");
    // One statement per call: ALTER SYSTEM may not run in a (implicit) transaction block.
    let set = format!("ALTER SYSTEM SET archive_command = '{literal}'");
    for sql in [set.as_str(), "SELECT pg_reload_conf()"] {
        client.batch_execute(sql).await.map_err(sql_error)?;
    }
    // The reload is asynchronous: give the archiver a moment before the first real segment.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for sql in ["CHECKPOINT", "SELECT pg_switch_wal()"] {
        client.batch_execute(sql).await.map_err(sql_error)?;
    }
    Ok(())
}

/// Maps an SQL failure of a load step to an error naming the step.
fn step_error(what: &str) -> impl FnOnce(tokio_postgres::Error) -> Error + '_ {
    move |e| {
        Error::Sql(format!(
            "loading the demo data failed at \"{what}\": {} (run `pgkeep demo --reset` and try again)",
            sql_error(e)
        ))
    }
}

async fn connect(socket_dir: &Path, port: u16, database: &str) -> Result<tokio_postgres::Client> {
    let mut cfg = tokio_postgres::Config::new();
    cfg.host_path(socket_dir)
        .port(port)
        .user("postgres")
        .dbname(database)
        .application_name("pgkeep-demo");
    let where_ = format!("postgres@{}:{port}/{database}", socket_dir.display());
    let (client, connection) = cfg
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| map_connect_error(e, &where_, "postgres", database))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_sql_splits_into_announced_steps() {
        let s = steps(DATA_SQL);
        assert!(s.len() >= 4, "{s:?}");
        assert!(s.iter().any(|st| st.message.contains("100,000 invoices")));
        assert!(
            s.iter().all(|st| st.sql.contains(';')),
            "a step without statements"
        );
        assert!(s.last().unwrap().sql.contains("ANALYZE"));
    }

    #[test]
    fn text_before_the_first_step_is_ignored() {
        let s = steps("-- intro\nSELECT 0;\n-- step: one\nSELECT 1;\n");
        assert_eq!(
            s,
            vec![Step {
                message: "one".into(),
                sql: "SELECT 1;\n".into()
            }]
        );
    }
}
