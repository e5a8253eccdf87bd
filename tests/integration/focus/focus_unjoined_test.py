#!/usr/bin/env python3
"""Clients that name the focus but never invite it into the room (what matrix-js-sdk's matthew/sfu does): two
`chorus call --focus` participants in a room the focus never joined decode each other through `chorus focus`
under its default unjoined-rooms policy (own-server); a third joins late and is kill -9'd (the focus's keepalive
drops it: it sees no member events there); the second leaves (its hangup ends it). Then, with
`--unjoined-rooms off`, the same kind of invite is rejected. Runs in tests/netns/run.sh (a namespace with a
NIC-like veth), without --loopback-only."""
import json
import os
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from chorus_harness import Failure, Homeserver, JsonLinesProcess, Results, finish_test, http, wait_until  # noqa: E402

CHORUS = sys.argv[1]
FOCUS = "@focus:localhost"
USERS = ["u1", "u2", "u3"]
MIN_VIDEO_FRAMES = 10


def mxid(u):
    return "@%s:localhost" % u


class Caller(JsonLinesProcess):
    """`chorus call --json --focus` as a user would run it: no --loopback-only (libnice gathers the veth address)."""

    def __init__(self, hs, user, room, extra=()):
        self.user = user
        args = [CHORUS, "call", "--homeserver", hs.url, "--user", user, "--password", "pw", "--room", room,
                "--json", "--focus", FOCUS, "--width", "160", "--height", "120", "--fps", "10",
                "--stats-interval", "0.5"] + list(extra)
        self.start(args, os.path.join(hs.dir, "%s-%d.err" % (user, id(self))), stdin=subprocess.PIPE)

    def command(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def peer_stats(self, user_id):
        s = self.events("stats")
        for p in (s[-1]["peers"] if s else []):
            if p["user_id"] == user_id:
                return p
        return None


def focus_membership(hs, room_id, token):
    st, body = http("GET", hs.url + "/_matrix/client/v3/rooms/%s/state/m.room.member/%s"
                    % (urllib.parse.quote(room_id), urllib.parse.quote(FOCUS)), None, token)
    return body.get("membership") if st == 200 else None


def main():
    res = Results()
    hs = Homeserver(CHORUS, ["focus"] + USERS)
    procs = {}
    focus = None
    try:
        room_id = hs.create_room("u1", "notinvited")
        alias = "#notinvited:localhost"
        token = hs.login("u1")
        cfg = os.path.join(hs.dir, "focus.json")
        with open(cfg, "w") as f:
            json.dump({"ping_interval_s": 2, "pong_timeout_s": 3}, f)
        # No --bind, no --unjoined-rooms: the defaults a user gets (own-server policy).
        focus = JsonLinesProcess()
        focus.start([CHORUS, "focus", "--homeserver", hs.url, "--user", "focus", "--password", "pw",
                     "--udp-port", "0", "--json", "--stats-interval", "0.5", "--config", cfg],
                    os.path.join(hs.dir, "focus-1.err"))

        def stats():
            s = focus.events("stats")
            return s[-1] if s else {}

        def two_decode():
            wait_until(lambda: focus.ready(), 10, "the focus to log in")
            print("   focus ready: %s" % json.dumps(focus.ready()))
            procs["u1"] = Caller(hs, "u1", alias, ["--create"])
            wait_until(lambda: procs["u1"].ready(), 20, "u1 ready")
            procs["u2"] = Caller(hs, "u2", alias)

            def ok():
                return all((procs[a].peer_stats(mxid(b)) or {}).get("audio_frames_decoded", 0) > 0 and
                           (procs[a].peer_stats(mxid(b)) or {}).get("video_frames_decoded", 0) >= MIN_VIDEO_FRAMES
                           for a, b in (("u1", "u2"), ("u2", "u1")))
            try:
                wait_until(ok, 60, "u1 and u2 to decode each other's audio and video through the focus", poll=0.5)
            finally:
                for a, b in (("u1", "u2"), ("u2", "u1")):
                    s = procs[a].peer_stats(mxid(b)) or {}
                    print("   %s <- %s: %s" % (a, b, json.dumps({k: s.get(k) for k in (
                        "state", "audio_frames_decoded", "video_frames_decoded") if k in s} or s)))
                print("   focus: %s" % json.dumps({k: v for k, v in stats().items() if k != "participants"}))
            if stats().get("invites_accepted_unjoined", 0) < 2:
                raise Failure("the focus did not count two invites of an unjoined room: %s" % json.dumps(stats()))
            if focus_membership(hs, room_id, token) is not None:
                raise Failure("the focus is in the room after all: %s" % focus_membership(hs, room_id, token))
        if not res.check("two participants in a room the focus never joined decode each other through it",
                         two_decode):
            return res.finish()

        def crash_keepalive():
            # No member event the focus could watch: a participant that vanishes is noticed by the keepalive.
            procs["u3"] = Caller(hs, "u3", alias)
            wait_until(lambda: stats().get("peers") == 3 and
                       (procs["u1"].peer_stats(mxid("u3")) or {}).get("video_frames_decoded", 0) > 0, 30,
                       "u1 to decode u3, who joined late")
            procs["u3"].kill9()
            wait_until(lambda: stats().get("removed_keepalive", 0) == 1 and stats().get("peers") == 2, 20,
                       "the focus's keepalive to drop the killed u3")
        res.check("kill -9: the focus's keepalive drops the participant (ping 2 s, pong timeout 3 s)",
                  crash_keepalive)

        def hangup_ends_it():
            procs["u2"].command("leave")
            procs["u2"].proc.wait(15)
            wait_until(lambda: stats().get("peers") == 1, 10, "the focus to drop u2")
            if stats().get("removed_keepalive", 0) != 1:
                raise Failure("u2 was dropped by the keepalive, not by its hangup")
        res.check("a participant that leaves is dropped at once (its hangup)", hangup_ends_it)

        def policy_off_rejects():
            procs["u1"].stop()
            focus.stop()
            off = JsonLinesProcess()
            off.start([CHORUS, "focus", "--homeserver", hs.url, "--user", "focus", "--password", "pw",
                       "--udp-port", "0", "--json", "--stats-interval", "0.5", "--config", cfg,
                       "--unjoined-rooms", "off"], os.path.join(hs.dir, "focus-off.err"))
            procs["focus-off"] = off
            wait_until(lambda: off.ready(), 10, "the focus (policy off) to log in")

            def off_stats():
                s = off.events("stats")
                return s[-1] if s else {}
            procs["u1b"] = Caller(hs, "u1", alias)
            # Held for the grace (5 s: the focus may still see the call's room), then rejected.
            wait_until(lambda: off_stats().get("rejected_unknown_conf", 0) > 0, 30,
                       "the focus with --unjoined-rooms off to reject the invite")
            if off_stats().get("invites_accepted", 0) != 0:
                raise Failure("served with the policy off: %s" % json.dumps(off_stats()))
            print("   rejected_unknown_conf=%d, invites_accepted=0" % off_stats()["rejected_unknown_conf"])
        res.check("with --unjoined-rooms off the same invite is rejected", policy_off_rejects)
    except Failure as e:
        print("FAIL setup: %s" % e)
        res.failed += 1
    finally:
        code = finish_test(res, hs, procs.values(), focus)
    return code


if __name__ == "__main__":
    sys.exit(main())
