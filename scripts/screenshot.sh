#!/usr/bin/env bash
# Regenerates assets/screenshot.txt: the console on the demo database at 120x40 right after a
# backup. Starts `pgkeep demo` in a private tmux server, waits for the console, presses `b`,
# waits for the new backup file, captures the screen, quits and stops the demo cluster.
# Needs tmux and PostgreSQL (scripts/demo.sh installs PostgreSQL). PGKEEP_BIN=path skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=assets/screenshot.txt

if [ -n "${PGKEEP_BIN:-}" ]; then
  bin=$PGKEEP_BIN
else
  cargo build --release --quiet
  bin=$root/target/release/pgkeep
fi
command -v tmux >/dev/null || { echo "tmux is not installed: sudo apt-get install tmux" >&2; exit 1; }

sock=$(mktemp -u /tmp/pgkeep-shot-tmux.XXXXXX)
err=$(mktemp /tmp/pgkeep-shot-err.XXXXXX)
cleanup() {
  tmux -S "$sock" kill-server 2>/dev/null || true
  "$bin" demo --stop >/dev/null 2>&1 || true
  rm -f "$err"
}
trap cleanup EXIT

screen() { tmux -S "$sock" capture-pane -p 2>/dev/null || true; }
pane_dead() { [ "$(tmux -S "$sock" list-panes -F '#{pane_dead}' 2>/dev/null)" != 0 ]; }
die() { echo "screenshot: $*" >&2; echo "--- screen:" >&2; screen >&2; echo "--- pgkeep stderr:" >&2; cat "$err" >&2; exit 1; }
backups() { local n=0 f; for f in "$root"/.pgkeep-demo/backups/*.sql.gz; do [ -e "$f" ] && n=$((n + 1)); done; echo "$n"; }

# remain-on-exit keeps the pane (and its last screen) readable when pgkeep exits early.
tmux -S "$sock" -f /dev/null new-session -d -x 120 -y 40 -c "$root" \
  "TERM=xterm-256color '$bin' demo 2>'$err'"
tmux -S "$sock" set-option -g remain-on-exit on >/dev/null

echo "waiting for the console (the first start creates the demo database)…"
for _ in $(seq 1 180); do
  screen | grep -qi 'backups' && ! screen | grep -q 'loading\|creating' && break
  pane_dead && die "pgkeep exited before the console appeared"
  sleep 0.5
done
screen | grep -qi 'backups' || die "the console did not appear in 90 s"
sleep 2

before=$(backups)
tmux -S "$sock" send-keys b
echo "backup started; waiting for it to finish…"
for _ in $(seq 1 240); do
  [ "$(backups)" -gt "$before" ] && break
  pane_dead && die "pgkeep exited during the backup"
  sleep 0.5
done
[ "$(backups)" -gt "$before" ] || die "no new backup file after 120 s"
sleep 3   # let the backups pane pick the new file up and the progress line clear

screen | sed -e 's/[[:space:]]*$//' > "$out"
echo "wrote $out ($(wc -l < "$out") lines):"
cat "$out"

tmux -S "$sock" send-keys q
sleep 1
tmux -S "$sock" send-keys y   # harmless when the console did not ask
sleep 1
