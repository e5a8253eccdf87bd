#!/usr/bin/env python3
"""Issue #10: fake invites must not knock a participant out.

alice and bob are in a call. mallory, an ordinary room member, reads alice's conf_id, device and session from room
state and sends her 255 `m.call.invite`s from device ids that are not in the call (plus 50 with invalid SDP).
Before the fix alice built a webrtcbin leg for each (RSS 41 -> 264 MB, 2062 threads, the leg cap full, her
delayed leave starved). Now none gets a leg: alice's threads and RSS stay flat, she stays connected to bob, the
invites are held and then rejected or dropped (counted in her summary), and a real newcomer (carol) still
connects. Run inside a private network namespace.
"""
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from chorus_harness import Homeserver, Participant, Results, http, wait_until  # noqa: E402

CHORUS = sys.argv[1]
FAKES = 255
BAD_SDP = 50


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "Threads"):
                out[k] = int(v.split()[0])
    return out


def connected(p, peer):
    s = p.peer_stats(peer)
    return s is not None and s.get("state") == "connected" and s["video_frames_decoded"] > 0


def main():
    res = Results()
    hs = Homeserver(CHORUS, ["alice", "bob", "carol", "mallory"])
    procs = {}
    try:
        room_id = hs.create_room("alice", "fakes")
        room = "#fakes:localhost"
        procs["alice"] = Participant(CHORUS, hs, "alice", room, ["--create"])
        wait_until(lambda: procs["alice"].ready(), 20, "alice ready")
        procs["bob"] = Participant(CHORUS, hs, "bob", room)
        wait_until(lambda: connected(procs["alice"], "@bob:localhost") and connected(procs["bob"], "@alice:localhost"),
                   60, "alice and bob connected")
        time.sleep(2)
        before = proc_status(procs["alice"].proc.pid)
        print("   alice before: %s" % before)

        token = hs.login("mallory")
        st, _ = http("POST", hs.url + "/_matrix/client/v3/join/" + urllib.parse.quote(room_id), {}, token)
        assert st == 200, st
        st, member = http("GET", hs.url + "/_matrix/client/v3/rooms/%s/state/org.matrix.msc3401.call.member/%s" % (
            urllib.parse.quote(room_id), urllib.parse.quote("@alice:localhost")), None, token)
        assert st == 200, (st, member)
        call = member["m.calls"][0]
        dev = call["m.devices"][0]
        conf, device, session = call["m.call_id"], dev["device_id"], dev["session_id"]

        def invite(i, sdp):
            fake = "FAKE%03d" % i
            return {"call_id": "fakecall%d" % i, "party_id": fake, "version": "1", "conf_id": conf,
                    "device_id": fake, "sender_session_id": "fakesession", "dest_session_id": session, "seq": 0,
                    "lifetime": 60000, "invitee": "@alice:localhost", "offer": {"type": "offer", "sdp": sdp}}

        def attack():
            t0 = time.time()
            for i in range(FAKES + BAD_SDP):
                sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n" if i < FAKES else "\x01not sdp %d" % i
                st, body = http("PUT", hs.url + "/_matrix/client/v3/sendToDevice/m.call.invite/t%d" % i,
                                {"messages": {"@alice:localhost": {device: invite(i, sdp)}}}, token)
                assert st == 200, (st, body)
            print("   mallory sent %d fake invites and %d with invalid SDP in %.1f s" % (FAKES, BAD_SDP,
                                                                                        time.time() - t0))
            time.sleep(15)  # past the hold (10 s) and the delayed-leave timeout (8 s)
            after = proc_status(procs["alice"].proc.pid)
            print("   alice after: %s" % after)
            if after["Threads"] > before["Threads"] + 8:
                raise AssertionError("alice's threads grew %d -> %d" % (before["Threads"], after["Threads"]))
            # Under ASan the allocator's quarantine and shadow memory make RSS meaningless: threads and legs
            # still tell whether pipelines were built.
            if "ASAN_OPTIONS" not in os.environ and after["VmRSS"] > before["VmRSS"] + 30 * 1024:
                raise AssertionError("alice's RSS grew %d -> %d kB" % (before["VmRSS"], after["VmRSS"]))
            legs = [l for l in procs["alice"].events("leg") if l.get("user_id") == "@mallory:localhost"]
            if legs:
                raise AssertionError("alice has legs for mallory: %s" % legs[:3])
        res.check("%d fake invites + %d with invalid SDP: no leg, threads and RSS flat" % (FAKES, BAD_SDP), attack)

        def still_in_call():
            wait_until(lambda: connected(procs["alice"], "@bob:localhost"), 10, "alice still connected to bob")
            st, m = http("GET", hs.url + "/_matrix/client/v3/rooms/%s/state/org.matrix.msc3401.call.member/%s" % (
                urllib.parse.quote(room_id), urllib.parse.quote("@alice:localhost")), None, token)
            if not m.get("m.calls") or not m["m.calls"][0].get("m.devices"):
                raise AssertionError("alice's member event lost her device (delayed leave fired): %s" % m)
        res.check("alice stays in the call (media with bob, member event intact)", still_in_call)

        def newcomer():
            procs["carol"] = Participant(CHORUS, hs, "carol", room)
            wait_until(lambda: connected(procs["alice"], "@carol:localhost")
                       and connected(procs["carol"], "@alice:localhost"), 60, "carol and alice connected")
        res.check("a genuine newcomer still connects", newcomer)

        def counted():
            procs["alice"].stop()
            sig = procs["alice"].events("summary")[-1]["signalling"]
            print("   alice: " + ", ".join("%s %s" % (k, sig.get(k)) for k in (
                "invites_held", "held_invites_expired", "held_invites_overflow", "invalid_offer")))
            if (sig["invites_held"] + sig["held_invites_overflow"] != FAKES or sig["invalid_offer"] != BAD_SDP
                    or sig["held_invites_released"] != 0):
                raise AssertionError("not every fake invite was held or dropped: %s" % sig)
        res.check("alice's summary counts the held and dropped invites", counted)
    finally:
        for p in procs.values():
            p.stop()
        hs.stop()
    return res.finish()


if __name__ == "__main__":
    sys.exit(main())
