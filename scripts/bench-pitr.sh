#!/usr/bin/env bash
# Benchmarks point-in-time recovery on a pgbench database in a private PostgreSQL cluster that
# archives WAL through `pgkeep wal archive-command`, one run of each, and prints:
#   base backup   `pgkeep basebackup` vs `pg_basebackup -Ft -X fetch -D - | gzip` (time, size)
#   restore       `pgkeep restore --time <moment>` vs `pgkeep restore latest` (the last dump)
#   RPO           how long after a single change on a quiet database it is in the archive,
#                 with ARCHIVE_TIMEOUT (default 10 s here; the compose file ships 60 s)
# Settings (environment): SCALE (pgbench scale, default 20), ARCHIVE_TIMEOUT, PGKEEP_BIN
# (a prebuilt binary; default: cargo build --release). As root, the cluster runs as postgres.
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${SCALE:-20}
ARCHIVE_TIMEOUT=${ARCHIVE_TIMEOUT:-10}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$PGBIN/initdb" ] || { echo "bench: no PostgreSQL server binaries (install postgresql)"; exit 1; }
export PATH="$PGBIN:$PATH"
if [ -z "${PGKEEP_BIN:-}" ]; then
  cargo build --release -q
  PGKEEP_BIN=$(pwd)/target/release/pgkeep
fi

WORK=$(mktemp -d /tmp/pgkeep-bench-pitr.XXXXXX)
chmod 755 "$WORK"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$WORK"
cleanup() {
  as_pg pg_ctl -D "$WORK/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg initdb -D "$WORK/data" -U postgres -A trust --no-sync >/dev/null
as_pg pg_ctl -D "$WORK/data" -l "$WORK/log" -w \
  -o "-p $PORT -k $WORK -c listen_addresses='' -c fsync=off -c shared_buffers=128MB -c wal_level=replica -c archive_mode=on -c archive_timeout=$ARCHIVE_TIMEOUT -c max_wal_size=2GB" start >/dev/null
export PGHOST=$WORK PGPORT=$PORT PGUSER=postgres PGDATABASE=bench PGKEEP_TARGET=direct
BK=$WORK/backups; mkdir -p "$BK"; chmod 777 "$BK"
pk() { "$PGKEEP_BIN" --backup-dir "$BK" "$@"; }
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.1f}')"; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

psql -d postgres -qc "ALTER SYSTEM SET archive_command = \$q\$$(pk wal archive-command)\$q\$" -c "SELECT pg_reload_conf()" >/dev/null
createdb bench
echo "pgbench -i -s $SCALE ..."
pgbench -i -q -s "$SCALE" bench >/dev/null 2>&1
echo "database size: $(psql -Atc "SELECT pg_size_pretty(pg_database_size('bench'))")"

t0=$(now); BASE=$(pk basebackup --quiet); t1=$(now)
pk_time=$(secs "$t0" "$t1"); pk_size=$(stat -c %s "$BASE")
t0=$(now); pg_basebackup -Ft -X fetch -c fast -D - | gzip > "$WORK/plain.tar.gz"; t1=$(now)
pl_time=$(secs "$t0" "$t1"); pl_size=$(stat -c %s "$WORK/plain.tar.gz")
echo "base backup: pgkeep ${pk_time}s ${pk_size} B (incl. pg_verifybackup) vs pg_basebackup|gzip ${pl_time}s ${pl_size} B: time ratio $(ratio "$pk_time" "$pl_time"), size ratio $(ratio "$pk_size" "$pl_size")"

pk backup --quiet >/dev/null
pgbench -n -T 10 -c 2 bench >/dev/null 2>&1
TARGET=$(psql -Atc "SELECT now()")
sleep 1
psql -qc "DELETE FROM pgbench_history"
t0=$(now); pk restore --time "$TARGET" --yes --no-safety-backup --quiet >/dev/null; t1=$(now)
pitr_time=$(secs "$t0" "$t1")
t0=$(now); pk restore latest --yes --no-safety-backup --quiet >/dev/null; t1=$(now)
dump_time=$(secs "$t0" "$t1")
echo "restore: point-in-time ${pitr_time}s vs the last dump ${dump_time}s: ratio $(ratio "$pitr_time" "$dump_time")"
pk cleanup --yes >/dev/null 2>&1 || true

sleep "$ARCHIVE_TIMEOUT"
psql -qc "CREATE TABLE rpo_probe(x int)"
t0=$(now)
before=$(psql -Atc "SELECT archived_count FROM pg_stat_archiver")
while [ "$(psql -Atc "SELECT archived_count FROM pg_stat_archiver")" = "$before" ]; do sleep 0.2; done
t1=$(now)
echo "RPO on a quiet database with archive_timeout=${ARCHIVE_TIMEOUT}s: the change was archived after $(secs "$t0" "$t1")s (bound: archive_timeout; the compose file ships 60 s)"
