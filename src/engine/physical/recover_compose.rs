//! `pgkeep recover` for the compose deployment: the whole cluster back into the service's
//! (new, empty) named volume. Compose creates the volume and container without starting them;
//! a temporary container of the same image, with no network, unpacks the newest base backup
//! into the volume and replays every archived segment from the bind-mounted archive, stops
//! cleanly and drops pgkeep's temporary settings; then compose starts the service on it.

use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

use super::base_catalog;
use super::scratch_server::explain_fatal;
use crate::config::Config;
use crate::engine::progress::Sink;
use crate::error::{Error, Result};
use crate::target::compose::{compose_file, ComposeCli};
use crate::target::docker::{self, output_of};

/// What the compose recovery did.
#[derive(Debug, Clone)]
pub struct ComposeRecovered {
    /// The volume now holding the cluster.
    pub volume: String,
    /// The base backup used.
    pub base: String,
    /// The server's words about the last replayed transaction.
    pub last_transaction: Option<String>,
}

/// The compose command for the project: honours COMPOSE_FILE when set (as compose itself does).
fn compose(cli: ComposeCli, file: &Path) -> tokio::process::Command {
    if std::env::var_os("COMPOSE_FILE").is_some() {
        let mut c = match cli {
            ComposeCli::V2 => {
                let mut c = tokio::process::Command::new("docker");
                c.arg("compose");
                c
            }
            ComposeCli::V1 => tokio::process::Command::new("docker-compose"),
        };
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            c.current_dir(dir);
        }
        c.stdin(Stdio::null()).kill_on_drop(true);
        c
    } else {
        cli.command(file)
    }
}

