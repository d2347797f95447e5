//! The compose target: pg_dump and psql run inside the service's container (`docker exec -i`),
//! so their version always matches the server's; the dump streams out through docker's stdout
//! and is compressed on the host. Queries go through the port the container publishes.
//!
//! The container is found with `docker compose` (v2) when it works, else `docker-compose`
//! (v1): `ps -q <service>`. User, database and password come from the container's
//! environment (`docker inspect`), else from the `.env` beside the compose file. The password
//! is handed to `docker exec` through the docker client's environment (`-e PGPASSWORD`
//! without a value), never on a command line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

use super::docker::{
    container_env, container_id_from_ps, inspect, output_of, parse_dotenv, published_port,
};
use super::{PgTool, Target};
use crate::config::Config;
use crate::error::{Error, Result};

/// Compose file names looked up in the project folder, in docker compose's order.
pub const COMPOSE_FILE_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// The compose file the configuration names, or the first one found in the current folder.
pub fn compose_file(config: &Config) -> Option<PathBuf> {
    if let Some(f) = &config.compose.file {
        return Some(f.clone());
    }
    COMPOSE_FILE_NAMES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Which compose command line is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComposeCli {
    /// The `docker compose` plugin (v2).
    V2,
    /// The standalone `docker-compose` (v1).
    V1,
}

impl ComposeCli {
    /// Finds a working compose command: `docker compose version`, else `docker-compose version`.
    pub async fn detect() -> Result<ComposeCli> {
        if quiet_success("docker", &["compose", "version"]).await {
            return Ok(ComposeCli::V2);
        }
        if quiet_success("docker-compose", &["version"]).await {
            return Ok(ComposeCli::V1);
        }
        Err(Error::Docker(
            "neither `docker compose` nor `docker-compose` works: install one (`sudo apt-get install docker-compose`)"
                .into(),
        ))
    }

    /// How the operator types it: `docker compose` or `docker-compose`.
    pub fn display(self) -> &'static str {
        match self {
            ComposeCli::V2 => "docker compose",
            ComposeCli::V1 => "docker-compose",
        }
    }

    /// A compose command on `file` (arguments follow).
    pub fn command(self, file: &Path) -> tokio::process::Command {
        let mut cmd = match self {
            ComposeCli::V2 => {
                let mut c = tokio::process::Command::new("docker");
                c.arg("compose");
                c
            }
            ComposeCli::V1 => tokio::process::Command::new("docker-compose"),
        };
        cmd.arg("-f").arg(file);
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        cmd
    }

    /// Arguments that list the ids of `service`'s containers, stopped ones too (v2's `ps`
    /// shows only running ones without `--all`; v1's `--all` would add `run` containers).
    pub fn ps_args(self, service: &str) -> Vec<String> {
        let mut v = vec!["ps".to_string(), "-q".to_string()];
        if self == ComposeCli::V2 {
            v.push("--all".into());
        }
        v.push(service.to_string());
        v
    }

    /// The command an operator runs to start `service` (for fixes in messages).
    pub fn up_command(self, file: &Path, service: &str) -> String {
        if is_default_file(file) {
            format!("{} up -d {service}", self.display())
        } else {
            format!("{} -f {} up -d {service}", self.display(), file.display())
        }
    }
}

fn is_default_file(file: &Path) -> bool {
    file.parent().is_none_or(|p| p.as_os_str().is_empty())
        && COMPOSE_FILE_NAMES.iter().any(|n| file == Path::new(n))
}

async fn quiet_success(program: &str, args: &[&str]) -> bool {
    tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// When the docker engine does not answer, an error that says so plainly (compose's own
/// message for it is a Python traceback line); None when it answers.
pub async fn engine_unreachable() -> Option<Error> {
    let mut cmd = tokio::process::Command::new("docker");
    cmd.args(["version", "--format", "{{.Server.Version}}"])
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let why = match output_of(cmd, "docker version").await.err()? {
        Error::Docker(m) => m.trim_start_matches("docker version failed: ").to_string(),
        other => other.to_string(),
    };
    let fix = match std::env::var("DOCKER_HOST") {
        Ok(h) => format!("start the docker daemon listening on {h}"),
        Err(_) => "start it with `sudo systemctl start docker`".to_string(),
    };
    Some(Error::Docker(format!(
        "cannot reach the docker engine ({why}): {fix}"
    )))
}

/// A database running in a compose service's container.
#[derive(Clone)]
pub struct ComposeTarget {
    /// The container's name (stable when compose recreates it); its id when it has no name.
    pub container_id: String,
    /// Database name.
    pub database: String,
    /// User name.
    pub user: String,
    /// The password from the container's environment or `.env`; a secret, never printed.
    password: Option<String>,
    /// The host port published for the container's 5432 (on 127.0.0.1), if any.
    pub host_port: Option<u16>,
    /// The compose file.
    pub compose_file: PathBuf,
    /// The service's name.
    pub service: String,
    /// The compose command line in use.
    pub cli: ComposeCli,
}

impl std::fmt::Debug for ComposeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComposeTarget")
            .field("container_id", &self.container_id)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("host_port", &self.host_port)
            .field("compose_file", &self.compose_file)
            .field("service", &self.service)
            .field("cli", &self.cli)
            .finish()
    }
}

