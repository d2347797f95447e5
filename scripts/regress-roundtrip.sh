#!/usr/bin/env bash
# Round trip of PostgreSQL's own regression database through pgkeep (issue 10): the regression
# schedule (sql/ files from the Debian source package of the installed server, run by the
# installed pg_regress) fills a private cluster's `regression` database; then `pgkeep backup`,
# `verify latest`, `restore latest --into`, `restore latest` (in place) and a restore on a blank
# second server must give databases whose pg_dump equals
#   1. that of the source, the rows of every table of at least 1 MiB in order (pgkeep's frozen
#      load appends those in the dump's order, and pg_dump wrote them in the source's order;
#      smaller tables are loaded as psql loads them, compared rows sorted), and
#   2. rows sorted, that of a plain `gunzip | psql` load of the same dump (psql's COPY may put
#      later rows into room left on earlier pages).
#   Normalised in both, and only that: the column order of inheritance children (pg_dump creates
#   inherited columns first, so a column added to a parent after the child was made moves;
#   `pgkeep backup` names those tables in a warning): columns are sorted by name in CREATE
#   TABLE and COPY headers, and each COPY row's fields follow.
# The source package and the compiled regress.so (the test library the schedule needs, built
# against the server headers of postgresql-server-dev, unpacked only) are cached in
# $PGKEEP_REGRESS_CACHE (default /var/cache/pgkeep-regress as root, where the server user can read
# it, else ~/.cache/pgkeep-regress). The regression database calls regress.so by its absolute
# path, so the server loads it from the cache. Prints one SKIP line and exits 0 only
# when the source package cannot be fetched; any other failure exits 1.
# Usage: scripts/regress-roundtrip.sh   (PGKEEP_BIN=path skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
say() { echo "regress-roundtrip: $*"; }
fail() { echo "FAIL regress-roundtrip: $*"; exit 1; }
skip() { echo "SKIP regress-roundtrip: $*"; exit 0; }

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || fail "no PostgreSQL server under /usr/lib/postgresql: run scripts/test.sh"
major=$(basename "$(dirname "$bin")")
version=$(dpkg-query -W -f='${Version}' "postgresql-$major" 2>/dev/null) ||
  skip "postgresql-$major is not a Debian package here: no source package to fetch"
upstream=${version%%-*}
if [ "$(id -u)" = 0 ]; then default_cache=/var/cache/pgkeep-regress; else default_cache=${XDG_CACHE_HOME:-$HOME/.cache}/pgkeep-regress; fi
cache=${PGKEEP_REGRESS_CACHE:-$default_cache}/$version
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo

# --- the regression suite and regress.so, fetched and built once per server version ----------
fetch_suite() {
  if ! apt-cache showsrc "postgresql-$major" 2>/dev/null | grep -qx "Version: $version"; then
    if ! grep -rqs '^\(Types: \)\?deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      local mirror codename
      mirror=$(grep -rhs -e '^URIs:' -e '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/ |
        grep -v security | grep -o 'http[s]*://[^ ]*/debian\b' | head -1)
      codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
      [ -n "$mirror" ] && [ -n "$codename" ] || return 1
      say "adding a deb-src line for $mirror $codename"
      printf 'Types: deb-src\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$mirror" "$codename" "$codename" | $SUDO tee /etc/apt/sources.list.d/pgkeep-deb-src.sources >/dev/null
    fi
    $SUDO apt-get update -qq >/dev/null 2>&1 || true
  fi
  local dl; dl=$(mktemp -d)
  # apt's sandbox user must be able to write the download directory.
  chmod 777 "$dl"
  (cd "$dl" && apt-get source -qq --download-only "postgresql-$major=$version" >/dev/null 2>&1 &&
    apt-get download -qq "postgresql-server-dev-$major=$version" >/dev/null 2>&1) || { rm -rf "$dl"; return 1; }
  rm -rf "$cache" && mkdir -p -m 755 "$cache/lib" "$cache/dev"
  tar --no-same-owner -xf "$dl"/postgresql-"$major"_"$upstream".orig.tar.* -C "$cache" "postgresql-$upstream/src/test/regress"
  chmod -R go-w "$cache"
  mv "$cache/postgresql-$upstream/src/test/regress" "$cache/regress" && rm -rf "$cache/postgresql-$upstream"
  dpkg-deb -x "$dl"/postgresql-server-dev-*.deb "$cache/dev"
  rm -rf "$dl"
  local inc=$cache/dev/usr/include/postgresql
  "${CC:-cc}" -O1 -fPIC -shared -I "$inc/$major/server" -I "$inc/internal" -I /usr/include/postgresql \
    "$cache/regress/regress.c" -o "$cache/lib/regress.so" || fail "could not build regress.so"
  rm -rf "$cache/dev"
  # The schedule loads regress.so, autoinc.so and refint.so from one directory (--dlpath).
  cp /usr/lib/postgresql/"$major"/lib/{autoinc,refint}.so "$cache/lib/"
}
mkdir -p "$(dirname "$cache")"
exec 9>"$cache.lock"   # one fetch at a time when two runs share the cache
flock 9
if [ ! -f "$cache/lib/regress.so" ]; then
  say "fetching the source package of postgresql-$major $version"
  fetch_suite || skip "could not fetch the source package postgresql-$major=$version (apt-get source)"
