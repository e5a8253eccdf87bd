#!/usr/bin/env python3
"""ICE-TCP to the focus from `chorus call` (GStreamer webrtcbin / libnice): in a namespace where every UDP packet is
dropped (CTest loads tests/integration/io/block_udp.nft), two `chorus call --focus` participants reach `chorus focus`
through its passive TCP candidates and decode each other's audio and video. The focus must send to both over TCP
("tcp:..." selected address) and its UDP port must have received nothing. Run inside tests/netns/run.sh."""
import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import chorus_harness as h  # noqa: E402

CHORUS = sys.argv[1]
FOCUS = "@focus:localhost"
MIN_VIDEO_FRAMES = 30


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
    hs = h.Homeserver(CHORUS, ["focus", "alice", "bob"])
    procs = {}
    focus = None
    try:
        room_id = hs.create_room("alice", "tcpfocus")
        alias = "#tcpfocus:localhost"
        token = hs.login("alice")
        st, body = h.http("POST", hs.url + "/_matrix/client/v3/rooms/%s/invite" % urllib.parse.quote(room_id),
                          {"user_id": FOCUS}, token)
        if st != 200:
            raise h.Failure("invite focus: %s %s" % (st, body))
        cfg = os.path.join(hs.dir, "focus.json")
        with open(cfg, "w") as f:
            json.dump({"allowed_servers": ["localhost"]}, f)
        focus = FocusProcess(hs, ["--config", cfg])

        def focus_joins():
            h.wait_until(lambda: focus.ready(), 10, "the focus to log in")
            print("   focus ready: %s" % json.dumps(focus.ready()))
            if not focus.ready().get("tcp_port"):
                raise h.Failure("the focus serves no ICE-TCP port")

            def joined():
                st, body = h.http("GET", hs.url + "/_matrix/client/v3/rooms/%s/state/m.room.member/%s"
                                  % (urllib.parse.quote(room_id), urllib.parse.quote(FOCUS)), None, token)
                return st == 200 and body.get("membership") == "join"
            h.wait_until(joined, 15, "the focus to accept the room invite")
        if not res.check("the focus logs in with an ICE-TCP port and joins the room", focus_joins):
            return res.finish()

        procs["alice"] = h.Participant(CHORUS, hs, "alice", alias, ["--create", "--focus", FOCUS])
        h.wait_until(lambda: procs["alice"].ready(), 20, "alice ready")
        procs["bob"] = h.Participant(CHORUS, hs, "bob", alias, ["--focus", FOCUS])

        def decode_each_other():
            def ok():
                a = procs["alice"].peer_stats("@bob:localhost")
                b = procs["bob"].peer_stats("@alice:localhost")
                return all(s and s.get("video_frames_decoded", 0) >= MIN_VIDEO_FRAMES and
                           s.get("audio_frames_decoded", 0) > 0 for s in (a, b))
            try:
                h.wait_until(ok, 60, "alice and bob to decode each other through the focus over TCP", poll=0.5)
            finally:
                for u, other in (("alice", "@bob:localhost"), ("bob", "@alice:localhost")):
                    s = procs[u].peer_stats(other) or {}
                    print("   %s <- %s: audio %s, video %s frames" % (u, other, s.get("audio_frames_decoded"),
                                                                     s.get("video_frames_decoded")))
        if not res.check("with UDP dropped, two chorus call decode each other through the focus", decode_each_other):
            return res.finish()

        def over_tcp():
            st = focus.stats()
            print("   focus: %s" % json.dumps({k: v for k, v in st.items()
                                               if k.startswith(("tcp", "udp")) or k == "participants"}))
            for p in st.get("participants", []):
                if not (p.get("selected") or "").startswith("tcp:"):
                    raise h.Failure("the focus does not send to %s over TCP: %r" % (p["user_id"], p.get("selected")))
            if len(st.get("participants", [])) != 2:
                raise h.Failure("the focus lists %d participants" % len(st.get("participants", [])))
            if st.get("udp_rx") != 0 or not st.get("tcp_frames_rx", 0) > 100:
                raise h.Failure("udp_rx %s, tcp_frames_rx %s" % (st.get("udp_rx"), st.get("tcp_frames_rx")))
        res.check("the focus sends to both over ICE-TCP and its UDP port received nothing", over_tcp)
    finally:
        for p in procs.values():
            p.stop()
        if focus:
            focus.stop()
        hs.stop()
    return res.finish()


if __name__ == "__main__":
    sys.exit(main())