/// Recovers the newest base backup and all archived WAL into the service's empty volume and
/// starts the service.
pub async fn recover(config: &Config, sink: &Sink) -> Result<ComposeRecovered> {
    let file = compose_file(config).ok_or_else(|| Error::Other("no compose file found".into()))?;
    let cli = ComposeCli::detect().await?;
    let service = config.compose.service.clone();
    let mut ps = compose(cli, &file);
    ps.args(cli.ps_args(&service));
    if let Some(id) = docker::container_id_from_ps(&output_of(ps, "compose ps").await?) {
        let info = docker::inspect(&id).await?;
        if info["State"]["Running"].as_bool() == Some(true) {
            return Err(Error::Refused(format!(
                "the service {service} is running on a database: nothing was changed; recover writes only into an empty volume: when you mean to replace that cluster, `{} down -v` first",
                cli.display()
            )));
        }
    }
    let base = base_catalog::scan(&config.backup_dir)?
        .into_iter()
        .max_by_key(|b| b.manifest.finished_at)
        .ok_or_else(|| {
            Error::Refused(format!(
                "no base backup in {}: recover needs one (`pgkeep basebackup`)",
                base_catalog::base_dir(&config.backup_dir).display()
            ))
        })?;
    let mut create = compose(cli, &file);
    create.args(["up", "--no-start", &service]);
    output_of(create, "compose up --no-start").await?;
    let mut ps = compose(cli, &file);
    ps.args(cli.ps_args(&service));
    let id = docker::container_id_from_ps(&output_of(ps, "compose ps").await?)
        .ok_or_else(|| Error::Docker(format!("compose created no container for {service}")))?;
    let info = docker::inspect(&id).await?;
    let image = info["Config"]["Image"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let pgdata = docker::container_env(&info)
        .get("PGDATA")
        .cloned()
        .unwrap_or_else(|| "/var/lib/postgresql/data".into());
    let volume = mount_source(&info, &pgdata, "volume").ok_or_else(|| {
        Error::Docker(format!(
            "the service {service} has no named volume at {pgdata}"
        ))
    })?;
    let backups = mount_source(&info, "/backups", "bind").ok_or_else(|| {
        Error::Docker(format!(
            "the service {service} does not mount the backup dir at /backups"
        ))
    })?;
    let sysid = &base.manifest.system_identifier;
    sink.log(format!("unpacking {} into volume {volume}", base.name));

    let vol = format!("{volume}:{pgdata}");
    let out = unpack_into_volume(&image, &volume, &pgdata, &base.path).await?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("not empty") {
            return Err(Error::Refused(format!(
                "volume {volume} holds a database: nothing was changed; move it aside first (`docker volume rm {volume}` after saving it, or `{} down -v` when it is a fresh, empty cluster)",
                cli.display()
            )));
        }
        return Err(Error::Docker(format!(
            "unpacking into {volume} failed: {}",
            err.trim()
        )));
    }

    sink.log(format!(
        "replaying the WAL of cluster {sysid} in a temporary container"
    ));
    let script = format!(
        "cd \"$PGDATA\" || exit 1\n\
         cp postgresql.auto.conf /tmp/auto.orig\n\
         cat >> postgresql.auto.conf <<'EOF'\n\
         listen_addresses = ''\n\
         unix_socket_directories = '/tmp'\n\
         logging_collector = off\n\
         hot_standby = off\n\
         restore_command = 'cp \"/backups/wal/{sysid}/%f\" \"%p\"'\n\
         recovery_target_timeline = 'latest'\n\
         EOF\n\
         : > recovery.signal\n\
         rc=0\n\
         pg_ctl -D \"$PGDATA\" -l /tmp/recover.log -W start >/dev/null 2>&1 || rc=1\n\
         # Recovery is over when the server promoted and says it accepts connections.\n\
         ready() {{ case \"$(cat /tmp/recover.log 2>/dev/null)\" in *'ready to accept connections'*) return 0;; esac; return 1; }}\n\
         while [ $rc = 0 ] && {{ [ -f recovery.signal ] || ! ready; }}; do\n\
         sleep 1; pg_ctl -D \"$PGDATA\" status >/dev/null 2>&1 || rc=1\n\
         done\n\
         if [ $rc = 0 ]; then pg_ctl -D \"$PGDATA\" -m fast -w -t 600 stop >/dev/null 2>&1 || rc=1; fi\n\
         cp /tmp/auto.orig postgresql.auto.conf\n\
         cat /tmp/recover.log\n\
         exit $rc\n"
    );
    let mut replay = tokio::process::Command::new("docker");
    replay
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            "-u",
            "postgres",
            "--entrypoint",
            "sh",
            "-e",
        ])
        .arg(format!("PGDATA={pgdata}"))
        .args([
            "-v",
            &vol,
            "-v",
            &format!("{backups}:/backups"),
            &image,
            "-c",
            &script,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = replay
        .output()
        .await
        .map_err(|e| Error::Docker(format!("docker run: {e}")))?;
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    if let Some(fatal) = log
        .lines()
        .find(|l| l.contains("FATAL:") || l.contains("PANIC:"))
    {
        return Err(Error::Refused(explain_fatal(fatal)));
    }
    if !out.status.success() {
        return Err(Error::Other(format!(
            "the recovery in the temporary container failed: {}",
            crate::engine::local_server::last_lines(
                &format!("{log}{}", String::from_utf8_lossy(&out.stderr)),
                2
            )
        )));
    }
    let last_transaction = log.lines().find_map(|l| {
        l.find("last completed transaction was at log time")
            .map(|i| l[i..].to_string())
    });
    let mut up = compose(cli, &file);
    up.args(["up", "-d", &service]);
    output_of(up, "compose up -d").await?;
    Ok(ComposeRecovered {
        volume,
        base: base.name,
        last_transaction,
    })
}

/// The source of the container's mount at `dest` of `kind` ("volume" name or "bind" path).
pub(super) fn mount_source(info: &Value, dest: &str, kind: &str) -> Option<String> {
    info["Mounts"].as_array()?.iter().find_map(|m| {
        (m["Destination"].as_str()? == dest && m["Type"].as_str()? == kind).then(|| {
            if kind == "volume" {
                m["Name"].as_str().map(str::to_string)
            } else {
                m["Source"].as_str().map(str::to_string)
            }
        })?
    })
}

/// Unpacks the base backup `base` (a `.tar.gz`, streamed in) into the docker volume
/// `volume` mounted at `pgdata` in a temporary root container of `image` without network,
/// giving it to user postgres. The script refuses a volume that is not empty ("not empty"
/// on stderr, exit 3). Returns the container's output.
pub(super) async fn unpack_into_volume(
    image: &str,
    volume: &str,
    pgdata: &str,
    base: &Path,
) -> Result<std::process::Output> {
    let vol = format!("{volume}:{pgdata}");
    let file_in =
        std::fs::File::open(base).map_err(|e| Error::io("opening the base backup", e, base))?;
    let mut unpack = tokio::process::Command::new("docker");
    unpack
        .args(["run", "--rm", "-i", "--network", "none", "-u", "root", "--entrypoint", "sh", "-v", &vol, image, "-c"])
        .arg("set -e; cd \"$1\"; if [ -n \"$(ls -A .)\" ]; then echo 'pgkeep: the volume is not empty' >&2; exit 3; fi; tar -xzf -; chown -R postgres:postgres .; chmod 700 .")
        .args(["sh", pgdata])
        .stdin(Stdio::from(file_in))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    unpack
        .output()
        .await
        .map_err(|e| Error::Docker(format!("docker run: {e}")))
}
