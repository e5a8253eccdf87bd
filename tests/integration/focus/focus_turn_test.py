#!/usr/bin/env python3
"""TURN to the focus: coturn (started here, on the namespace's NIC address) is handed out by `chorus hs`'s
/voip/turnServer. `chorus call --relay-only --focus @focus:localhost` (ICE transport policy "relay": its only
candidates are coturn's relayed ones) and a second participant without that restriction call through
`chorus focus`. The focus is ICE-lite, so the relay-only client's checks reach the focus's host candidates through
coturn (coturn must be allowed to relay to them: --allow-loopback-peers for 127.0.0.1). Both must decode the
other's audio and video; the focus must be sending to the relay-only participant at coturn's relay address, and
coturn must log the allocation. Run inside tests/netns/run.sh (see CMakeLists.txt)."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import chorus_harness as h  # noqa: E402

CHORUS = sys.argv[1]
TURNSERVER = shutil.which("turnserver")
FOCUS = "@focus:localhost"
MIN_VIDEO_FRAMES = 30
RELAY_PORTS = (49152, 49400)


def nic_address():
    """The veth address of tests/netns/run.sh when there is one, else loopback."""
    for ip in ("198.18.0.1", "127.0.0.1"):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((ip, 0))
            return ip
        except OSError:
            continue
        finally:
            s.close()
    return "127.0.0.1"


class FocusProcess(h.JsonLinesProcess):
    """`chorus focus --json` with its default binding (every address, UDP and ICE-TCP)."""

    def __init__(self, hs, extra=()):
        args = [CHORUS, "--log-level", os.environ.get("FOCUS_LOG", "info"), "focus", "--homeserver", hs.url,
                "--user", "focus", "--password", "pw", "--udp-port", "0", "--json", "--stats-interval",
                "0.5"] + list(extra)
        self.start(args, os.path.join(hs.dir, "focus.err"))

    def stats(self):
        s = self.events("stats")
        return s[-1] if s else {}


def main():
    res = h.Results()
    if not TURNSERVER:
        print("SKIP: coturn's turnserver is not installed (scripts/setup installs it)")
        return 77
    ip = nic_address()
    work = tempfile.mkdtemp(prefix="chorus-focus-turn-")
    turn_log = open(os.path.join(work, "turn.log"), "w+")
    turn = subprocess.Popen([TURNSERVER, "-n", "--listening-ip", ip, "--relay-ip", ip,
                             "--listening-port", "3478", "--min-port", str(RELAY_PORTS[0]),
                             "--max-port", str(RELAY_PORTS[1]), "--lt-cred-mech", "--user", "chorus:secret",
                             "--realm", "localhost", "--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls",
                             "--pidfile", os.path.join(work, "turn.pid"), "--log-file", "stdout", "--simple-log",
                             "--verbose"], stdout=turn_log, stderr=subprocess.STDOUT)
    config = os.path.join(work, "hs.json")
    with open(config, "w") as f:
        json.dump({"turn": {"uris": ["turn:%s:3478?transport=udp" % ip], "username": "chorus",
                            "password": "secret", "ttl": 3600}}, f)
    hs = h.Homeserver(CHORUS, ["focus", "alice", "bob"], extra=["--config", config])
    procs = {}
    focus = None
    try:
        room_id = hs.create_room("alice", "turnfocus")
        alias = "#turnfocus:localhost"
        token = hs.login("alice")
        st, body = h.http("POST", hs.url + "/_matrix/client/v3/rooms/%s/invite" % urllib.parse.quote(room_id),
                          {"user_id": FOCUS}, token)
        if st != 200:
            raise h.Failure("invite focus: %s %s" % (st, body))
        fcfg = os.path.join(work, "focus.json")
        with open(fcfg, "w") as f:
            json.dump({"allowed_servers": ["localhost"]}, f)
        focus = FocusProcess(hs, ["--config", fcfg])

        def focus_joins():
            h.wait_until(lambda: focus.ready(), 10, "the focus to log in")
            print("   focus ready: %s" % json.dumps(focus.ready()))

            def joined():
                st, body = h.http("GET", hs.url + "/_matrix/client/v3/rooms/%s/state/m.room.member/%s"
                                  % (urllib.parse.quote(room_id), urllib.parse.quote(FOCUS)), None, token)
                return st == 200 and body.get("membership") == "join"
            h.wait_until(joined, 15, "the focus to accept the room invite")
        if not res.check("the focus logs in and joins the room", focus_joins):
            return res.finish()

        st, body = h.http("GET", hs.url + "/_matrix/client/v3/voip/turnServer", token=token)
        res.check("chorus hs hands out the coturn relay",
                  lambda: None if st == 200 and body.get("uris") else (_ for _ in ()).throw(h.Failure(str(body))))

        procs["alice"] = h.Participant(CHORUS, hs, "alice", alias, ["--create", "--focus", FOCUS, "--relay-only"])
        h.wait_until(lambda: procs["alice"].ready(), 20, "alice ready")
        procs["bob"] = h.Participant(CHORUS, hs, "bob", alias, ["--focus", FOCUS])

        def decode_each_other():
            def ok():
                a = procs["alice"].peer_stats("@bob:localhost")
                b = procs["bob"].peer_stats("@alice:localhost")
                return all(s and s.get("video_frames_decoded", 0) >= MIN_VIDEO_FRAMES and
                           s.get("audio_frames_decoded", 0) > 0 for s in (a, b))
            try:
                h.wait_until(ok, 90, "alice (relay only) and bob to decode each other through the focus", poll=0.5)
            finally:
                for u, other in (("alice", "@bob:localhost"), ("bob", "@alice:localhost")):
                    s = procs[u].peer_stats(other) or {}
                    print("   %s <- %s: audio %s, video %s frames" % (u, other, s.get("audio_frames_decoded"),
                                                                     s.get("video_frames_decoded")))
            t = procs["alice"].events("turn")
            if not t or t[0]["servers"] < 1 or not t[0]["relay_only"]:
                raise h.Failure("alice did not use the homeserver's TURN server relay-only: %s" % t)
        if not res.check("a --relay-only participant and another one decode each other through the focus",
                         decode_each_other):
            return res.finish()

        def focus_sends_via_relay():
            parts = {p["user_id"]: p for p in focus.stats().get("participants", [])}
            print("   focus participants: %s" % json.dumps(parts))
            sel = (parts.get("@alice:localhost") or {}).get("selected") or ""
            host, _, port = sel.rpartition(":")
            if host != ip or not (RELAY_PORTS[0] <= int(port or 0) <= RELAY_PORTS[1]):
                raise h.Failure("the focus does not send to alice at a coturn relay address (%s:%d-%d): %r"
                                % (ip, RELAY_PORTS[0], RELAY_PORTS[1], sel))
            turn_log.flush()
            with open(turn_log.name) as f:
                log = f.read()
            allocations = log.count("ALLOCATE processed, success")
            print("   coturn: %d successful allocations" % allocations)
            if allocations < 1:
                raise h.Failure("coturn logged no successful allocation")
        res.check("the focus reaches the relay-only participant at coturn's relayed address", focus_sends_via_relay)
    finally:
        for p in procs.values():
            p.stop()
        if focus:
            focus.stop()
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