impl ComposeTarget {
    /// Finds the service's container and reads user and database from its environment.
    pub async fn discover(config: &Config) -> Result<ComposeTarget> {
        let file = compose_file(config).ok_or_else(|| {
            Error::Docker(
                "no compose file here (docker-compose.yml or compose.yaml): run pgkeep in the project folder or pass --compose-file"
                    .into(),
            )
        })?;
        if !file.is_file() {
            return Err(Error::Docker(format!(
                "compose file {} does not exist: check --compose-file",
                file.display()
            )));
        }
        let service = config.compose.service.clone();
        let cli = ComposeCli::detect().await?;
        let mut ps = cli.command(&file);
        ps.args(cli.ps_args(&service));
        let out = match output_of(ps, &format!("{} ps", cli.display())).await {
            Ok(out) => out,
            Err(e) => return Err(engine_unreachable().await.unwrap_or(e)),
        };
        let id = container_id_from_ps(&out).ok_or_else(|| {
            Error::Docker(format!(
                "service `{service}` has no container: start it with `{}`",
                cli.up_command(&file, &service)
            ))
        })?;
        let info = inspect(&id).await?;
        let dotenv = file
            .parent()
            .map(|d| {
                if d.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    d
                }
            })
            .and_then(|d| std::fs::read_to_string(d.join(".env")).ok())
            .map(|t| parse_dotenv(&t))
            .unwrap_or_default();
        let name = info["Name"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches('/')
            .to_string();
        Ok(Self::from_parts(
            &info,
            &dotenv,
            if name.is_empty() { id } else { name },
            file,
            service,
            cli,
        ))
    }

    /// Builds the target from inspect output and `.env` values (the container's own
    /// environment wins, as that is what the server was initialised with).
    pub fn from_parts(
        info: &Value,
        dotenv: &HashMap<String, String>,
        container: String,
        compose_file: PathBuf,
        service: String,
        cli: ComposeCli,
    ) -> ComposeTarget {
        let env = container_env(info);
        let get = |k: &str| {
            env.get(k)
                .or_else(|| dotenv.get(k))
                .filter(|v| !v.is_empty())
                .cloned()
        };
        let user = get("POSTGRES_USER").unwrap_or_else(|| "postgres".into());
        let database = get("POSTGRES_DB").unwrap_or_else(|| user.clone());
        ComposeTarget {
            container_id: container,
            database,
            user,
            password: get("POSTGRES_PASSWORD"),
            host_port: published_port(info),
            compose_file,
            service,
            cli,
        }
    }

    /// Whether a password is known (for messages; the value itself never leaves this type).
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }
}

