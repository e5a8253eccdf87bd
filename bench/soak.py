#!/usr/bin/env python3
"""Soak benchmark (not a test): is anything leaking while participants come and go and a hostile member sends junk?

Runs `chorus hs`, `chorus focus` and one long-lived `chorus call --focus` participant; every few seconds another
participant joins through the focus and leaves again, while a hostile room member sends junk: fake m.call.invite
to-device messages (device ids not in the call, invalid SDP) to the long-lived participant and the focus, garbage
m.call.* to-device content, member events with junk, and requests with invalid UTF-8 path parameters. It samples
RSS, open fds and threads of hs, focus and the long-lived participant every few seconds and prints, after a
warm-up, the least-squares slope per minute of each (flat is the aim) plus first/last values.

  tests/netns/run.sh python3 bench/soak.py build/default/apps/chorus/chorus [--minutes 30] [--churn-s 4]
"""
import argparse
import json
import os
import random
import re
import string
import sys
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration", "lib"))
from chorus_harness import Focus, Homeserver, Participant, http, wait_until  # noqa: E402

FOCUS = "@focus:localhost"


def proc_figures(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            st = f.read()
        rss = int(next(l for l in st.splitlines() if l.startswith("VmRSS:")).split()[1]) / 1024.0
        threads = int(next(l for l in st.splitlines() if l.startswith("Threads:")).split()[1])
        fds = len(os.listdir("/proc/%d/fd" % pid))
        return rss, fds, threads
    except (OSError, StopIteration):
        return None


def slope_per_min(samples):
    """Least-squares slope of (t seconds, value) per minute."""
    n = len(samples)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    den = sum((t - mt) ** 2 for t, _ in samples)
    return 0.0 if den == 0 else 60.0 * sum((t - mt) * (v - mv) for t, v in samples) / den


def raw(method, url, body, token):
    """A request with an arbitrary (possibly invalid) path; errors are the point, not a failure."""
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:  # noqa: BLE001
        return 0


class Hostile(threading.Thread):
    def __init__(self, hs, token, room_id, target_user, rate_hz):
        super().__init__(daemon=True)
        self.hs, self.token, self.room_id, self.target = hs, token, room_id, target_user
        self.rate = rate_hz
        self.stop_flag = threading.Event()
        self.sent = 0
        self.conf_id = None
        self.target_device = None
        self.target_session = None

    def learn(self):
        st, body = http("GET", self.hs.url + "/_matrix/client/v3/rooms/%s/state" % urllib.parse.quote(self.room_id),
                        None, self.token)
        if st != 200:
            return
        for ev in body:
            if ev.get("type") == "org.matrix.msc3401.call.member" and ev.get("state_key") == self.target:
                for c in ev.get("content", {}).get("m.calls", []):
                    for d in c.get("m.devices", []):
                        self.conf_id, self.target_device, self.target_session = (c.get("m.call_id"), d.get("device_id"),
                                                                               d.get("session_id"))

    def run(self):
        i = 0
        while not self.stop_flag.is_set():
            i += 1
            if self.conf_id is None or i % 50 == 0:
                self.learn()
            junk = "".join(random.choice(string.ascii_letters) for _ in range(8))
            kind = i % 4
            if kind == 0 and self.conf_id:
                # A fake invite from a device that is not in the call, with invalid SDP half of the time.
                content = {"call_id": "fake" + junk, "party_id": junk, "version": "1", "lifetime": 60000,
                           "conf_id": self.conf_id, "device_id": "FAKE" + junk, "sender_session_id": junk,
                           "dest_session_id": self.target_session, "seq": 0,
                           "offer": {"type": "offer", "sdp": "v=0\r\nbogus" if i % 8 == 0 else "v=0\r\n"}}
                msgs = {self.target: {self.target_device: content}, FOCUS: {"CHORUSFOCUS": content}}
                http("PUT", self.hs.url + "/_matrix/client/v3/sendToDevice/m.call.invite/soak%d" % i,
                     {"messages": msgs}, self.token)
            elif kind == 1 and self.target_device:
                msgs = {self.target: {self.target_device: {"call_id": junk, "seq": random.randint(-5, 1 << 40),
                                                           "candidates": [{"candidate": junk * 50}]}}}
                http("PUT", self.hs.url + "/_matrix/client/v3/sendToDevice/m.call.candidates/soakc%d" % i,
                     {"messages": msgs}, self.token)
            elif kind == 2:
                raw("PUT", self.hs.url + "/_matrix/client/v3/rooms/%s/send/%%FF%%FE/t%d"
                    % (urllib.parse.quote(self.room_id), i), b"{}", self.token)
            else:
                http("PUT", self.hs.url + "/_matrix/client/v3/rooms/%s/state/org.matrix.msc3401.call.member/%s"
                     % (urllib.parse.quote(self.room_id), urllib.parse.quote("@mallory:localhost")),
                     {"m.calls": [{"m.call_id": self.conf_id or junk, "m.devices": [{"device_id": junk,
                                                                                    "expires_ts": "soon"}]}]},
                     self.token)
            self.sent += 1
            self.stop_flag.wait(1.0 / self.rate)


def thread_names(pid):
    """A histogram of the process's thread names (GStreamer names its task threads after the element and pad),
    so a growing thread count says which element leaks."""
    counts = {}
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                    name = re.sub(r"\d+", "N", f.read().strip())
            except OSError:
                continue
            counts[name] = counts.get(name, 0) + 1
    except OSError:
        return {}
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("chorus")
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--churn-s", type=float, default=4, help="seconds between a newcomer joining and the next")
    ap.add_argument("--junk-hz", type=float, default=10)
    ap.add_argument("--sample-s", type=float, default=5)
    args = ap.parse_args()

    churners = ["c%d" % i for i in range(4)]
    hs = Homeserver(args.chorus, ["focus", "alice", "mallory"] + churners, extra=["--no-rate-limit"])
    procs = []
    try:
        room_id = hs.create_room("alice", "soak")
        token = hs.login("alice")
        http("POST", hs.url + "/_matrix/client/v3/rooms/%s/invite" % urllib.parse.quote(room_id), {"user_id": FOCUS},
             token)
        mallory = hs.login("mallory")
        http("POST", hs.url + "/_matrix/client/v3/join/%s" % urllib.parse.quote(room_id), {}, mallory)
        focus = Focus(args.chorus, hs, "focus")
        wait_until(lambda: focus.ready(), 15, "focus ready")
        time.sleep(2)
        alice = Participant(args.chorus, hs, "alice", "#soak:localhost", ["--focus", FOCUS, "--create"],
                            log_level=os.environ.get("CHORUS_SOAK_LOG_LEVEL"),
                            size=(160, 120, 10))
        wait_until(lambda: alice.ready(), 20, "alice ready")
        hostile = Hostile(hs, mallory, room_id, "@alice:localhost", args.junk_hz)
        hostile.start()

        watched = {"hs": hs.proc.pid, "focus": focus.proc.pid, "participant": alice.proc.pid}
        samples = {k: {"rss_mb": [], "fds": [], "threads": []} for k in watched}
        t0 = time.time()
        end = t0 + args.minutes * 60
        warmup = min(60.0, args.minutes * 60 / 4)
        next_churn = t0
        next_sample = t0
        joined = 0
        current = None
        while time.time() < end:
            now = time.time()
            if now >= next_churn:
                if current is not None:
                    current.command("leave")
                    current.stop(timeout=10)
                u = churners[joined % len(churners)]
                current = Participant(args.chorus, hs, u, "#soak:localhost", ["--focus", FOCUS], size=(160, 120, 10))
                joined += 1
                next_churn = now + args.churn_s
            if now >= next_sample:
                for name, pid in watched.items():
                    f = proc_figures(pid)
                    if f is None:
                        print("%s (pid %d) is gone" % (name, pid))
                        return 1
                    for key, v in zip(("rss_mb", "fds", "threads"), f):
                        samples[name][key].append((now - t0, v))
                # The participant's own view of its C heap (chorus call's stats line, "heap"): live allocations
                # growing is a leak; RSS growing with them flat is fragmentation.
                st = alice.events("stats")
                heap = st[-1].get("heap") if st else None
                if heap:
                    samples["participant"].setdefault("heap_in_use_mb", []).append(
                        (now - t0, heap["in_use_bytes"] / 1048576.0))
                    samples["participant"].setdefault("heap_free_mb", []).append(
                        (now - t0, heap["free_bytes"] / 1048576.0))
                next_sample = now + args.sample_s
                print("t=%4.0fs joins=%d junk=%d %s" % (now - t0, joined, hostile.sent, "  ".join(
                    "%s rss %.1f MB fds %d thr %d" % ((n,) + tuple(samples[n][k][-1][1] for k in ("rss_mb", "fds",
                                                                                                   "threads")))
                    for n in watched)), flush=True)
            time.sleep(0.2)
        hostile.stop_flag.set()
        if current is not None:
            current.stop()
        print("\n== soak: %.1f min, %d joins/leaves through the focus, %d junk requests; slope per minute after a %.0f s "
              "warm-up (flat is the aim)" % (args.minutes, joined, hostile.sent, warmup))
        result = {}
        for name in watched:
            row = {}
            for key in samples[name]:
                pts = [(t, v) for t, v in samples[name][key] if t >= warmup]
                row[key] = {"first": pts[0][1] if pts else None, "last": pts[-1][1] if pts else None,
                            "slope_per_min": round(slope_per_min(pts), 3)}
            result[name] = row
            print("%-12s rss %7.1f -> %7.1f MB (%+.2f MB/min)   fds %4s -> %4s (%+.2f/min)   threads %3s -> %3s (%+.2f/min)"
                  % (name, row["rss_mb"]["first"], row["rss_mb"]["last"], row["rss_mb"]["slope_per_min"],
                     row["fds"]["first"], row["fds"]["last"], row["fds"]["slope_per_min"],
                     row["threads"]["first"], row["threads"]["last"], row["threads"]["slope_per_min"]))
        for key in ("heap_in_use_mb", "heap_free_mb"):
            row = result["participant"].get(key)
            if row and row["first"] is not None:
                print("participant  %-14s %7.1f -> %7.1f MB (%+.2f MB/min)" % (key, row["first"], row["last"],
                                                                             row["slope_per_min"]))
        for name, pid in watched.items():
            print("%-12s threads by name: %s" % (name, thread_names(pid)))
        alive = alice.latest_stats()
        print("long-lived participant still in the call: %s; its summary counters: %s" % (
            alice.proc.poll() is None, json.dumps(alice.events("stats")[-1].get("focus", {}) if alice.events("stats") else {})[:300]))
        print(json.dumps({"event": "soak", "minutes": args.minutes, "joins": joined, "junk": hostile.sent,
                          "processes": result, "participant_peers": len(alive)}))
        alice.stop()
        focus.stop()
        return 0
    finally:
        hs.stop()


if __name__ == "__main__":
    sys.exit(main())
