#!/usr/bin/env bash
# Restore speed against the plain tools, from one run on pgbench scale $SCALE (default 50):
#   plain:  gunzip -c f.sql.gz | psql -q db        into a fresh database
#   pgkeep: pgkeep restore f --yes --no-safety-backup   (checks, scratch load, swap)
# and the pgkeep restore with its safety backup. Prints the wall times and the ratio
# pgkeep/plain (goal: <= 0.9), best of $RUNS alternating runs each (default 2). A private
# cluster in a temp dir (run as user postgres when root); the release binary.
# Usage: [RUNS=N] scripts/bench-restore.sh [SCALE]
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-${SCALE:-50}}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
export PATH="$PGBIN:$PATH"

cargo build --release -q
BIN=$(pwd)/target/release/pgkeep

CL=$(mktemp -d /tmp/pgkeep-bench-restore.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then chown -R postgres: "$CL"; runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() { as_pg pg_ctl -D "$CL/data" -m immediate -w stop >/dev/null 2>&1 || true; rm -rf "$CL"; }
trap cleanup EXIT
export PGPORT=$(( 52000 + RANDOM % 3000 )) PGHOST=$CL PGUSER=postgres PGDATABASE=bench
as_pg initdb -D "$CL/data" -U postgres -A trust --no-sync >/dev/null
as_pg pg_ctl -D "$CL/data" -l "$CL/log" -w -o "-p $PGPORT -k $CL -c listen_addresses=''" start >/dev/null

now() { date +%s.%N; }
secs() { echo "scale=2; ($2 - $1) / 1" | bc; }

echo "pgbench scale $SCALE: initialising..."
createdb bench
pgbench -q -i -s "$SCALE" bench >/dev/null 2>&1
BK=$CL/backups
"$BIN" --target direct --backup-dir "$BK" backup --quiet >/dev/null
FILE=$(ls "$BK"/*.sql.gz | head -1)
echo "backup: $(du -h "$FILE" | cut -f1) compressed, $(psql -Atc "SELECT pg_size_pretty(pg_database_size('bench'))") database"
cat "$FILE" >/dev/null   # both runs start with the file in the page cache

# Alternate the two, $RUNS times each, and compare the best of each: the machine may be shared.
RUNS=${RUNS:-2}
plain_all=(); ours_all=()
for i in $(seq 1 "$RUNS"); do
  createdb plain
  psql -qc CHECKPOINT
  t0=$(now); gunzip -c "$FILE" | psql -q -X plain >/dev/null; t1=$(now)
  plain_all+=("$(secs "$t0" "$t1")")
  dropdb plain
  psql -qc CHECKPOINT
  t0=$(now); "$BIN" --target direct --backup-dir "$BK" restore "$FILE" --yes --no-safety-backup --quiet >/dev/null; t1=$(now)
  ours_all+=("$(secs "$t0" "$t1")")
  "$BIN" --target direct --backup-dir "$BK" cleanup --yes >/dev/null
done
best() { printf '%s\n' "$@" | sort -n | head -1; }
plain=$(best "${plain_all[@]}"); ours=$(best "${ours_all[@]}")

psql -qc CHECKPOINT
t0=$(now); "$BIN" --target direct --backup-dir "$BK" restore "$FILE" --yes --quiet >/dev/null; t1=$(now)
safe=$(secs "$t0" "$t1")

echo "gunzip -c | psql -q into a fresh database:   ${plain}s  (best of: ${plain_all[*]})"
echo "pgkeep restore --no-safety-backup:          ${ours}s  (best of: ${ours_all[*]})"
echo "pgkeep restore (with safety backup):        ${safe}s"
echo "ratio pgkeep/plain: $(echo "scale=2; $ours / $plain" | bc) (goal <= 0.9)"
