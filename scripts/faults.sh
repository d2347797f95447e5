#!/usr/bin/env bash
# Fault injection against a private PostgreSQL cluster and the real pgkeep binary:
#   - SIGKILL at random moments of `backup` and `restore latest` ($FAULTS_TRIALS trials, default
#     40), each followed by checks: the live database's content is what it was, and every
#     backup `list` shows as finished is complete (gzip, trailer, sha256 of its manifest);
#   - disk full on a small tmpfs (root only), a lock-file symlink planted by user nobody (root
#     only), a database named `/../../../../tmp/x/evil`, a damaged manifest, two restores at once.
# At the end `pgkeep cleanup --yes` runs and the leftovers are counted (.partial, .tmp, scratch
# and replaced databases). Prints one line of figures:
#   faults: trials=N killed=K lost=L incomplete_listed=I leftovers=X scenarios_failed=S
# and exits non-zero unless lost, incomplete_listed, leftovers and scenarios_failed are all 0.
# Usage: [FAULTS_TRIALS=N] [PGKEEP_BIN=path] scripts/faults.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS=${FAULTS_TRIALS:-40}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
export PATH="$PGBIN:$PATH"
if [ -z "${PGKEEP_BIN:-}" ]; then cargo build -q; PGKEEP_BIN=$(pwd)/target/debug/pgkeep; fi
BIN=$PGKEEP_BIN

CL=$(mktemp -d /tmp/pgkeep-faults.XXXXXX)
chmod 755 "$CL"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
MNT=
cleanup() {
  [ -n "$MNT" ] && umount "$MNT" 2>/dev/null || true
  as_pg pg_ctl -D "$CL/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$CL"
}
trap cleanup EXIT
mkdir -p "$CL/data" "$CL/sock"
[ "$(id -u)" = 0 ] && chown -R postgres: "$CL/data" "$CL/sock"
export PGPORT=$(( 53000 + RANDOM % 3000 )) PGHOST=$CL/sock PGUSER=postgres PGDATABASE=shop
as_pg initdb -D "$CL/data" -U postgres -A trust --no-sync >/dev/null
start_server() { as_pg pg_ctl -D "$CL/data" -l "$CL/data/log" -w -o "-p $PGPORT -k $CL/sock -c listen_addresses='' -c fsync=off -c archive_mode=on" start >/dev/null; }
start_server
unset PGKEEP_URL PGKEEP_CONFIG
export PGKEEP_TARGET=direct
BK=$CL/backups
pk() { "$BIN" --backup-dir "$BK" "$@"; }
# The server archives WAL into the backup dir's wal/ (its own), as the documented layout says.
mkdir -m 711 "$BK"; mkdir -m 700 "$BK/wal"; [ "$(id -u)" = 0 ] && chown postgres: "$BK/wal"
psql -qXc "ALTER SYSTEM SET archive_command = \$q\$$(pk wal archive-command)\$q\$" postgres
psql -qXc "SELECT pg_reload_conf()" postgres >/dev/null

createdb shop
pgbench -q -i -s "${FAULTS_SCALE:-3}" shop >/dev/null 2>&1
psql -qc "CREATE TABLE invoice AS SELECT g AS id, g * 1.5 AS total FROM generate_series(1, 20000) g" shop
fingerprint() {
  psql -XAtc "SELECT (SELECT count(*) FROM pgbench_accounts) || ':' || (SELECT sum(abalance) FROM pgbench_accounts)
                 || ':' || (SELECT count(*) || ':' || sum(total) FROM invoice)" "${1:-shop}" 2>/dev/null || echo missing
}
EXPECTED=$(fingerprint)
t0=$(date +%s.%N); pk backup --quiet >/dev/null; t1=$(date +%s.%N)
pk restore --yes --quiet latest >/dev/null; t2=$(date +%s.%N)
# Kill moments are spread over the whole run of each command (and a little past its end).
SPAN_BACKUP=$(echo "($t1 - $t0) * 1.1" | bc); SPAN_RESTORE=$(echo "($t2 - $t1) * 1.1" | bc)

lost=0; incomplete=0; killed=0; failed_scenarios=0
# The tools a killed pgkeep started (pg_dump, psql) end on their own once their pipe is gone;
# wait for their sessions so the next trial does not meet them.
wait_for_orphans() {
  local n
  for _ in $(seq 1 100); do
    n=$(psql -XAtc "SELECT count(*) FROM pg_stat_activity WHERE backend_type IN ('client backend', 'walsender') AND pid <> pg_backend_pid()" postgres 2>/dev/null || echo 1)
    [ "$n" = 0 ] && return 0
    sleep 0.1
  done
  echo "sessions of a killed pgkeep still open after 10 s" >&2
}
fail() { echo "FAIL: $*" >&2; failed_scenarios=$((failed_scenarios + 1)); }

