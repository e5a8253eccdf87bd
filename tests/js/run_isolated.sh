#!/bin/sh
# Runs a command in a fresh network namespace that has only loopback, so WebRTC traffic never leaves lo.
# Exits 77 (CTest: skipped) where unshare -n is not permitted.
unshare -n true 2>/dev/null || { echo "SKIP: unshare -n not permitted here"; exit 77; }
exec unshare -n sh -c 'ip link set lo up && exec "$@"' sh "$@"
