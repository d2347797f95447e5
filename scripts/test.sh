#!/usr/bin/env bash
# Runs every test of pgkeep. Installs what the tests need when it is missing (PostgreSQL,
# cron, tmux, age via apt-get), then runs `cargo test`, the fault campaign, the round trip of
# PostgreSQL's regression database (scripts/regress-roundtrip.sh), then the docker end-to-end script.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql postgresql-contrib)
command -v tmux >/dev/null || need+=(tmux)
command -v crontab >/dev/null || need+=(cron)
command -v age >/dev/null || need+=(age)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

command -v moto_server >/dev/null || { echo "installing: moto[server] (S3 server for the offsite test)"; python3 -m pip install -q 'moto[server]' || echo "moto not installed: the S3 offsite test will be skipped"; }

log=$(mktemp /tmp/pgkeep-test.XXXXXX)
trap 'rm -f "$log"' EXIT
cargo_status=0
cargo test --locked 2>&1 | tee "$log" || cargo_status=$?
passed=$(awk '/^test result:/ {n += $4} END {print n + 0}' "$log")
failed=$(awk '/^test result:/ {n += $6} END {print n + 0}' "$log")
skipped=$(awk '/^test result:/ {n += $8} END {print n + 0}' "$log")
[ "$cargo_status" = 0 ] || [ "$failed" -gt 0 ] || failed=1   # a build failure runs nothing

if FAULTS_TRIALS=5 FAULTS_SCALE=1 PGKEEP_BIN=$(pwd)/target/debug/pgkeep scripts/faults.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
# PostgreSQL's own regression database through backup, verify and restore --into (issue 10).
rlog=$(mktemp /tmp/pgkeep-regress-log.XXXXXX)
if PGKEEP_BIN=$(pwd)/target/debug/pgkeep scripts/regress-roundtrip.sh 2>&1 | tee "$rlog"; then
  if grep -q '^SKIP' "$rlog"; then skipped=$((skipped + 1)); else passed=$((passed + 1)); fi
else failed=$((failed + 1)); fi
rm -f "$rlog"
if [ -x scripts/test-docker.sh ]; then
  if scripts/test-docker.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi

# One closing line for everything: cargo's per-binary lines plus the docker end-to-end run.
echo "summary: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
