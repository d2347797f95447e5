#!/usr/bin/env bash
# Runs every test of pgkeep. Installs what the tests need when it is missing (PostgreSQL,
# cron, tmux via apt-get), then runs `cargo test`, then the docker end-to-end script.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql postgresql-contrib)
command -v tmux >/dev/null || need+=(tmux)
command -v crontab >/dev/null || need+=(cron)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

command -v moto_server >/dev/null || { echo "installing: moto[server] (S3 server for the offsite test)"; python3 -m pip install -q 'moto[server]' || echo "moto not installed: the S3 offsite test will be skipped"; }

cargo test --locked 2>&1
if [ -x scripts/test-docker.sh ]; then
  scripts/test-docker.sh
fi
