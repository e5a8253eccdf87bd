#!/usr/bin/env python3
"""Two `chorus call` processes lose the network for 12 s (loopback down in their private namespace) and must end
up in the call together again with media flowing: while unreachable, the homeserver sends each one's MSC4140
delayed leave; when the network is back each republishes its membership, and the caller places a new call
(webrtcbin 1.22 cannot restart ICE, so recovery is a new leg). Run inside `unshare -n` (see CMakeLists.txt)."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import chorus_harness as h  # noqa: E402

CHORUS = sys.argv[1]


def main():
    res = h.Results()
    hs = h.Homeserver(CHORUS, ["alice", "bob"])
    procs = {}
    try:
        hs.create_room("alice", "outage")
        procs["alice"] = h.Participant(CHORUS, hs, "alice", "#outage:localhost", ["--create"])
        h.wait_until(lambda: procs["alice"].ready(), 20, "alice ready")
        procs["bob"] = h.Participant(CHORUS, hs, "bob", "#outage:localhost")

        def media(p, peer, more_than=30, call_id=None):
            s = p.peer_stats("@%s:localhost" % peer)
            return (s is not None and s.get("state") == "connected" and s["video_frames_decoded"] > more_than
                    and (call_id is None or s.get("call_id") != call_id))

        def before():
            h.wait_until(lambda: media(procs["alice"], "bob") and media(procs["bob"], "alice"), 40, "media")
        if not res.check("connected before the outage", before):
            return res.finish()

        def outage():
            old = procs["alice"].peer_stats("@bob:localhost")["call_id"]
            subprocess.run(["ip", "link", "set", "lo", "down"], check=True)
            time.sleep(12)
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
            t0 = time.time()
            h.wait_until(lambda: media(procs["alice"], "bob", 10, old) and media(procs["bob"], "alice", 10, old), 60,
                         "a new leg with media after the outage")
            ended = [l for l in procs["alice"].events("leg") if l["call_id"] == old and l["state"] == "ended"]
            print("   old leg ended (%s); new leg with media %.1f s after the network came back"
                  % (ended[0]["reason"] if ended else "?", time.time() - t0))
        res.check("after 12 s without network the call recovers with a new leg", outage)
    finally:
        subprocess.run(["ip", "link", "set", "lo", "up"])
        for p in procs.values():
            p.stop()
        hs.stop()
    return res.finish()


if __name__ == "__main__":
    sys.exit(main())
