#!/usr/bin/env python3
"""Six `chorus call` participants through one `chorus focus` on `chorus hs`: everyone decodes everyone's audio and
video; one leaves, one is kill -9'd (noticed by the keepalive), one joins late; everyone converges. Then someone who is
not in the call invites the focus and is rejected. Run inside a private network namespace (see CMakeLists.txt)."""
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from chorus_harness import Failure, Focus, Homeserver, Participant, Results, finish_test, http, wait_until  # noqa: E402

CHORUS = sys.argv[1]
MIN_VIDEO_FRAMES = 10
USERS = ["u1", "u2", "u3", "u4", "u5", "u6"]
FIRST = USERS[:5]
FOCUS = "@focus:localhost"
FOCUS_DEVICE = "CHORUSFOCUS"
SIZE = (160, 120, 10)  # small video: 6 encoders and 30 decoders share two cores


def mxid(u):
    return "@%s:localhost" % u


def media_ok(p, peer_user):
    s = p.peer_stats(mxid(peer_user))
    return s is not None and s.get("audio_frames_decoded", 0) > 0 and s.get("video_frames_decoded", 0) >= MIN_VIDEO_FRAMES


def listed(p, peer_user):
    return p.peer_stats(mxid(peer_user)) is not None


def main():
    res = Results()
    hs = Homeserver(CHORUS, ["focus", "mallory"] + USERS)
    procs = {}
    focus = None
    try:
        room_id = hs.create_room("u1", "focusroom")
        alias = "#focusroom:localhost"
        token = hs.login("u1")
        st, body = http("POST", hs.url + "/_matrix/client/v3/rooms/%s/invite" % urllib.parse.quote(room_id),
                        {"user_id": FOCUS}, token)
        if st != 200:
            raise Failure("invite focus: %s %s" % (st, body))
        cfg = os.path.join(hs.dir, "focus.json")
        with open(cfg, "w") as f:
            json.dump({"allowed_servers": ["localhost"], "ping_interval_s": 2, "pong_timeout_s": 3}, f)
        focus = Focus(CHORUS, hs, "focus", ["--config", cfg])

        def focus_joins():
            wait_until(lambda: focus.ready(), 10, "the focus to log in")
            print("   focus ready: %s" % json.dumps(focus.ready()))

            def joined():
                st, body = http("GET", hs.url + "/_matrix/client/v3/rooms/%s/state/m.room.member/%s"
                                % (urllib.parse.quote(room_id), urllib.parse.quote(FOCUS)), None, token)
                return st == 200 and body.get("membership") == "join"
            wait_until(joined, 15, "the focus to accept the room invite")
        if not res.check("the focus logs in and accepts the room invite", focus_joins):
            return res.finish()

        def focus_is_lean():
            # `chorus focus` re-executes `chorus-focus` (apps/chorus/main.cpp): the SFU maps none of the
            # participant's (GStreamer) or the homeserver's (SQLite) libraries.
            exe = os.readlink("/proc/%d/exe" % focus.proc.pid)
            with open("/proc/%d/maps" % focus.proc.pid) as f:
                libs = sorted({line.split()[-1].rsplit("/", 1)[-1] for line in f if ".so" in line})
            print("   focus process: %s; %d libraries" % (exe, len(libs)))
            if os.path.basename(exe) != "chorus-focus":
                raise Failure("the focus runs as %s, not chorus-focus" % exe)
            heavy = [lib for lib in libs if lib.startswith(("libgst", "libglib", "libsqlite"))]
            if heavy:
                raise Failure("the focus maps %s" % heavy)
        res.check("`chorus focus` runs as the lean chorus-focus (no GStreamer, GLib or SQLite mapped)", focus_is_lean)

        extra = ["--focus", FOCUS]
        procs["u1"] = Participant(CHORUS, hs, "u1", alias, extra + ["--create"], size=SIZE)
        wait_until(lambda: procs["u1"].ready(), 20, "u1 ready")
        for u in FIRST[1:]:
            # u3 has no delayed leave: when it is killed only the focus's keepalive can notice.
            procs[u] = Participant(CHORUS, hs, u, alias, extra + (["--no-delayed-events"] if u == "u3" else []),
                                   size=SIZE)

        def report(users):
            for a in users:
                row = []
                for b in users:
                    if a != b:
                        s = procs[a].peer_stats(mxid(b)) or {}
                        row.append("%s a%d/v%d" % (b, s.get("audio_frames_decoded", 0), s.get("video_frames_decoded", 0)))
                print("   %s <- %s" % (a, ", ".join(row)))

        def all_pairs(users, timeout):
            def ok():
                return all(media_ok(procs[a], b) for a in users for b in users if a != b)
            try:
                wait_until(ok, timeout, "every ordered pair of %s to decode audio and >= %d video frames"
                           % (users, MIN_VIDEO_FRAMES), poll=0.5)
            finally:
                report(users)
            print("   focus: %s" % json.dumps({k: v for k, v in focus.stats().items() if k != "participants"}))

        if not res.check("5 participants through the focus: every ordered pair decodes audio and video",
                         lambda: all_pairs(FIRST, 90)):
            return res.finish()

        def downlink_loop():
            # webrtcbin answers the focus's transport-wide numbering with transport-cc feedback, so the focus
            # estimates every chorus call subscriber's downlink as it does a browser's (docs/congestion-control.md).
            def estimated():
                parts = [p for p in focus.stats().get("participants", []) if p.get("user_id") in map(mxid, FIRST)]
                return len(parts) == len(FIRST) and all(
                    p.get("downlink", {}).get("feedbacks", 0) > 0 and p["downlink"].get("target_kbps", 0) > 0
                    for p in parts)
            try:
                wait_until(estimated, 15, "a downlink estimate from transport-cc feedback for every participant")
            finally:
                for p in focus.stats().get("participants", []):
                    print("   downlink of %s: %s" % (p.get("user_id"), json.dumps(p.get("downlink"))))
        res.check("every chorus call subscriber runs the focus's downlink loop (transport-cc feedback, estimate)",
                  downlink_loop)

        def late_join():
            procs["u6"] = Participant(CHORUS, hs, "u6", alias, extra, size=SIZE)
            all_pairs(USERS, 60)
        res.check("a sixth joins late: all 30 ordered pairs decode", late_join)

        def leave():
            t0 = time.time()
            procs["u2"].command("leave")
            procs["u2"].proc.wait(15)
            rest = [u for u in USERS if u != "u2"]
            wait_until(lambda: all(not listed(procs[u], "u2") for u in rest), 15, "the others to drop u2")
            print("   u2 gone from every view %.1f s after its leave command" % (time.time() - t0))
            if not procs["u2"].events("summary"):
                raise Failure("u2 printed no summary")
        res.check("leave: the others stop receiving the leaver", leave)

        def crash():
            t0 = time.time()
            procs["u3"].kill9()
            rest = [u for u in USERS if u not in ("u2", "u3")]
            wait_until(lambda: focus.stats().get("removed_keepalive", 0) >= 1, 20, "the focus keepalive to drop u3")
            wait_until(lambda: all(not listed(procs[u], "u3") for u in rest), 15, "the others to drop u3")
            print("   u3 dropped everywhere %.1f s after kill -9 (keepalive 2 s + 3 s)" % (time.time() - t0))
        res.check("kill -9: the focus's keepalive removes it and the others drop it", crash)

        def still_flowing():
            rest = [u for u in USERS if u not in ("u2", "u3")]
            before = {(a, b): procs[a].peer_stats(mxid(b))["video_frames_decoded"] for a in rest for b in rest if a != b}
            time.sleep(3)
            for (a, b), n in before.items():
                now = procs[a].peer_stats(mxid(b))["video_frames_decoded"]
                if now <= n:
                    raise Failure("%s stopped decoding %s (%d -> %d)" % (a, b, n, now))
        res.check("the remaining four keep decoding each other", still_flowing)

        def mute_respected():
            # u4 mutes its camera: the focus stops forwarding that track (metadata video_muted) and the others
            # see it muted; unmuted, it flows again from a keyframe.
            watchers = ["u1", "u5", "u6"]
            procs["u4"].command("mute-video")
            wait_until(lambda: focus.stats().get("muted_not_forwarded", 0) > 0, 10, "the focus to hold back u4's video")
            time.sleep(1)
            frozen = {w: procs[w].peer_stats(mxid("u4"))["video_frames_decoded"] for w in watchers}
            time.sleep(2)
            for w in watchers:
                now = procs[w].peer_stats(mxid("u4"))["video_frames_decoded"]
                if now > frozen[w] + 2:
                    raise Failure("%s still decodes u4's muted video (%d -> %d)" % (w, frozen[w], now))
            procs["u4"].command("unmute-video")
            wait_until(lambda: all(procs[w].peer_stats(mxid("u4"))["video_frames_decoded"] >= frozen[w] + 10
                                   for w in watchers), 15, "u4's video to flow again after unmute")
            print("   muted: %d packets held back by the focus; unmuted: video decoded again"
                  % focus.stats()["muted_not_forwarded"])
        res.check("mute is respected: a muted camera is not forwarded, and resumes when unmuted", mute_respected)

        def outsider_rejected():
            mtoken = hs.login("mallory")
            st, me = http("GET", hs.url + "/_matrix/client/v3/account/whoami", None, mtoken)
            device = me["device_id"]
            st, state = http("GET", hs.url + "/_matrix/client/v3/rooms/%s/state" % urllib.parse.quote(room_id),
                             None, token)
            conf = [e["state_key"] for e in state if e["type"] in ("org.matrix.msc3401.call", "m.call")][0]
            st, first = http("GET", hs.url + "/_matrix/client/v3/sync?timeout=0", None, mtoken)
            since = first["next_batch"]

            def invite(call_id):
                content = {"call_id": call_id, "party_id": device, "version": "1", "conf_id": conf,
                           "device_id": device, "sender_session_id": "mallory-session", "dest_session_id": "sfu",
                           "seq": 0, "lifetime": 60000,
                           "offer": {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}}
                st, body = http("PUT", hs.url + "/_matrix/client/v3/sendToDevice/m.call.invite/%s" % call_id,
                                {"messages": {FOCUS: {FOCUS_DEVICE: content}}}, mtoken)
                if st != 200:
                    raise Failure("sendToDevice: %s %s" % (st, body))

            def rejected(call_id):
                nonlocal since
                st, b = http("GET", hs.url + "/_matrix/client/v3/sync?timeout=1000&since=" + since, None, mtoken)
                since = b.get("next_batch", since)
                return any(e["type"] == "m.call.reject" and e["content"].get("call_id") == call_id
                           for e in b.get("to_device", {}).get("events", []))

            base = focus.stats().get("rejected_not_member", 0)
            invite("outsider1")  # not even in the room
            wait_until(lambda: rejected("outsider1"), 10, "a reject for the outsider's invite")
            # Joined, with a member event naming the focus, but expired.
            http("POST", hs.url + "/_matrix/client/v3/join/%s" % urllib.parse.quote(room_id), {}, mtoken)
            past = int(time.time() * 1000) - 60000
            member = {"m.calls": [{"m.call_id": conf, "m.devices": [{
                "device_id": device, "session_id": "mallory-session", "expires_ts": past, "feeds": [],
                "org.matrix.msc3898.foci.active": [{"user_id": FOCUS, "device_id": FOCUS_DEVICE}]}]}]}
            st, body = http("PUT", hs.url + "/_matrix/client/v3/rooms/%s/state/org.matrix.msc3401.call.member/%s"
                            % (urllib.parse.quote(room_id), urllib.parse.quote(mxid("mallory"))), member, mtoken)
            if st != 200:
                raise Failure("member event: %s %s" % (st, body))
            time.sleep(1)  # let the focus's sync see it
            invite("outsider2")
            wait_until(lambda: rejected("outsider2"), 10, "a reject for the expired member's invite")
            wait_until(lambda: focus.stats().get("rejected_not_member", 0) >= base + 2, 5,
                       "the focus to count both rejections")
            print("   both invites rejected (m.call.reject received); rejected_not_member=%d"
                  % focus.stats()["rejected_not_member"])
        res.check("someone not in the call (no member event, or expired) who invites the focus is rejected",
                  outsider_rejected)

        def clean_exit():
            for u in ["u1", "u4", "u5", "u6"]:
                procs[u].stop()
                if procs[u].proc.returncode != 0:
                    raise Failure("%s exited with %s" % (u, procs[u].proc.returncode))
            focus.stop()
            if focus.proc.returncode != 0:
                raise Failure("focus exited with %s" % focus.proc.returncode)
            s = focus.events("summary")
            if not s:
                raise Failure("the focus printed no summary")
            print("   focus summary: forwarded %d packets, %d keyframe requests, %d NACKs answered, %d offers"
                  % (s[-1]["forwarded_packets"], s[-1]["keyframe_requests"], s[-1]["nacks_answered"],
                     s[-1]["offers_sent"]))
        res.check("SIGTERM: participants and the focus exit 0", clean_exit)
    except Failure as e:
        print("FAIL setup: %s" % e)
        res.failed += 1
    finally:
        code = finish_test(res, hs, procs.values(), focus)
    return code


if __name__ == "__main__":
    sys.exit(main())
