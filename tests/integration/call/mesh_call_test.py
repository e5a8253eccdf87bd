#!/usr/bin/env python3
"""Four `chorus call` processes on `chorus hs` in a full mesh: media in every direction, then leave, kill -9 and
rejoin with a new session. Run inside a private network namespace (see CMakeLists.txt)."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from chorus_harness import Failure, Homeserver, Participant, Results, wait_until  # noqa: E402

CHORUS = sys.argv[1]
MIN_VIDEO_FRAMES = 30  # 2 s of 15 fps video: proves frames were decoded, not just packets received
USERS = ["alice", "bob", "carol", "dave"]


def mxid(u):
    return "@%s:localhost" % u


def media_ok(p, peer_user, peer_device=None):
    s = p.peer_stats(mxid(peer_user), peer_device)
    return (s is not None and s.get("state") == "connected" and s["audio_frames_decoded"] > 0
            and s["video_frames_decoded"] >= MIN_VIDEO_FRAMES)


def legs_ended(p, peer_user, since_ts):
    return [l for l in p.events("leg")
            if l["user_id"] == mxid(peer_user) and l["state"] == "ended" and l["ts"] >= since_ts]


def main():
    res = Results()
    hs = Homeserver(CHORUS, USERS)
    procs = {}
    try:
        hs.create_room("alice", "mesh")
        room = "#mesh:localhost"
        procs["alice"] = Participant(CHORUS, hs, "alice", room, ["--create"])
        wait_until(lambda: procs["alice"].ready(), 20, "alice ready")
        for u in USERS[1:]:
            procs[u] = Participant(CHORUS, hs, u, room)

        def full_mesh():
            def all_pairs():
                return all(media_ok(procs[a], b) for a in USERS for b in USERS if a != b)
            wait_until(all_pairs, 60, "every ordered pair to decode audio and >= %d video frames" % MIN_VIDEO_FRAMES)
            for a in USERS:
                for b in USERS:
                    if a != b:
                        s = procs[a].peer_stats(mxid(b))
                        print("   %s <- %s: audio %d, video %d frames" % (a, b, s["audio_frames_decoded"],
                                                                        s["video_frames_decoded"]))
        if not res.check("full mesh of 4: every ordered pair decodes audio and video", full_mesh):
            return res.finish()

        def leave():
            t0 = int(time.time() * 1000)
            procs["dave"].command("leave")
            procs["dave"].proc.wait(15)
            for u in ["alice", "bob", "carol"]:
                wait_until(lambda u=u: legs_ended(procs[u], "dave", t0), 5, "%s to hang up dave's leg" % u)
                ended = legs_ended(procs[u], "dave", t0)[0]
                lag = ended["ts"] - t0
                print("   %s hung up dave's leg %d ms after the leave command (%s)" % (u, lag, ended["reason"]))
                if lag > 2000:
                    raise Failure("%s took %d ms (> 2 s) to drop dave" % (u, lag))
            summary = procs["dave"].events("summary")
            if not summary:
                raise Failure("dave printed no summary line")
        res.check("leave: the others hang up that leg within 2 s", leave)

        def crash():
            t0 = int(time.time() * 1000)
            procs["carol"].kill9()
            for u in ["alice", "bob"]:
                wait_until(lambda u=u: legs_ended(procs[u], "carol", t0), 20, "%s to drop carol" % u)
                wait_until(lambda u=u: all(p["user_id"] != mxid("carol")
                                           for p in (procs[u].events("participants") or [{}])[-1].get("participants", [])),
                           20, "%s to see carol leave the participants (delayed leave)" % u)
                lag = int(time.time() * 1000) - t0
                print("   %s dropped carol %d ms after kill -9" % (u, lag))
        res.check("kill -9: the others drop the participant within the delayed-event timeout", crash)

        def rejoin():
            old_device = procs["bob"].ready()["device_id"]
            old_call = procs["alice"].peer_stats(mxid("bob"))["call_id"]
            procs["bob"].kill9()
            t0 = int(time.time() * 1000)
            procs["bob2"] = Participant(CHORUS, hs, "bob", room, ["--device-id", old_device], name="bob2")
            wait_until(lambda: procs["bob2"].ready(), 20, "bob's new session to be ready")

            def media_again():
                s = procs["alice"].peer_stats(mxid("bob"), old_device)
                return (s is not None and s.get("call_id") != old_call and media_ok(procs["alice"], "bob", old_device)
                        and media_ok(procs["bob2"], "alice"))
            wait_until(media_again, 40, "media between alice and bob's new session")
            replaced = [l for l in legs_ended(procs["alice"], "bob", t0) if l["call_id"] == old_call]
            print("   old leg ended: %s" % (replaced[0]["reason"] if replaced else "before the new session"))
        res.check("rejoin with a new session: the old leg is replaced and media flows again", rejoin)

        def clean_exit():
            for name in ["alice", "bob2"]:
                p = procs[name]
                p.stop(signal.SIGTERM)
                if p.proc.returncode != 0:
                    raise Failure("%s exited with %s" % (name, p.proc.returncode))
                summ = p.events("summary")
                if not summ or not summ[-1]["peers"]:
                    raise Failure("%s: no summary with peers" % name)
        res.check("SIGTERM: clean exit with a summary line", clean_exit)
    finally:
        for p in procs.values():
            p.stop(signal.SIGKILL, 2)
        hs.stop()
    return res.finish()


if __name__ == "__main__":
    sys.exit(main())
