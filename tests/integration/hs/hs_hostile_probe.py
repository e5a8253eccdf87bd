#!/usr/bin/env python3
"""Issue #10 attacks against a `chorus hs` binary, for before/after comparisons (not in CI; the CI versions are
tests/integration/hs/hs_hostile_test.cpp). Usage: hs_hostile_probe.py CHORUS_BINARY
Starts `chorus hs` on 127.0.0.1:0 (open registration, real KDF, limits on, head deadline 1.5 s via --config)
and prints one line per attack."""
import json, os, re, socket, subprocess, sys, tempfile, threading, time, urllib.parse, urllib.request

chorus = sys.argv[1]
data = tempfile.mkdtemp(prefix="hs-probe-")
cfg = os.path.join(data, "hs.json")
with open(cfg, "w") as f:  # an old binary rejects unknown keys: retry without them
    json.dump({"head_timeout_ms": 1500, "max_connections_per_address": 40, "connection_reserve": 40,
               "max_connections": 300}, f)


def start(config):
    args = [chorus, "hs", "--listen", "127.0.0.1:0", "--data", data, "--open-registration"]
    if config:
        args += ["--config", cfg]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = p.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    return p, (int(m.group(1)) if m else None)


proc, port = start(True)
new_binary = port is not None
if not new_binary:
    proc.wait()
    proc, port = start(False)
threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
base = f"http://127.0.0.1:{port}/_matrix/client/v3"


def req(method, path, body=None, token=None):
    r = urllib.request.Request(base + path, method=method, data=None if body is None else body.encode())
    if token:
        r.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def register(name, pw="pw"):
    s, b = req("POST", "/register", json.dumps({"username": name, "password": pw, "auth": {"type": "m.login.dummy"}}))
    return json.loads(b)["access_token"]


def strict(raw):
    try:
        json.loads(raw.decode("utf-8", errors="strict"))
        return "valid JSON"
    except Exception as e:
        return "NOT JSON (" + type(e).__name__ + ")"


alice, bob, mallory = register("alice"), register("bob", "bobpw"), register("mallory")
s, b = req("POST", "/createRoom", json.dumps({"preset": "public_chat"}), alice)
room = json.loads(b)["room_id"]
R = "/rooms/" + urllib.parse.quote(room, safe="")
req("POST", "/join/" + urllib.parse.quote(room, safe=""), "{}", bob)
print("binary:", chorus, "(new config keys accepted)" if new_binary else "(old: config keys rejected)")

# 1. invalid UTF-8 path parameters
s1, b1 = req("PUT", R + "/send/%FF%FE/t1", '{"body":"x"}', alice)
s2, b2 = req("PUT", R + "/state/%FF/", "{}", alice)
_, sync = req("GET", "/sync", None, bob)
print(f"1 utf8: send/%FF%FE -> {s1} {b1[:40]!r}; state/%FF -> {s2}; bob's /sync: {strict(sync)}")

# 3. smuggling
def raw(data_bytes):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(data_bytes)
    s.settimeout(3)
    out = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                break
            out += c
    except socket.timeout:
        pass
    s.close()
    return out


body = b'{"type":"m.login.password","user":"alice","password":"nope"}'
smuggled = (f"PUT /_matrix/client/v3{R}/send/m.room.message/smuggled HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {alice}\r\nContent-Length: 2\r\n\r\n{{}}").encode()
out = raw(b"POST /_matrix/client/v3/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\nContent-Length: "
          + str(len(body)).encode() + b"\r\n\r\n" + body + smuggled)
_, msgs = req("GET", R + "/messages?dir=b&limit=100", None, alice)
ran = b"smuggled" in msgs or b'"m.room.message"' in msgs
print(f"3 smuggling: first status {out[:12]!r}, {out.count(b'HTTP/1.1 ')} responses, smuggled request ran: {ran}")

# 4. initial_state with alice's state key, by mallory
s, b = req("POST", "/createRoom", json.dumps({"initial_state": [
    {"type": "org.matrix.msc3401.call.member", "state_key": "@alice:localhost", "content": {"memberships": []}}]}),
    mallory)
print(f"4 initial_state for @alice by mallory: {s} {b[:60]!r}")

# 5. login guessing, two spellings, and whoami latency meanwhile
codes = []
for i in range(30):
    s, b = req("POST", "/login", json.dumps({"type": "m.login.password",
                                             "user": ["alice", "@alice:localhost"][i % 2], "password": "g%d" % i}))
    codes.append(s)
print(f"5 login: 30 wrong passwords (alice/@alice:localhost alternating): {codes.count(403)} x 403, "
      f"{codes.count(429)} x 429; bob's right login -> {req('POST', '/login', json.dumps({'type': 'm.login.password', 'user': 'bob', 'password': 'bobpw'}))[0]}")
stop = False


def hammer():
    while not stop:
        req("POST", "/login", json.dumps({"type": "m.login.password", "user": "mallory",
                                          "password": "x"}))


lat = []
ts = [threading.Thread(target=hammer) for _ in range(4)]
for t in ts:
    t.start()
for _ in range(40):
    t0 = time.monotonic()
    req("GET", "/account/whoami", None, bob)
    lat.append((time.monotonic() - t0) * 1000)
stop = True
for t in ts:
    t.join()
lat.sort()
print(f"5 kdf: whoami while 4 threads send logins: p50 {lat[len(lat) // 2]:.1f} ms, max {lat[-1]:.1f} ms")

# 2. slowloris: 200 connections from 127.0.0.2 trickle a header line every 200 ms for 4 s
socks = []
for i in range(200):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /_matrix/client/versions HTTP/1.1\r\n")
        s.setblocking(False)
        socks.append(s)
    except OSError:
        pass
t0 = time.monotonic()
open_counts = []
while time.monotonic() - t0 < 4:
    alive = 0
    for s in socks:
        try:
            if s.recv(1) == b"":
                continue
        except BlockingIOError:
            pass
        except OSError:
            continue
        try:
            s.send(b"X-Slow: 1\r\n")
            alive += 1
        except OSError:
            pass
    open_counts.append(alive)
    time.sleep(0.2)
t1 = time.monotonic()
st, _ = req("GET", "/account/whoami", None, bob)
print(f"2 slowloris: trickling connections open at 0.2 s: {open_counts[0]}, at 4 s: {open_counts[-1]}; "
      f"whoami from 127.0.0.1 -> {st} in {(time.monotonic() - t1) * 1000:.0f} ms")
for s in socks:
    s.close()
proc.terminate()
proc.wait()
