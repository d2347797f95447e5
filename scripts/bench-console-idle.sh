#!/usr/bin/env bash
# Idle CPU of the console: opens `pgkeep` (release build) in tmux at 120x40 against a private
# PostgreSQL cluster with one backup, waits until it has settled, then reads the process's
# CPU time from /proc/PID/stat over SECONDS (default 30) seconds. Goal: < 1 %.
# Usage: scripts/bench-console-idle.sh [SECONDS]   (run from the project root, as root)
set -euo pipefail
secs=${1:-30}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
export PATH="$PGBIN:$PATH"
cargo build --release -q
BIN=$(pwd)/target/release/pgkeep
CL=$(mktemp -d /tmp/pgkeep-idle.XXXXXX); chmod 755 "$CL"; chown postgres "$CL"
TS=$CL/tmux.sock
cleanup() {
  tmux -S "$TS" kill-server 2>/dev/null || true
  runuser -u postgres -- pg_ctl -D "$CL/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$CL"
}
trap cleanup EXIT
PORT=$(( 50000 + RANDOM % 5000 ))
runuser -u postgres -- initdb -D "$CL/data" -U postgres -A trust --no-sync >/dev/null
runuser -u postgres -- pg_ctl -D "$CL/data" -l "$CL/server.log" -w \
  -o "-p $PORT -k $CL -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
export PGHOST=$CL PGPORT=$PORT PGUSER=postgres PGDATABASE=shop
createdb shop; pgbench -q -i -s 1 shop >/dev/null 2>&1
"$BIN" --backup-dir "$CL/bk" backup -q >/dev/null
cat > "$CL/run.sh" <<EOS
#!/bin/sh
export PGHOST=$CL PGPORT=$PORT PGUSER=postgres PGDATABASE=shop TERM=xterm-256color
exec "$BIN" --backup-dir "$CL/bk" 2>"$CL/err"
EOS
chmod +x "$CL/run.sh"
tmux -S "$TS" new-session -d -x 120 -y 40 "$CL/run.sh"
sleep 5
PID=$(pgrep -f "^$BIN --backup-dir $CL/bk" | head -1)
[ -n "$PID" ] || { echo "console did not start: $(cat "$CL/err")"; exit 1; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks "$PID"); sleep "$secs"; t1=$(ticks "$PID")
echo "console idle CPU over ${secs}s: $(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v s="$secs" \
  'BEGIN { printf "%.2f %% (%d ticks of 1/%d s)", (b - a) / hz / s * 100, b - a, hz }') (goal < 1 %)"