fi
flock -u 9

# --- a private cluster holding the regression database -----------------------------------------
work=$(mktemp -d /tmp/pgkeep-regress.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$work"
cleanup() {
  as_pg "$bin/pg_ctl" -D "$work/data" -m immediate -w stop >/dev/null 2>&1 || true
  [ -d "$work/blank" ] && as_pg "$bin/pg_ctl" -D "$work/blank" -m immediate -w stop >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/out" "$work/bk"   # bk: owned by whoever runs pgkeep
[ "$(id -u)" = 0 ] && chown postgres "$work/out"
port=5432   # unix socket only, in the private directory: no clash with other servers
pg_start() {
  as_pg "$bin/pg_ctl" -D "$work/data" -l "$work/server.log" -w -o "-p $port -k $work -c listen_addresses='' \
    -c fsync=off -c full_page_writes=off -c max_wal_size=64MB -c min_wal_size=32MB" start >/dev/null ||
    fail "the private server did not start: $(tail -2 "$work/server.log")"
}
export PGHOST=$work PGPORT=$port PGUSER=postgres PGDATABASE=regression PGKEEP_TARGET=direct
unset PGKEEP_URL PGKEEP_CONFIG PGPASSWORD RUST_BACKTRACE
# The regression database depends only on the server version: the cluster holding it is cached
# (a clean shutdown, gzip -1) after the first run; PGKEEP_REGRESS_FRESH=1 reruns the schedule.
cluster_tar=$cache/regression-cluster.tar.gz
t1=$(date +%s)
if [ -f "$cluster_tar" ] && [ -z "${PGKEEP_REGRESS_FRESH:-}" ]; then
  tar -xzf "$cluster_tar" -C "$work"
  pg_start
  summary="cached from an earlier run (PGKEEP_REGRESS_FRESH=1 reruns it)"
else
  as_pg "$bin/initdb" -D "$work/data" -U postgres --auth-local=trust --no-sync -E UTF8 --locale=C >/dev/null 2>&1 ||
    fail "initdb failed"
  pg_start
  pg_regress=/usr/lib/postgresql/$major/lib/pgxs/src/test/regress/pg_regress
  [ -x "$pg_regress" ] || fail "$pg_regress is missing (package postgresql-$major)"
  (cd "$work" && as_pg "$pg_regress" --host="$work" --port=$port --user=postgres --bindir="$bin" \
    --inputdir="$cache/regress" --outputdir="$work/out" --dlpath="$cache/lib" \
    --schedule="$cache/regress/parallel_schedule" --max-connections=4 >"$work/regress.out" 2>&1) || true
  summary=$(grep -E 'tests (passed|failed)|All [0-9]+ tests' "$work/regress.out" | head -1 | tr -s ' ' | sed 's/^ //; s/ $//')
  "$bin/psql" -XAtqc 'SELECT 1' >/dev/null 2>&1 ||
    fail "the regression database was not created: $(tail -3 "$work/regress.out")"
  "$bin/psql" -XAtqc 'CHECKPOINT' >/dev/null
  as_pg "$bin/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null
  tar -I 'gzip -1' -cf "$cluster_tar.$$.tmp" -C "$work" data && mv "$cluster_tar.$$.tmp" "$cluster_tar"
  pg_start
fi
say "regression database: $summary ($(($(date +%s) - t1)) s)"

# --- pgkeep round trip ---------------------------------------------------------------------------
if [ -z "${PGKEEP_BIN:-}" ]; then cargo build --quiet; PGKEEP_BIN=$PWD/target/debug/pgkeep; fi
pk() { "$PGKEEP_BIN" --backup-dir "$work/bk" "$@"; }
# Runs one pgkeep step; its time in ms lands in $ms; its output is shown when it fails.
timed() {
  local s; s=$(date +%s%N)
  "$@" >"$work/step.out" 2>&1 || { cat "$work/step.out"; fail "pgkeep ${*:2} failed"; }
  ms=$((($(date +%s%N) - s) / 1000000))
}
timed pk backup; backup_ms=$ms
grep '^pgkeep: warning' "$work/step.out" || true
timed pk verify latest; verify_ms=$ms
timed pk restore latest --into regression_restored --yes; restore_ms=$ms
dump=$(ls "$work"/bk/regression_*.sql.gz)

"$bin/createdb" regression_plain
gunzip -c "$dump" | "$bin/psql" -Xq -v ON_ERROR_STOP=1 -d regression_plain >/dev/null 2>"$work/plain.err" ||
  fail "a plain psql load of the dump failed: $(grep ERROR "$work/plain.err" | head -1)"
# pg_dump of database $1 (on port $2, default ours) without the random \restrict lines, to $work/$3.sql.
dump_of() { PGPORT=${2:-$port} "$bin/pg_dump" -d "$1" | grep -v '^\\\(un\)\?restrict ' >"$work/$3.sql"; }
dump_of regression "" source
dump_of regression_restored "" into
dump_of regression_plain "" plain
# pgkeep's parallel load appends the rows of each table of at least 1 MiB in the dump's order
# (it loads those frozen, and a frozen COPY does not use the free-space map), so every pgkeep
# restore must equal the source, those tables' rows in order, once the columns of inheritance
# children are sorted (pg_dump creates inherited columns first); smaller tables are loaded as
# psql loads them. psql's COPY may refill earlier pages with later rows: the plain load is
# compared rows sorted.
norm() { python3 scripts/regress-normalise.py "$@"; }
norm "$work/plain.sql" >"$work/plain.norm"
norm "$work/into.sql" >"$work/into.norm"
cmp -s "$work/plain.norm" "$work/into.norm" ||
  { diff "$work/plain.norm" "$work/into.norm" | head -20; fail "pgkeep's restore differs from a plain psql load of the same dump"; }
norm --keep-row-order "$work/source.sql" >"$work/source.norm"
# Fails unless $work/$1.sql equals the source once normalised; $2 says which restore it was.
same_as_source() {
  norm --keep-row-order "$work/$1.sql" >"$work/$1.norm"
  cmp -s "$work/source.norm" "$work/$1.norm" ||
    { diff "$work/source.norm" "$work/$1.norm" | head -20; fail "$2 differs from the regression database (pg_dump, rows of tables from 1 MiB in order)"; }
}
same_as_source into "restore --into"

# In place: the live database replaced by the backup (the replaced one is kept aside).
timed pk restore latest --yes --no-safety-backup --jobs 6; inplace_ms=$ms   # more workers than cores: a stress of the parallel load
dump_of regression "" inplace
same_as_source inplace "the in-place restore"
timed pk cleanup --yes
left=$("$bin/psql" -XAtqc "SELECT string_agg(datname, ', ') FROM pg_database WHERE datname LIKE 'regression\_pre\_restore\_%'")
[ -z "$left" ] || fail "pgkeep cleanup left $left"

# The disaster: a blank server (no regression database, no roles but the superuser).
as_pg "$bin/initdb" -D "$work/blank" -U postgres --auth-local=trust --no-sync -E UTF8 --locale=C >/dev/null 2>&1 ||
  fail "initdb of the blank server failed"
as_pg "$bin/pg_ctl" -D "$work/blank" -l "$work/blank.log" -w \
  -o "-p $((port + 1)) -k $work -c listen_addresses='' -c fsync=off" start >/dev/null || fail "the blank server did not start"
PGPORT=$((port + 1)) timed pk restore "$(basename "$dump")" --into regression --yes; blank_ms=$ms
dump_of regression $((port + 1)) blank
same_as_source blank "the restore on a blank server"

read -r tables rows <<<"$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["tables"]; print(len(t), sum(x.get("rows") or 0 for x in t))' "$dump.json")"
echo "PASS regress-roundtrip: $tables tables, $rows rows, $(stat -c %s "$dump") bytes gzipped;" \
  "backup ${backup_ms} ms, verify ${verify_ms} ms, restore --into ${restore_ms} ms, in place ${inplace_ms} ms," \
  "on a blank server ${blank_ms} ms; pg_dump equal to the source (rows of tables from 1 MiB in order) and to a plain load (rows sorted); total $(($(date +%s) - t0)) s"
