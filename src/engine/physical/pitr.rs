//! `pgkeep restore --time`: point-in-time restore of one database through a scratch server.
//!
//! Order: make everything up to now reach the archive (a committed transaction id and a WAL
//! switch on the live server, then wait for the segment), pick the newest base backup that
//! finished before the target, check the archive covers the target — all before anything is
//! changed, refusing with the window otherwise. Then recover into a scratch server — on this
//! host for the direct target ([`super::scratch_server`]), a temporary container on a new
//! volume for the compose target ([`super::pitr_compose`]), recorded first so a killed run's
//! is removed later ([`super::abandoned`]) — dump the database from it and bring the dump in
//! through the logical restore's safe path (scratch database, swap, the replaced one kept).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use super::abandoned::{self, Marker, Scratch};
use super::base_catalog::BaseBackup;
use super::cluster::{self, ClusterFacts};
use super::livewal;
use super::pitr_checks::{choose_base, flush_to_archive, segments_from_server};
use super::pitr_compose::{ComposePlan, ComposeScratch};
use super::scratch_server::{RecoveryReport, RecoverySettings, ScratchServer};
use super::target_time::{for_server, TargetTime};
use super::window::{local, RecoveryWindow};
use crate::engine::backup::{self, BackupOptions};
use crate::engine::catalog;
use crate::engine::progress::{Phase, Sink};
use crate::engine::restore::{self, RestoreOptions, RestoreOutcome};
use crate::error::{Error, Result};
use crate::target::direct::DirectTarget;
use crate::target::{self, ConnParams, Target};

/// How to restore to a moment.
#[derive(Debug, Clone)]
pub struct PitrOptions {
    /// The moment.
    pub time: TargetTime,
    /// Restore into this new database instead of replacing the live one.
    pub into: Option<String>,
    /// Take a `pre-restore` backup first.
    pub safety_backup: bool,
    /// gzip level for the dumps.
    pub compression_level: u32,
    /// The WAL archive folder (`<wal dir>`, holding one folder per cluster).
    pub wal_dir: PathBuf,
    /// Directory of the PostgreSQL programs, if configured.
    pub pg_bin: Option<PathBuf>,
    /// Encrypt the `pre-restore` safety backup to these age recipients (top-level
    /// `encrypt_to`); the recovered dump in the private scratch folder stays plain.
    pub encrypt_to: Option<crate::offsite::crypt::Recipients>,
}

/// What a point-in-time restore did.
#[derive(Debug, Clone)]
pub struct PitrOutcome {
    /// The logical restore's outcome.
    pub restore: RestoreOutcome,
    /// The base backup recovery started from.
    pub base: String,
    /// The moment asked for (UTC); the newest archived change for `latest`.
    pub target: DateTime<Utc>,
    /// What the recovering server said about where it stopped.
    pub server_said: Option<String>,
}

/// Restores the target's database to `opts.time`.
pub async fn restore_to_time(
    target: &dyn Target,
    backup_dir: &Path,
    opts: &PitrOptions,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<PitrOutcome> {
    sink.phase(Phase::Check);
    if let Some(line) = abandoned::reaped_line(&abandoned::reap(backup_dir)) {
        sink.log(line);
    }
    let client = target::connect(target, target.database()).await?;
    let facts = ClusterFacts::read(&client).await?;
    let archive = opts.wal_dir.join(&facts.system_identifier);
    let now = Utc::now();
    let want = match opts.time {
        TargetTime::At(t) if t > now => {
            return Err(Error::Refused(format!(
                "{} is in the future: choose a moment before now, or `--time latest`",
                local(t)
            )))
        }
        TargetTime::At(t) => t,
        TargetTime::Latest => now,
    };
    let window = RecoveryWindow::compute(
        backup_dir,
        &opts.wal_dir,
        &facts.system_identifier,
        Some(&facts),
    )?;
    let base = choose_base(backup_dir, &facts, want, &window)?;
    let switched = flush_to_archive(&client, &facts, sink, cancel).await?;
    let from_server =
        segments_from_server(&client, &facts, &archive, &base, switched, want, &window).await?;
    sink.log(format!(
        "base backup {} (finished {}), WAL from the archive {}{}",
        base.name,
        local(base.manifest.finished_at),
        archive.display(),
        match from_server.len() {
            0 => String::new(),
            n => format!(" and {n} segment(s) not archived yet, read from the server's pg_wal"),
        }
    ));
    let target_time = matches!(opts.time, TargetTime::At(_)).then(|| for_server(want));
    let recovery = Recovery {
        client: &client,
        facts: &facts,
        base: &base,
        archive: &archive,
        from_server: &from_server,
        target_time,
        want,
    };
    let (mut pad, report) = match target.container() {
        Some(live) => {
            recover_in_container(target, backup_dir, &live, &recovery, sink, cancel).await?
        }
        None => recover_on_host(target, backup_dir, opts, &recovery, sink, cancel).await?,
    };
    let server_said = report
        .stopped_before
        .clone()
        .or(report.last_transaction.clone());

    sink.phase(Phase::Dump);
    let dumps = pad.dump_dir();
    let label = format!("point-in-time {}", local(want));
    let dumped = backup::backup(
        pad.target.as_ref(),
        &dumps,
        &BackupOptions {
            label: Some(label),
            compression_level: opts.compression_level.min(1),
            lock_wait_timeout: None,
            dir_policy: crate::engine::fsutil::DirPolicy::Private,
            encrypt_to: None,
        },
        &Sink::none(),
        cancel,
    )
    .await
    .map_err(|e| match e {
        Error::NoSuchDatabase(db) => Error::Refused(format!(
            "database \"{db}\" did not exist at {}: choose a later moment",
            local(want)
        )),
        e => e,
    })?;
    let entry = catalog::scan(&dumps)?
        .into_iter()
        .find(|e| e.path == dumped.path)
        .ok_or_else(|| Error::Other("the recovered dump vanished".into()))?;
    pad.stop();
    let restored = restore::restore(
        target,
        backup_dir,
        &entry,
        &RestoreOptions {
            into: opts.into.clone(),
            safety_backup: opts.safety_backup,
            compression_level: opts.compression_level,
            update_roles: false,
            tablespace_default: false,
            jobs: None,
            lock_wait_timeout: None,
            dir_policy: crate::engine::fsutil::DirPolicy::SharedWithServer,
            encrypt_to: opts.encrypt_to.clone(),
        },
        sink,
        cancel,
    )
    .await?;
    drop(pad);
    Ok(PitrOutcome {
        restore: restored,
        base: base.name,
        target: want,
        server_said,
    })
}

/// What the scratch server recovers, decided by the checks.
struct Recovery<'a> {
    client: &'a Client,
    facts: &'a ClusterFacts,
    base: &'a BaseBackup,
    archive: &'a Path,
    from_server: &'a [String],
    target_time: Option<String>,
    want: DateTime<Utc>,
}

