#!/usr/bin/env python3
"""TURN from /voip/turnServer: a coturn relay on 127.0.0.1 is configured in `chorus hs`; two `chorus call`
processes with --relay-only (ICE transport policy "relay") must reach each other through it and decode media.
Run inside a private network namespace (see CMakeLists.txt)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import chorus_harness as h  # noqa: E402

CHORUS = sys.argv[1]
TURNSERVER = shutil.which("turnserver")


def main():
    res = h.Results()
    if not TURNSERVER:
        print("SKIP: coturn's turnserver is not installed (scripts/setup installs it)")
        return 77
    work = tempfile.mkdtemp(prefix="chorus-turn-")
    turn_log = open(os.path.join(work, "turn.log"), "w+")
    turn = subprocess.Popen([TURNSERVER, "-n", "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1",
                             "--listening-port", "3478", "--min-port", "49152", "--max-port", "49400",
                             "--lt-cred-mech", "--user", "chorus:secret", "--realm", "localhost",
                             "--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls", "--log-file", "stdout",
                             "--simple-log", "--verbose"], stdout=turn_log, stderr=subprocess.STDOUT)
    config = os.path.join(work, "hs.json")
    with open(config, "w") as f:
        json.dump({"turn": {"uris": ["turn:127.0.0.1:3478?transport=udp"], "username": "chorus",
                            "password": "secret", "ttl": 3600}}, f)
    hs = h.Homeserver(CHORUS, ["alice", "bob"], extra=["--config", config])
    procs = {}
    try:
        st, body = h.http("GET", hs.url + "/_matrix/client/v3/voip/turnServer", token=hs.login("alice"))
        res.check("chorus hs hands out the configured TURN server",
                  lambda: None if st == 200 and body.get("uris") else (_ for _ in ()).throw(h.Failure(str(body))))
        hs.create_room("alice", "turn")
        procs["alice"] = h.Participant(CHORUS, hs, "alice", "#turn:localhost", ["--create", "--relay-only"])
        h.wait_until(lambda: procs["alice"].ready(), 20, "alice ready")
        procs["bob"] = h.Participant(CHORUS, hs, "bob", "#turn:localhost", ["--relay-only"])

        def relayed_media():
            def ok():
                a = procs["alice"].peer_stats("@bob:localhost")
                b = procs["bob"].peer_stats("@alice:localhost")
                return all(s and s["video_frames_decoded"] >= 30 and s["audio_frames_decoded"] > 0 for s in (a, b))
            h.wait_until(ok, 60, "media both ways through the relay")
            for p in procs.values():
                t = p.events("turn")
                if not t or t[0]["servers"] < 1 or not t[0]["relay_only"]:
                    raise h.Failure("%s did not use the homeserver's TURN server: %s" % (p.name, t))
            turn_log.flush()
            with open(turn_log.name) as f:
                log = f.read()
            allocations = log.count("ALLOCATE processed, success")
            print("   coturn: %d successful allocations" % allocations)
            if allocations < 2:
                raise h.Failure("coturn logged %d successful allocations" % allocations)
        res.check("--relay-only calls connect through the TURN relay and decode media both ways", relayed_media)
    finally:
        for p in procs.values():
            p.stop()
        hs.stop()
        turn.terminate()
        try:
            turn.wait(5)
        except subprocess.TimeoutExpired:
            turn.kill()
        shutil.rmtree(work, ignore_errors=True)
    return res.finish()


if __name__ == "__main__":
    sys.exit(main())
