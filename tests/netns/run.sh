#!/bin/sh
# Runs a command in a private network namespace that looks like a machine with a network interface:
#   lo up, and a veth pair t0/t1 (both up) with 198.18.0.1/24 (RFC 2544 benchmarking range) and
#   2001:2::1/64 (RFC 5180) on t0.
# Nothing leaves the namespace: t1 has no address and nothing beyond it. libnice (chorus call) gathers
# 198.18.0.1 and skips loopback, Chromium gathers both, so media tests see what a user's machine shows.
# Usage: tests/netns/run.sh CMD [ARGS...]. Exits 77 (CTest: skipped) where unshare -n is not permitted.
unshare -n true 2>/dev/null || { echo "SKIP: unshare -n not permitted here"; exit 77; }
exec unshare -n sh -c '
  set -e
  ip link set lo up
  ip link add t0 type veth peer name t1
  ip link set t0 up
  ip link set t1 up
  ip addr add 198.18.0.1/24 dev t0
  ip -6 addr add 2001:2::1/64 dev t0 nodad
  exec "$@"' sh "$@"
