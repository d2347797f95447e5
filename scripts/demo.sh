#!/usr/bin/env bash
# The Quick start's first command: opens the pgkeep console on a private demo database with
# sample invoices. Installs PostgreSQL (and a C linker for cargo) with apt-get when missing
# (sudo when not root), then builds pgkeep and runs `pgkeep demo`. Extra arguments go to
# `pgkeep demo` (e.g. scripts/demo.sh --stop, scripts/demo.sh --reset).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v cc >/dev/null || need+=(build-essential)   # the linker cargo needs
if [ ${#need[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "installing with apt-get: ${need[*]}…"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  # Debian also starts a system cluster on port 5432; the demo runs its own and leaves it alone.
fi
if ! command -v cargo >/dev/null; then
  echo "cargo is not installed: install Rust from https://rustup.rs, then run scripts/demo.sh again" >&2
  exit 1
fi

echo "building pgkeep (the first build takes a few minutes)…"
cargo build --release
exec target/release/pgkeep demo "$@"
