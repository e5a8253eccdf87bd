#!/usr/bin/env python3
"""`chorus bench impair` on 127.0.0.1: datagrams cross both ways with the configured loss, delay and rate cap; a
second client gets its own upstream socket; commands on stdin change the impairment at run time; bad commands
and datagrams from strangers are refused and counted; SIGTERM ends it with exit 0 and final stats."""
import json
import queue
import socket
import subprocess
import sys
import threading
import time

CHORUS = sys.argv[1]
failures = []


def check(cond, what):
    print(("PASS " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def read_lines(proc):
    for line in proc.stdout:
        proc.lines.put(line)
    proc.lines.put(None)


def start_reader(proc):
    proc.lines = queue.Queue()  # this relay's stdout lines
    threading.Thread(target=read_lines, args=(proc,), daemon=True).start()


def read_json(proc, timeout=5):
    line = proc.lines.get(timeout=timeout)
    if line is None:
        raise RuntimeError("relay exited: %s" % proc.stderr.read())
    return json.loads(line)


def drain(sock, quiet_s=0.5):
    """(payloads, arrival times) until nothing came for quiet_s."""
    got = []
    sock.settimeout(quiet_s)
    while True:
        try:
            data, addr = sock.recvfrom(4096)
            got.append((data, addr, time.monotonic()))
        except socket.timeout:
            return got


def udp(bufsize=4 << 20):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, bufsize)
    s.bind(("127.0.0.1", 0))
    return s


def main():
    server = udp()
    target = server.getsockname()
    proc = subprocess.Popen([CHORUS, "bench", "impair", "--listen", "127.0.0.1:0", "--target",
                             "%s:%d" % target, "--up-loss", "0.1", "--down-delay-ms", "80", "--seed", "3"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    start_reader(proc)
    try:
        ready = read_json(proc)
        check(ready.get("event") == "ready" and ready["up"]["loss"] == 0.1 and ready["down"]["delay_ms"] == 80,
              "ready line with the configured impairment: %s" % ready)
        host, port = ready["listen"].rsplit(":", 1)
        relay = (host, int(port))

        # Upstream: 10 % loss.
        a = udp()
        n = 2000
        for i in range(n):
            a.sendto(b"a%05d" % i + b"." * 200, relay)
            if i % 100 == 99:
                time.sleep(0.01)  # let the relay keep up; loss must be the relay's, not the kernel's
        got = drain(server)
        ids = [int(d[1:6]) for d, _, _ in got]
        frac = 1 - len(got) / n
        check(0.07 < frac < 0.13, "upstream loss 10 %%: %d of %d arrived (%.1f %% lost)" % (len(got), n, 100 * frac))
        check(ids == sorted(ids), "upstream order kept (no reordering configured)")
        a_port = got[0][1]

        # Downstream: 80 ms one way, back to the client from the relay's address.
        t0 = time.monotonic()
        for i in range(20):
            server.sendto(b"r%05d" % i, a_port)
        back = drain(a, 1.0)
        delays = [t - t0 for _, _, t in back]
        check(len(back) == 20, "downstream: all 20 replies arrived (%d)" % len(back))
        check(all(addr == relay for _, addr, _ in back), "replies come from the relay's address")
        check(min(delays) >= 0.078, "downstream delay >= 80 ms (min %.1f ms)" % (1000 * min(delays)))

        # A second client gets its own upstream socket (the server sees two peers).
        b = udp()
        proc.stdin.write('{"up":{"loss":0}}\n')
        proc.stdin.flush()
        params = read_json(proc)
        check(params.get("event") == "params" and params["up"]["loss"] == 0, "stdin command sets upstream loss 0")
        a.sendto(b"from-a", relay)
        b.sendto(b"from-b", relay)
        peers = {d: addr for d, addr, _ in drain(server)}
        check(set(peers) == {b"from-a", b"from-b"} and peers[b"from-a"] != peers[b"from-b"],
              "two clients reach the server from two relay sockets")

        # Rate cap downstream: 400 kbit/s, 100 ms queue: a 2 Mbit/s burst is cut to the rate.
        proc.stdin.write('{"down":{"rate_kbps":400,"delay_ms":0,"queue_ms":100}}\n')
        proc.stdin.flush()
        read_json(proc)
        received = []
        receiver = threading.Thread(target=lambda: received.extend(drain(a, 1.0)))
        receiver.start()
        t0 = time.monotonic()
        sent = 0
        while time.monotonic() - t0 < 2.0:
            server.sendto(b"." * 972, a_port)  # 1000 B with IP/UDP headers
            sent += 1
            time.sleep(0.004)
        receiver.join()
        back = received
        span = back[-1][2] - back[0][2] if len(back) > 1 else 0
        rate = (len(back) - 1) * 1000 * 8 / span if span > 0 else 0
        check(len(back) < sent and 300_000 < rate < 480_000,
              "downstream cap 400 kbit/s: %d of %d delivered at %.0f kbit/s" % (len(back), sent, rate / 1000))

        # Hostile input: bad commands are answered with an error; the relay keeps running.
        proc.stdin.write('not json\n{"down":{"loss":7}}\n{"sideways":{}}\n')
        proc.stdin.flush()
        errs = [read_json(proc) for _ in range(3)]
        check(all(e.get("event") == "error" for e in errs), "bad commands refused: %s" % [e.get("message") for e in errs])
        # A stranger sending to a client's upstream socket is not forwarded to the client.
        stranger = udp()
        stranger.sendto(b"spoof", peers[b"from-a"])
        proc.stdin.write('{"stats":true}\n')
        proc.stdin.flush()
        time.sleep(0.3)
        proc.stdin.write('{"stats":true}\n')
        proc.stdin.flush()
        read_json(proc)
        stats = read_json(proc)
        check(stats["foreign_drops"] == 1 and not [d for d, _, _ in drain(a, 0.3) if d == b"spoof"],
              "a datagram from a stranger to an upstream socket is dropped and counted")
        check(stats["clients"] == 2 and stats["up"]["lost"] > 0 and stats["down"]["queue_drops"] > 0,
              "stats: 2 clients, upstream losses %d, downstream queue drops %d" %
              (stats["up"]["lost"], stats["down"]["queue_drops"]))

        proc.terminate()
        proc.wait(timeout=5)
        last = read_json(proc)
        check(proc.returncode == 0 and last.get("event") == "stats", "SIGTERM: exit 0 with final stats")
    finally:
        if proc.poll() is None:
            proc.kill()
    per_client()
    print("%d failed" % len(failures))
    return 1 if failures else 0


def per_client():
    """--per-client: each client address behind its own 400 kbit/s downlink (not one shared)."""
    server = udp()
    target = server.getsockname()
    proc = subprocess.Popen([CHORUS, "bench", "impair", "--listen", "127.0.0.1:0", "--target", "%s:%d" % target,
                             "--per-client", "--down-rate-kbps", "400", "--down-queue-ms", "100"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    start_reader(proc)
    try:
        ready = read_json(proc)
        host, port = ready["listen"].rsplit(":", 1)
        relay = (host, int(port))
        clients = [udp(), udp()]
        for i, c in enumerate(clients):
            c.sendto(b"hello%d" % i, relay)
        hello = {d: addr for d, addr, _ in drain(server)}
        check(len(hello) == 2, "per-client: both clients reached the server")
        results = [[], []]
        threads = [threading.Thread(target=lambda i=i: results[i].extend(drain(clients[i], 1.0))) for i in range(2)]
        for t in threads:
            t.start()
        t0 = time.monotonic()
        sent = 0
        while time.monotonic() - t0 < 1.5:
            for i in range(2):
                server.sendto(b"." * 972, hello[b"hello%d" % i])
            sent += 1
            time.sleep(0.004)
        for t in threads:
            t.join()
        rates = []
        for back in results:
            span = back[-1][2] - back[0][2] if len(back) > 1 else 0
            rates.append((len(back) - 1) * 1000 * 8 / span if span > 0 else 0)
        check(all(300_000 < r < 480_000 for r in rates),
              "per-client: each client gets its own 400 kbit/s (%s kbit/s; shared would be ~200 each)" %
              [round(r / 1000) for r in rates])
        proc.stdin.write('{"down":{"rate_kbps":0}}\n{"stats":true}\n')
        proc.stdin.flush()
        params = read_json(proc)
        stats = read_json(proc)
        check(params.get("event") == "params" and stats.get("event") == "stats" and len(stats["per_client"]) == 2 and
              all(v["down"]["params"]["rate_kbps"] == 0 and v["down"]["queue_drops"] > 0
                  for v in stats["per_client"].values()),
              "per-client: a command reaches every client's link; stats per client address: %s" %
              list(stats.get("per_client", {})))
    finally:
        proc.kill()


if __name__ == "__main__":
    sys.exit(main())