impl Recovery<'_> {
    fn announce(&self, sink: &Sink, place: &str) {
        sink.log(match &self.target_time {
            Some(_) => format!("recovering to {} in {place}", local(self.want)),
            None => format!("recovering to the newest archived change in {place}"),
        });
    }
}

/// The recovered scratch server: a target to dump from, a folder for the dump, and what
/// removes it all (the server or container first, then its marker) when dropped.
struct Scratchpad {
    target: Box<dyn Target>,
    holder: Holder,
}

enum Holder {
    /// The server first: fields drop in order, the marker goes after it.
    Host {
        server: ScratchServer,
        _marker: Marker,
    },
    Container(ComposeScratch),
}

impl Scratchpad {
    fn dump_dir(&self) -> PathBuf {
        match &self.holder {
            Holder::Host { server, .. } => server.root().join("dump"),
            Holder::Container(c) => c.dump_dir(),
        }
    }

    /// Stops the server (and removes the container); the dump stays until drop.
    fn stop(&mut self) {
        match &mut self.holder {
            Holder::Host { server, .. } => server.stop(),
            Holder::Container(c) => c.remove_docker(),
        }
    }
}

/// Direct target: a scratch server on this host, in a temporary data directory and port.
async fn recover_on_host(
    target: &dyn Target,
    backup_dir: &Path,
    opts: &PitrOptions,
    r: &Recovery<'_>,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<(Scratchpad, RecoveryReport)> {
    let major = r.facts.major;
    let pg_ctl = cluster::server_program("pg_ctl", major, opts.pg_bin.as_deref()).ok_or_else(|| {
        Error::ToolMissing {
            tool: "pg_ctl".into(),
            reason: format!(
                "PostgreSQL {major} server programs are needed for the scratch server: install postgresql-{major} (or set pg_bin)"
            ),
        }
    })?;
    let server = ScratchServer::create(None, pg_ctl)?;
    let marker = abandoned::record(
        backup_dir,
        &Scratch::Server {
            pid: std::process::id() as i32,
            root: server.root().to_path_buf(),
            data: server.data.clone(),
        },
    )?;
    let pad_target = DirectTarget::new(
        ConnParams {
            host: server.socket_dir.display().to_string(),
            port: server.port,
            user: target.user().to_string(),
            password: None,
            dbname: target.database().to_string(),
        },
        opts.pg_bin.clone(),
    );
    let pad = Scratchpad {
        target: Box::new(pad_target),
        holder: Holder::Host {
            server,
            _marker: marker,
        },
    };
    let Holder::Host { server, .. } = &pad.holder else {
        unreachable!()
    };
    server.unpack_base(&r.base.path, sink).await?;
    for seg in r.from_server {
        livewal::fetch(r.client, seg, &server.live_wal_dir()).await?;
    }
    server.configure(&RecoverySettings {
        archive: r.archive.to_path_buf(),
        target_time: r.target_time.clone(),
        use_live_wal: !r.from_server.is_empty(),
    })?;
    r.announce(sink, &format!("a scratch server (port {})", server.port));
    let report = server.recover(sink, cancel).await?;
    Ok((pad, report))
}

/// Compose target: a temporary container of the service's image on a new volume.
async fn recover_in_container(
    target: &dyn Target,
    backup_dir: &Path,
    live: &str,
    r: &Recovery<'_>,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<(Scratchpad, RecoveryReport)> {
    let scratch = ComposeScratch::create(backup_dir, target)?;
    for seg in r.from_server {
        livewal::fetch(r.client, seg, &scratch.live_wal_dir()).await?;
    }
    r.announce(
        sink,
        &format!("the temporary container {}", scratch.container()),
    );
    let plan = ComposePlan {
        base: &r.base.path,
        archive: r.archive,
        target_time: r.target_time.clone(),
    };
    let report = scratch.recover(live, &plan, sink, cancel).await?;
    Ok((
        Scratchpad {
            target: Box::new(scratch.target()),
            holder: Holder::Container(scratch),
        },
        report,
    ))
}
