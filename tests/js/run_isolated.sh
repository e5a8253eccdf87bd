#!/bin/sh
# Runs a command in a private network namespace that looks like a machine with a NIC (tests/netns/run.sh).
# Exits 77 (CTest: skipped) where unshare -n is not permitted.
exec "$(dirname "$0")/../netns/run.sh" "$@"