# Every backup `list` calls finished must be complete: gzip intact, trailer, sha256 as the
# manifest says. A finished backup never changes, so each is checked once.
declare -A checked=()
check_listed() {
  local name path sha
  for name in $(pk list --json | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    if e.get("kind") != "base" and e["status"]["state"] in ("complete", "verified", "no-manifest", "verify-failed"):
        print(e["name"])'); do
    [ -n "${checked[$name]:-}" ] && continue
    checked[$name]=1
    path=$BK/$name
    if ! gzip -t "$path" 2>/dev/null || ! gzip -dc "$path" | tail -c 200 | grep -q "dump complete"; then
      echo "incomplete backup listed as finished: $name" >&2; incomplete=$((incomplete + 1)); continue
    fi
    if [ -f "$path.json" ]; then
      sha=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sha256"])' "$path.json")
      [ "$sha" = "$(sha256sum "$path" | cut -d' ' -f1)" ] || { echo "sha256 differs: $name" >&2; incomplete=$((incomplete + 1)); }
    fi
  done
}

for i in $(seq 1 "$TRIALS"); do
  case $((RANDOM % 2)) in
    0) cmd=(backup --quiet); span=$SPAN_BACKUP ;;
    1) cmd=(restore --yes --quiet latest); span=$SPAN_RESTORE ;;
  esac
  # pgkeep itself is the background job (not a shell function around it: SIGKILL would then
  # hit the subshell and leave pgkeep running on).
  "$BIN" --backup-dir "$BK" "${cmd[@]}" >/dev/null 2>&1 &
  pid=$!
  sleep "$(awk -v r=$RANDOM -v s="$span" 'BEGIN { printf "%.3f", r / 32767 * s }')"
  if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
  wait "$pid" 2>/dev/null || true
  wait_for_orphans
  now=$(fingerprint)
  if [ "$now" != "$EXPECTED" ]; then
    echo "trial $i (${cmd[0]}): live database is '$now', expected '$EXPECTED'" >&2
    lost=$((lost + 1))
  fi
  check_listed
done

# The server crashes (immediate stop, then start) at a random moment of a backup or restore:
# the command fails with one line, the live database is as it was, nothing half is listed.
server_trials=$(( (TRIALS + 3) / 4 ))
for i in $(seq 1 "$server_trials"); do
  case $((RANDOM % 2)) in
    0) cmd=(backup --quiet); span=$SPAN_BACKUP ;;
    1) cmd=(restore --yes --quiet latest); span=$SPAN_RESTORE ;;
  esac
  "$BIN" --backup-dir "$BK" "${cmd[@]}" >/dev/null 2>"$CL/err" &
  pid=$!
  sleep "$(awk -v r=$RANDOM -v s="$span" 'BEGIN { printf "%.3f", r / 32767 * s }')"
  as_pg pg_ctl -D "$CL/data" -m immediate -w stop >/dev/null 2>&1
  if wait "$pid"; then :; else
    lines=$(grep -vc "^warning:" "$CL/err" || true)
    [ "$lines" = 1 ] || fail "${cmd[0]} during a server crash said $lines lines: $(cat "$CL/err")"
  fi
  start_server
  now=$(fingerprint)
  if [ "$now" != "$EXPECTED" ]; then
    echo "server crash during ${cmd[0]}: live database is '$now', expected '$EXPECTED'" >&2
    lost=$((lost + 1))
  fi
  check_listed
done

# Base backups killed at random moments: a killed one is never listed, every listed one is
# whole (gzip intact, sha256 as its manifest says), and the next base backup succeeds.
t0=$(date +%s.%N); pk basebackup --quiet >/dev/null; t1=$(date +%s.%N)
SPAN_BASE=$(echo "($t1 - $t0) * 1.1" | bc)
base_trials=$(( (TRIALS + 3) / 4 ))
for i in $(seq 1 "$base_trials"); do
  "$BIN" --backup-dir "$BK" basebackup --quiet >/dev/null 2>&1 &
  pid=$!
  sleep "$(awk -v r=$RANDOM -v s="$SPAN_BASE" 'BEGIN { printf "%.3f", r / 32767 * s }')"
  if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
  wait "$pid" 2>/dev/null || true
  wait_for_orphans
done
pk basebackup --quiet >/dev/null 2>"$CL/err" || fail "a base backup after killed ones failed: $(cat "$CL/err")"
while read -r path sha; do
  if ! gzip -t "$path" 2>/dev/null || [ "$sha" != "$(sha256sum "$path" | cut -d' ' -f1)" ]; then
    echo "incomplete base backup listed: $path" >&2; incomplete=$((incomplete + 1))
  fi
