#!/usr/bin/env python3
"""Failures you can see: a focus that advertises an address nobody can reach (a wrong --public-ip). Within ~10 s of
the offer/answer, `chorus call` and `chorus focus` say so at the default log level and as a --json event, with the
candidates on both sides and why. Run inside tests/netns/run.sh (a machine with a NIC)."""
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from chorus_harness import Failure, Focus, Homeserver, Participant, Results, http, wait_until  # noqa: E402

CHORUS = sys.argv[1]
FOCUS = "@focus:localhost"
UNREACHABLE = "198.18.0.77"  # in the namespace's subnet, assigned to nobody


def main():
    res = Results()
    hs = Homeserver(CHORUS, ["focus", "u1"])
    focus = p = None
    try:
        room_id = hs.create_room("u1", "lost")
        token = hs.login("u1")
        st, body = http("POST", hs.url + "/_matrix/client/v3/rooms/%s/invite" % urllib.parse.quote(room_id),
                        {"user_id": FOCUS}, token)
        if st != 200:
            raise Failure("invite focus: %s %s" % (st, body))
        focus = Focus(CHORUS, hs, "focus", ["--public-ip", UNREACHABLE])

        def focus_up():
            wait_until(lambda: focus.ready(), 10, "the focus to log in")
            addrs = focus.ready().get("addresses")
            if addrs != [UNREACHABLE]:
                raise Failure("advertised %s, want only %s" % (addrs, UNREACHABLE))
            st, body = http("GET", hs.url + "/_matrix/client/v3/rooms/%s/state/m.room.member/%s"
                            % (urllib.parse.quote(room_id), urllib.parse.quote(FOCUS)), None, token)
            wait_until(lambda: http("GET", hs.url + "/_matrix/client/v3/rooms/%s/state/m.room.member/%s"
                                    % (urllib.parse.quote(room_id), urllib.parse.quote(FOCUS)), None,
                                    token)[1].get("membership") == "join", 15, "the focus to join")
        if not res.check("the focus advertises exactly its --public-ip", focus_up):
            return res.finish()

        t0 = time.time()
        p = Participant(CHORUS, hs, "u1", "#lost:localhost", ["--focus", FOCUS, "--create"])

        def participant_says_why():
            wait_until(lambda: p.events("leg_not_connected"), 25, "chorus call to report the stuck leg")
            e = p.events("leg_not_connected")[0]
            print("   chorus call after %.1f s: %s" % (time.time() - t0, json.dumps(e)[:600]))
            if not e.get("reason") or not e.get("local_candidates"):
                raise Failure("report without reason or local candidates: %s" % e)
            if not any(UNREACHABLE in c for c in e.get("remote_candidates", [])):
                raise Failure("the focus's candidates (from its answer) are missing: %s" % e)
            if not any(UNREACHABLE in c for c in e.get("pairs", [])):
                raise Failure("no candidate pair towards the focus listed: %s" % e)
            if e.get("ice_state") in ("connected", "completed"):
                raise Failure("ICE claims %s towards an unreachable address" % e.get("ice_state"))
            with open(p.errlog.name) as f:
                if "has not connected" not in f.read():
                    raise Failure("nothing at the default log level on stderr")
        res.check("chorus call reports the leg that does not connect, with candidates and reason",
                  participant_says_why)

        def focus_says_why():
            wait_until(lambda: focus.events("peer_not_connected"), 25, "chorus focus to report the participant")
            e = focus.events("peer_not_connected")[0]
            print("   chorus focus: %s" % json.dumps(e)[:600])
            if "no ICE connectivity check" not in e.get("reason", ""):
                raise Failure("unexpected reason: %s" % e.get("reason"))
            if not any(UNREACHABLE in c for c in e.get("local_candidates", [])):
                raise Failure("the focus's own candidates are missing: %s" % e)
            if e.get("stun_requests_answered") != 0 or e.get("dtls") == "connected":
                raise Failure("inconsistent report: %s" % e)
        res.check("chorus focus reports the participant that does not connect, with the reason", focus_says_why)
    except Failure as e:
        print("FAIL setup: %s" % e, flush=True)
        res.failed += 1
    finally:
        for x in (p, focus):
            if x is not None:
                x.stop()
        hs.stop()
    return res.finish()


if __name__ == "__main__":
    sys.exit(main())
