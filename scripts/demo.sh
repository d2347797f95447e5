#!/usr/bin/env bash
# The Quick start's first command: opens the pgkeep console on a private demo database with
# sample invoices. Installs PostgreSQL with apt-get when it is missing (sudo when not root),
# then builds pgkeep and runs `pgkeep demo`. Extra arguments go to `pgkeep demo`
# (e.g. scripts/demo.sh --stop, scripts/demo.sh --reset).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "PostgreSQL is not installed: installing it with apt-get (postgresql)…"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
  # Debian starts a system cluster on port 5432; the demo runs its own and does not need it.
fi
if ! command -v cargo >/dev/null; then
  echo "cargo is not installed: install Rust from https://rustup.rs, then run scripts/demo.sh again" >&2
  exit 1
fi

echo "building pgkeep (the first build takes a few minutes)…"
cargo build --release
exec target/release/pgkeep demo "$@"