impl Target for ComposeTarget {
    fn kind_name(&self) -> &'static str {
        "compose"
    }
    fn database(&self) -> &str {
        &self.database
    }
    fn user(&self) -> &str {
        &self.user
    }
    fn describe(&self) -> String {
        match self.host_port {
            Some(p) => format!(
                "{}@container {} (127.0.0.1:{p})/{}",
                self.user, self.container_id, self.database
            ),
            None => format!(
                "{}@container {}/{}",
                self.user, self.container_id, self.database
            ),
        }
    }
    fn pg_config(&self, database: &str) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host("127.0.0.1")
            .port(self.host_port.unwrap_or(5432))
            .user(&self.user)
            .dbname(database)
            .application_name("pgkeep");
        if let Some(pw) = &self.password {
            c.password(pw.as_bytes());
        }
        c
    }
    fn sql_unavailable(&self) -> Option<String> {
        match self.host_port {
            Some(_) => None,
            None => Some(format!(
                "the container {} publishes no port for 5432, so pgkeep cannot query it: add `ports: [\"127.0.0.1:5432:5432\"]` to service `{}` in {} and run `{}`",
                self.container_id,
                self.service,
                self.compose_file.display(),
                self.cli.up_command(&self.compose_file, &self.service)
            )),
        }
    }
    fn command(&self, tool: PgTool, database: &str, app_name: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("docker");
        cmd.args(["exec", "-i"]);
        // Names only: docker copies the values from its own environment, set below.
        for var in ["PGUSER", "PGDATABASE", "PGAPPNAME", "PGCONNECT_TIMEOUT"] {
            cmd.args(["-e", var]);
        }
        cmd.env("PGUSER", &self.user)
            .env("PGDATABASE", database)
            .env("PGAPPNAME", app_name)
            .env("PGCONNECT_TIMEOUT", "10");
        match &self.password {
            Some(pw) => {
                cmd.args(["-e", "PGPASSWORD"]).env("PGPASSWORD", pw);
            }
            None => {
                cmd.env_remove("PGPASSWORD");
            }
        }
        cmd.arg(&self.container_id).arg(tool.program());
        cmd.kill_on_drop(true);
        cmd
    }
    fn cli_flags(&self) -> Vec<String> {
        let mut v = vec!["--target".to_string(), "compose".to_string()];
        if !is_default_file(&self.compose_file) {
            v.push("--compose-file".into());
            v.push(self.compose_file.display().to_string());
        }
        if self.service != "db" {
            v.push("--service".into());
            v.push(self.service.clone());
        }
        v
    }
    fn container(&self) -> Option<String> {
        Some(self.container_id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::docker::first_object;

    const INSPECT: &str = include_str!("../../tests/fixtures/docker/inspect-running-healthy.json");
    const INSPECT_EXITED: &str =
        include_str!("../../tests/fixtures/docker/inspect-exited-anonymous-volume.json");
    const PS_Q: &str = include_str!("../../tests/fixtures/docker/compose-v1-ps-q.txt");

    fn target(dotenv: &[(&str, &str)], text: &str) -> ComposeTarget {
        let info = first_object(text).unwrap();
        let env: HashMap<String, String> = dotenv
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ComposeTarget::from_parts(
            &info,
            &env,
            "c".into(),
            "docker-compose.yml".into(),
            "db".into(),
            ComposeCli::V1,
        )
    }

    #[test]
    fn reads_credentials_and_port_from_inspect() {
        let t = target(&[("POSTGRES_USER", "other")], INSPECT);
        assert_eq!(t.user, "facturatie");
        assert_eq!(t.database, "facturatie");
        assert!(t.has_password());
        assert_eq!(t.host_port, Some(34835));
        assert!(t.sql_unavailable().is_none());
        let shown = format!("{t:?} {}", t.describe());
        assert!(!shown.contains("pw-test-1"), "{shown}");
    }

    #[test]
    fn no_published_port_says_to_publish_it() {
        let t = target(&[], INSPECT_EXITED);
        assert_eq!(t.host_port, None);
        assert_eq!(t.user, "postgres");
        let why = t.sql_unavailable().unwrap();
        assert!(
            why.contains("127.0.0.1:5432:5432") && why.contains("docker-compose up -d db"),
            "{why}"
        );
    }

    #[test]
    fn dotenv_fills_what_the_container_lacks() {
        let mut info = first_object(INSPECT).unwrap();
        info["Config"]["Env"] = serde_json::json!(["PATH=/bin"]);
        let env = parse_dotenv(
            "# c\nPOSTGRES_USER=app\nPOSTGRES_PASSWORD=\"s3cret\"\nexport POSTGRES_DB='shop'\n",
        );
        let t = ComposeTarget::from_parts(
            &info,
            &env,
            "c".into(),
            "x.yml".into(),
            "db".into(),
            ComposeCli::V2,
        );
        assert_eq!((t.user.as_str(), t.database.as_str()), ("app", "shop"));
        assert!(t.has_password());
        assert_eq!(
            t.cli_flags(),
            ["--target", "compose", "--compose-file", "x.yml"]
        );
    }

    #[test]
    fn password_travels_by_environment_only() {
        let t = target(&[], INSPECT);
        let cmd = t.command(PgTool::PgDump, "facturatie", "app");
        let std = cmd.as_std();
        let args: Vec<String> = std
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.iter().all(|a| !a.contains("pw-test-1")), "{args:?}");
        assert!(
            args.windows(2).any(|w| w == ["-e", "PGPASSWORD"]),
            "{args:?}"
        );
        assert_eq!(&args[args.len() - 2..], ["c", "pg_dump"]);
        let pw = std
            .get_envs()
            .find(|(k, _)| *k == "PGPASSWORD")
            .and_then(|(_, v)| v);
        assert_eq!(
            pw.map(|v| v.to_string_lossy().into_owned()).as_deref(),
            Some("pw-test-1")
        );
    }

    #[test]
    fn ps_lists_stopped_containers_too() {
        assert_eq!(ComposeCli::V1.ps_args("db"), ["ps", "-q", "db"]);
        assert_eq!(ComposeCli::V2.ps_args("db"), ["ps", "-q", "--all", "db"]);
    }

    #[test]
    fn ps_output_gives_the_container_id() {
        assert_eq!(container_id_from_ps(PS_Q).unwrap().len(), 64);
        assert_eq!(container_id_from_ps("\n\n"), None);
    }
}
