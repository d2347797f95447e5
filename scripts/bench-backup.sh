#!/usr/bin/env bash
# Benchmarks `pgkeep backup` against the old script's `pg_dump db | gzip > f.sql.gz` on a
# pgbench database in a private PostgreSQL cluster, from one run of each, and prints:
#   time ratio  = pgkeep wall time / pg_dump|gzip wall time      (goal <= 1.0)
#   size ratio  = pgkeep .sql.gz size / pg_dump|gzip size         (goal <= 1.1)
#   peak RSS    = pgkeep's maximum resident set size (/usr/bin/time -v; goal <= 40 MB)
# Settings (environment): SCALE (pgbench scale, default 50), LEVELS (pgkeep gzip levels to
# measure, default "6"; e.g. LEVELS="1 3 6"), GZIP_LEVEL (the old script's level, default 6),
# PGKEEP_BIN (a prebuilt binary; default: cargo build --release).
# Needs PostgreSQL server binaries and /usr/bin/time (apt-get install time); as root, the
# cluster runs as user postgres.
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${SCALE:-50}
LEVELS=${LEVELS:-6}
GZIP_LEVEL=${GZIP_LEVEL:-6}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$PGBIN/initdb" ] || { echo "bench: no PostgreSQL server binaries (install postgresql)"; exit 1; }
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing (apt-get install time)"; exit 1; }
export PATH="$PGBIN:$PATH"

if [ -z "${PGKEEP_BIN:-}" ]; then
  cargo build --release -q
  PGKEEP_BIN=$(pwd)/target/release/pgkeep
fi

WORK=$(mktemp -d /tmp/pgkeep-bench.XXXXXX)
chmod 755 "$WORK"
as_pg() { if [ "$(id -u)" = 0 ]; then chown -R postgres "$WORK"; runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  as_pg pg_ctl -D "$WORK/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg initdb -D "$WORK/data" -U postgres -A trust --no-sync >/dev/null
as_pg pg_ctl -D "$WORK/data" -l "$WORK/log" -w \
  -o "-p $PORT -k $WORK -c listen_addresses='' -c fsync=off -c shared_buffers=128MB" start >/dev/null
export PGHOST=$WORK PGPORT=$PORT PGUSER=postgres PGDATABASE=bench
createdb bench
echo "building pgbench scale $SCALE ..."
pgbench -q -i -s "$SCALE" bench >/dev/null 2>&1
echo "database size: $(psql -XAtc "SELECT pg_size_pretty(pg_database_size('bench'))")"

now() { date +%s.%N; }
# Warm the cache once so neither contender pays for cold reads.
pg_dump bench >/dev/null

t0=$(now)
pg_dump bench | gzip -"$GZIP_LEVEL" > "$WORK/old.sql.gz"
t1=$(now)
old_time=$(echo "$t1 - $t0" | bc -l)
old_size=$(stat -c %s "$WORK/old.sql.gz")
printf 'pg_dump | gzip -%s : %6.2f s  %s bytes\n' "$GZIP_LEVEL" "$old_time" "$old_size"

for level in $LEVELS; do
  dir="$WORK/bk$level"
  t0=$(now)
  /usr/bin/time -v -o "$WORK/time$level" "$PGKEEP_BIN" --backup-dir "$dir" --target direct \
    --compression-level "$level" backup --quiet >/dev/null
  t1=$(now)
  new_time=$(echo "$t1 - $t0" | bc -l)
  new_size=$(stat -c %s "$dir"/*.sql.gz)
  rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time$level")
  printf 'pgkeep level %s    : %6.2f s  %s bytes  peak RSS %.1f MB\n' "$level" "$new_time" "$new_size" "$(echo "$rss_kb / 1024" | bc -l)"
  printf '  time ratio %.2f (goal <= 1.0)  size ratio %.2f (goal <= 1.1)  peak RSS %.1f MB (goal <= 40)\n' \
    "$(echo "$new_time / $old_time" | bc -l)" "$(echo "$new_size / $old_size" | bc -l)" "$(echo "$rss_kb / 1024" | bc -l)"
  rm -rf "$dir"
done
