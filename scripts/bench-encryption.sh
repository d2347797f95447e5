#!/usr/bin/env bash
# Benchmarks what age encryption costs offsite: one `pgkeep backup` of a pgbench database in a
# private PostgreSQL cluster, then `pgkeep offsite push` of it to a plain directory destination
# and to one with `encrypt_to` (alternating, RUNS times each), and `offsite pull` back from
# each; prints the times and the overhead of encryption (goal: < 15 % of the push).
# Settings (environment): SCALE (pgbench scale, default 50), RUNS (default 2), PGKEEP_BIN (a
# prebuilt binary; default: cargo build --release). Needs PostgreSQL server binaries; as root,
# the cluster runs as user postgres. Local backups are plain gzip, so the backup itself costs
# the same with or without encryption offsite.
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${SCALE:-50}
RUNS=${RUNS:-2}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$PGBIN/initdb" ] || { echo "bench: no PostgreSQL server binaries (install postgresql)"; exit 1; }
export PATH="$PGBIN:$PATH"

if [ -z "${PGKEEP_BIN:-}" ]; then
  cargo build --release -q
  PGKEEP_BIN=$(pwd)/target/release/pgkeep
fi

WORK=$(mktemp -d /tmp/pgkeep-bench-enc.XXXXXX)
chmod 755 "$WORK"
as_pg() { if [ "$(id -u)" = 0 ]; then chown -R postgres "$WORK/data" "$WORK"; runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  as_pg pg_ctl -D "$WORK/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORK/data"
as_pg initdb -D "$WORK/data" -U postgres -A trust --no-sync >/dev/null
as_pg pg_ctl -D "$WORK/data" -l "$WORK/log" -w \
  -o "-p $PORT -k $WORK -c listen_addresses='' -c fsync=off -c shared_buffers=128MB" start >/dev/null
export PGHOST=$WORK PGPORT=$PORT PGUSER=postgres PGDATABASE=bench
createdb bench
echo "building pgbench scale $SCALE ..."
pgbench -q -i -s "$SCALE" bench >/dev/null 2>&1
echo "database size: $(psql -XAtc "SELECT pg_size_pretty(pg_database_size('bench'))")"

now() { date +%s.%N; }
BK=$WORK/db_backups
t0=$(now)
"$PGKEEP_BIN" --backup-dir "$BK" --target direct backup --quiet >/dev/null
t1=$(now)
NAME=$(basename "$(ls "$BK"/*.sql.gz)")
printf 'backup               : %6.2f s  %s bytes\n' "$(echo "$t1 - $t0" | bc -l)" "$(stat -c %s "$BK/$NAME")"

# Keys made by pgkeep's own age crate would need a helper; the age CLI is simpler.
command -v age-keygen >/dev/null || { echo "bench: age-keygen missing (apt-get install age)"; exit 1; }
age-keygen -o "$WORK/key.txt" 2>/dev/null
RCP=$(grep -o 'age1[0-9a-z]*' "$WORK/key.txt" | head -1)

measure() { # kind run -> seconds of one push into a fresh destination
  local kind=$1 run=$2 off="$WORK/off-$1-$2" cfg="$WORK/$1-$2.toml"
  mkdir -p "$off"
  printf '[[offsite]]\nkind = "dir"\npath = "%s"\n' "$off" > "$cfg"
  [ "$kind" = enc ] && printf 'encrypt_to = ["%s"]\n' "$RCP" >> "$cfg"
  sync
  local a b
  a=$(now)
  "$PGKEEP_BIN" --config "$cfg" --backup-dir "$BK" --target direct offsite push "$NAME" >/dev/null 2>&1
  b=$(now)
  echo "$b - $a" | bc -l
}

pull() { # kind run -> seconds of one pull from that destination into a fresh folder
  local kind=$1 run=$2 cfg="$WORK/$1-$2.toml" dest="$WORK/pull-$1-$2"
  local a b
  a=$(now)
  "$PGKEEP_BIN" --config "$cfg" --backup-dir "$dest" --target direct offsite pull "$NAME" \
    --identity "$WORK/key.txt" >/dev/null
  b=$(now)
  cmp -s "$dest/$NAME" "$BK/$NAME" || { echo "bench: pulled copy differs"; exit 1; }
  rm -rf "$dest"
  echo "$b - $a" | bc -l
}

plain_push=0; enc_push=0; plain_pull=0; enc_pull=0
for run in $(seq 1 "$RUNS"); do
  p=$(measure plain "$run"); e=$(measure enc "$run")
  pp=$(pull plain "$run"); ep=$(pull enc "$run")
  printf 'run %s: push plain %6.2f s  encrypted %6.2f s   pull plain %6.2f s  decrypted %6.2f s\n' "$run" "$p" "$e" "$pp" "$ep"
  plain_push=$(echo "$plain_push + $p" | bc -l); enc_push=$(echo "$enc_push + $e" | bc -l)
  plain_pull=$(echo "$plain_pull + $pp" | bc -l); enc_pull=$(echo "$enc_pull + $ep" | bc -l)
  rm -rf "$WORK/off-plain-$run"
done
printf 'push: encryption overhead %+.1f %% (goal < 15 %%)   pull: decryption overhead %+.1f %%\n' \
  "$(echo "($enc_push / $plain_push - 1) * 100" | bc -l)" "$(echo "($enc_pull / $plain_pull - 1) * 100" | bc -l)"
