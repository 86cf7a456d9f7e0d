#!/usr/bin/env bash
# Signaling relay benchmark: tether-signaling and a PeerJS server under the same open-loop
# offer/answer/candidate load on 127.0.0.1 (see BENCHMARKS.md). Extra arguments go to cargo.
# Knobs: RELAY_SESSIONS, RELAY_LEVELS, RELAY_WARMUP_SECS, RELAY_MEASURE_SECS,
# RELAY_CLIENT_THREADS, RELAY_SKIP_PEERJS, PEERJS_DIR, RELAY_TETHER_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each participant is one socket in this process and one in the server.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge 65536 ]; then ulimit -n 65536; else ulimit -n "$hard"; fi

# Other work on the machine distorts the figures; say so (the report also shows "other CPU %").
load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
    echo "bench-signaling: load average is $load; other processes will share the CPUs" >&2
fi

command -v node >/dev/null || echo "bench-signaling: node not found; the PeerJS part will be skipped" >&2

exec cargo bench -p tether-signaling --bench relay "$@"