done < <(pk list --json | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    if e.get("kind") == "base":
        print(e["path"], e["sha256"])')
[ "$(pk list --json | python3 -c 'import json,sys; print(sum(e.get("kind") == "base" for e in json.load(sys.stdin)))')" -ge 2 ] \
  || fail "the base backups taken are not listed"
pk wal window >/dev/null 2>"$CL/err" || fail "wal window after killed base backups: $(cat "$CL/err")"

# Disk full: a backup into a 256 KiB tmpfs fails with one line and leaves nothing behind.
if [ "$(id -u)" = 0 ]; then
  MNT=$CL/full; mkdir -p "$MNT"; mount -t tmpfs -o size=256k,mode=0700 tmpfs "$MNT"
  if "$BIN" --backup-dir "$MNT" backup --quiet >/dev/null 2>"$CL/err"; then fail "backup into a full disk succeeded"; fi
  grep -qi "full\|space" "$CL/err" || fail "disk full not explained: $(cat "$CL/err")"
  [ -z "$(ls -A "$MNT" | grep -v '^\.')" ] || fail "disk full left files: $(ls -A "$MNT")"
  umount "$MNT"; MNT=
fi

# A lock-file symlink planted by nobody is never followed.
if [ "$(id -u)" = 0 ]; then
  EV=$CL/planted; mkdir -m 700 "$EV"; echo precious > "$CL/victim"; chmod 644 "$CL/victim"
  chmod 1777 "$EV"; runuser -u nobody -- ln -s "$CL/victim" "$EV/.shop.lock"
  "$BIN" --backup-dir "$EV" backup --quiet >/dev/null 2>&1 && fail "backup into a world-writable dir succeeded"
  chmod 700 "$EV"
  "$BIN" --backup-dir "$EV" backup --quiet >/dev/null 2>&1 && fail "backup through a planted symlink succeeded"
  [ "$(cat "$CL/victim")" = precious ] || fail "the symlink's target was overwritten"
fi

# A database named with /.. stays inside the backup dir.
mkdir -p "$CL/x"
EVIL="/../../../..$CL/x/evil"
psql -qc "CREATE DATABASE \"$EVIL\"" postgres
PGDATABASE=$EVIL "$BIN" --backup-dir "$CL/evil-backups" backup --quiet >/dev/null 2>"$CL/err" || fail "backup of $EVIL failed: $(cat "$CL/err")"
[ -z "$(ls -A "$CL/x")" ] || fail "files written outside the backup dir: $(ls -A "$CL/x")"

# A damaged manifest is damage: restore of it is refused, the live database untouched.
pk backup --quiet >/dev/null
NEWEST=$(ls -t "$BK"/shop_*.sql.gz | head -1)
echo '{"format_version": 1, "datab' > "$NEWEST.json"
pk list > "$CL/list"; grep -q "damaged manifest" "$CL/list" || fail "list does not show the damaged manifest"
pk restore --yes --quiet latest >/dev/null 2>&1 && fail "restore latest used a backup with a damaged manifest"
pk restore --yes --quiet "$(basename "$NEWEST")" >/dev/null 2>&1 && fail "restore of a damaged manifest succeeded"
rm -f "$NEWEST" "$NEWEST.json"

# Two restores at once: one runs, the other is refused or runs after; nothing is lost.
pk restore --yes --quiet --no-safety-backup latest >/dev/null 2>&1 & a=$!
pk restore --yes --quiet --no-safety-backup latest >/dev/null 2>&1 & b=$!
ok=0; wait $a && ok=$((ok + 1)); wait $b && ok=$((ok + 1))
[ "$ok" -ge 1 ] || fail "neither of two concurrent restores succeeded"
[ "$(fingerprint)" = "$EXPECTED" ] || { echo "concurrent restores changed the content" >&2; lost=$((lost + 1)); }
check_listed

# What is left once the next command and cleanup have run.
pk cleanup --yes >/dev/null
stale_files=$(find "$BK" "$BK/base" -maxdepth 1 \( -name '*.partial' -o -name '*.tmp' -o -name '.*.work' \) | wc -l)
stale_dbs=$(psql -XAtc "SELECT count(*) FROM pg_database WHERE datname LIKE '%pgkeep_scratch%' OR datname LIKE '%_pre_restore_%'" postgres)
leftovers=$((stale_files + stale_dbs))
[ "$leftovers" = 0 ] || { find "$BK" "$BK/base" -maxdepth 1 \( -name '*.partial' -o -name '*.tmp' -o -name '.*.work' \) >&2; ls -la "$BK" >&2; psql -XAtc "SELECT datname FROM pg_database" postgres >&2; }

echo "faults: trials=$TRIALS killed=$killed lost=$lost incomplete_listed=$incomplete leftovers=$leftovers scenarios_failed=$failed_scenarios"
[ "$lost" = 0 ] && [ "$incomplete" = 0 ] && [ "$leftovers" = 0 ] && [ "$failed_scenarios" = 0 ]
