#!/usr/bin/env bash
# Restore speed against the plain tools, side by side in one run, on two databases:
#   six:     six 400,000-row tables, each with a primary key and three secondary indexes (~520 MB)
#   pgbench: pgbench scale $SCALE (default 50; one dominant table)
# For each: the wall time of
#   plain:      gunzip -c f.sql.gz | psql -q -X db          into a fresh database
#   pg_restore: pg_restore -j2 -d db dir/                   of a directory-format dump, fresh db
#   pgkeep:     pgkeep restore f --yes --no-safety-backup   (checks, parallel scratch load with
#               indexes and ANALYZE, swap)
# best of $RUNS alternating runs each (default 2), the ratios of the best times and the median of
# the per-run ratios. Goals: on `six` pgkeep no
# slower than pg_restore -j2 and <= 0.8x plain; on pgbench no slower than plain.
# PGKEEP_JOBS=N passes --jobs N to pgkeep (default: automatic). A private cluster in a temp dir
# (run as user postgres when root); the release binary. The machine may be shared: compare
# the numbers of one run only.
# Usage: [RUNS=N] [SCALE=N] [ONLY=six|pgbench] scripts/bench-restore.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${SCALE:-50}
RUNS=${RUNS:-2}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
export PATH="$PGBIN:$PATH"

if [ -z "${PGKEEP_BIN:-}" ]; then
  cargo build --release -q
  PGKEEP_BIN=$(pwd)/target/release/pgkeep
fi
BIN=$PGKEEP_BIN

CL=$(mktemp -d /tmp/pgkeep-bench-restore.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then chown -R postgres: "$CL"; runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() { as_pg pg_ctl -D "$CL/data" -m immediate -w stop >/dev/null 2>&1 || true; rm -rf "$CL"; }
trap cleanup EXIT
export PGPORT=$(( 52000 + RANDOM % 3000 )) PGHOST=$CL PGUSER=postgres
as_pg initdb -D "$CL/data" -U postgres -A trust --no-sync >/dev/null
as_pg pg_ctl -D "$CL/data" -l "$CL/log" -w -o "-p $PGPORT -k $CL -c listen_addresses='' -c max_wal_size=4GB" start >/dev/null

now() { date +%s.%N; }
secs() { echo "scale=2; ($2 - $1) / 1" | bc; }
best() { printf '%s\n' "$@" | sort -n | head -1; }
ratio() { echo "scale=2; $1 / $2" | bc; }
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : sprintf("%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
jobs_arg=()
if [ -n "${PGKEEP_JOBS:-}" ]; then jobs_arg=(--jobs "$PGKEEP_JOBS"); fi
unset PGKEEP_JOBS

make_six() {
  createdb "$1"
  for i in 1 2 3 4 5 6; do
    psql -q -X -d "$1" -c "CREATE TABLE t$i (id int PRIMARY KEY, a int NOT NULL, b text NOT NULL, c timestamptz NOT NULL, d text);
      INSERT INTO t$i SELECT g, (random() * 1e6)::int, md5(g::text), timestamptz '2026-01-01' - g * interval '1 minute',
             'note ' || g FROM generate_series(1, 400000) g;
      CREATE INDEX t${i}_a ON t$i (a); CREATE INDEX t${i}_b ON t$i (b); CREATE INDEX t${i}_c ON t$i (c);"
  done
  psql -q -X -d "$1" -c "VACUUM ANALYZE"
}

make_pgbench() {
  createdb "$1"
  pgbench -q -i -s "$SCALE" "$1" >/dev/null 2>&1
}

# bench <label> <db>: prints one block of results.
bench() {
  local label=$1 db=$2 bk=$CL/backups-$2
  export PGDATABASE=$db
  "$BIN" --target direct --backup-dir "$bk" backup --quiet >/dev/null
  local file
  file=$(ls "$bk"/*.sql.gz | head -1)
  pg_dump -Fd -f "$CL/dir-$db" "$db"
  echo "$label: database $(psql -X -Atc "SELECT pg_size_pretty(pg_database_size('$db'))"), backup $(du -h "$file" | cut -f1)"
  cat "$file" >/dev/null   # every run starts with the files in the page cache
  cat "$CL/dir-$db"/* >/dev/null
  local plain_all=() pgr_all=() ours_all=() t0 t1
  for _ in $(seq 1 "$RUNS"); do
    createdb plain; psql -X -qc CHECKPOINT
    t0=$(now); gunzip -c "$file" | psql -q -X plain >/dev/null; t1=$(now)
    plain_all+=("$(secs "$t0" "$t1")"); dropdb plain

    createdb pgr; psql -X -qc CHECKPOINT
    t0=$(now); pg_restore -j2 -d pgr "$CL/dir-$db"; t1=$(now)
    pgr_all+=("$(secs "$t0" "$t1")"); dropdb pgr

    psql -X -qc CHECKPOINT
    t0=$(now); "$BIN" --target direct --backup-dir "$bk" restore "$file" --yes --no-safety-backup --quiet "${jobs_arg[@]}" >/dev/null; t1=$(now)
    ours_all+=("$(secs "$t0" "$t1")")
    "$BIN" --target direct --backup-dir "$bk" cleanup --yes >/dev/null
  done
  local plain pgr ours
  plain=$(best "${plain_all[@]}"); pgr=$(best "${pgr_all[@]}"); ours=$(best "${ours_all[@]}")
  echo "  gunzip -c | psql -q -X:            ${plain}s  (runs: ${plain_all[*]})"
  echo "  pg_restore -j2 (directory dump):   ${pgr}s  (runs: ${pgr_all[*]})"
  echo "  pgkeep restore --no-safety-backup: ${ours}s  (runs: ${ours_all[*]})"
  echo "  ratio pgkeep/plain: $(ratio "$ours" "$plain")   pgkeep/pg_restore-j2: $(ratio "$ours" "$pgr")"
  # On a shared machine the speed drifts between runs: the ratio within each run (the three
  # tools side by side) is steadier than the ratio of the best times.
  local per_plain=() per_pgr=() i
  for i in "${!ours_all[@]}"; do
    per_plain+=("$(ratio "${ours_all[$i]}" "${plain_all[$i]}")")
    per_pgr+=("$(ratio "${ours_all[$i]}" "${pgr_all[$i]}")")
  done
  echo "  median of the per-run ratios: pgkeep/plain $(median "${per_plain[@]}")   pgkeep/pg_restore-j2 $(median "${per_pgr[@]}")"
}

echo "cores: $(nproc); pgkeep ${jobs_arg[*]:-(automatic jobs)}; best of $RUNS runs"
if [ "${ONLY:-six}" = six ] || [ -z "${ONLY:-}" ]; then
  echo "building the six-table database..."
  make_six six
  bench "six tables x 400,000 rows (pk + 3 indexes each)" six
  echo "  goals: pgkeep/plain <= 0.8, pgkeep/pg_restore-j2 <= 1.0"
  dropdb six
fi
if [ "${ONLY:-pgbench}" = pgbench ] || [ -z "${ONLY:-}" ]; then
  echo "building pgbench scale $SCALE..."
  make_pgbench bench
  bench "pgbench scale $SCALE" bench
  echo "  goal: pgkeep/plain <= 1.0"
fi
