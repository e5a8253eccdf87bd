#!/usr/bin/env python3
"""Issue #13: `chorus focus` as an Olm device. Two `chorus call --focus` participants in a room with m.room.encryption
call through a `chorus focus` that publishes keys (--data: its account is kept, encrypted at rest):

- the focus's curve25519 key (its ready line) is the one /keys/query returns;
- alice and bob decode each other's audio and video through the focus;
- the focus decrypted their signalling (olm_decrypted > 0), received no plaintext call signalling in the encrypted
  room (plaintext_in_encrypted_room = 0) and answered over Olm (olm_encrypted_sent > 0); the participants sent the
  focus nothing in plaintext (plaintext_sent_in_encrypted_room = 0) and received nothing in plaintext;
- malformed m.room.encrypted from a hostile member are counted (olm_failures) and the focus carries on;
- the focus restarts with the same --data: same curve25519 key published, and two new participants call through it,
  again all over Olm (their pre-key messages use one-time keys the first run uploaded);
- a focus with --no-e2ee (another device, which never published keys) reports no key, and two participants call
  through it in plaintext, counted on both sides (plaintext_sent_in_encrypted_room, plaintext_in_encrypted_room).
Run inside a private network namespace (tests/netns/run.sh).
"""
import json
import os
import sys
import tempfile
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from chorus_harness import Failure, Focus, Homeserver, Participant, Results, finish_test, http, wait_until  # noqa: E402

CHORUS = sys.argv[1]
FOCUS = "@focus:localhost"
FOCUS_DEVICE = "CHORUSFOCUS"
OLM = "m.olm.v1.curve25519-aes-sha2"
SIZE = (160, 120, 10)


def mxid(u):
    return "@%s:localhost" % u


def media_ok(p, peer_user):
    s = p.peer_stats(mxid(peer_user))
    return s is not None and s.get("audio_frames_decoded", 0) > 0 and s.get("video_frames_decoded", 0) >= 10


def published_curve(hs, token):
    st, keys = http("POST", hs.url + "/_matrix/client/v3/keys/query", {"device_keys": {FOCUS: []}}, token)
    if st != 200:
        raise Failure("/keys/query: %s %s" % (st, keys))
    dev = keys.get("device_keys", {}).get(FOCUS, {}).get(FOCUS_DEVICE)
    return dev["keys"].get("curve25519:" + FOCUS_DEVICE) if dev else None


def e2ee_counters(d):
    return {k: d.get(k) for k in ("e2ee", "olm_decrypted", "olm_encrypted_sent", "olm_failures",
                                  "olm_sessions_created", "plaintext_in_encrypted_room",
                                  "plaintext_sent_in_encrypted_room")}


def main():
    res = Results()
    hs = Homeserver(CHORUS, ["focus", "alice", "bob", "carol", "dave", "erin", "frank", "mallory"])
    procs = {}
    focus = None
    focus_data = tempfile.mkdtemp(prefix="chorus-focus-olm-", dir=hs.dir)
    first_curve = [None]
    try:
        room_id = hs.create_room("alice", "secretfocus")
        room = "#secretfocus:localhost"
        token = hs.login("alice")
        st, body = http("PUT", hs.url + "/_matrix/client/v3/rooms/%s/state/m.room.encryption/"
                        % urllib.parse.quote(room_id), {"algorithm": "m.megolm.v1.aes-sha2"}, token)
        if st != 200:
            raise Failure("m.room.encryption: %s %s" % (st, body))
        st, body = http("POST", hs.url + "/_matrix/client/v3/rooms/%s/invite" % urllib.parse.quote(room_id),
                        {"user_id": FOCUS}, token)
        if st != 200:
            raise Failure("invite focus: %s %s" % (st, body))
        mallory = hs.login("mallory")
        st, body = http("POST", hs.url + "/_matrix/client/v3/join/%s" % urllib.parse.quote(room_id), {}, mallory)
        if st != 200:
            raise Failure("mallory join: %s %s" % (st, body))
        focus_args = ["--allow-server", "localhost", "--data", focus_data]

        def start_focus():
            f = Focus(CHORUS, hs, "focus", focus_args)
            wait_until(lambda: f.ready(), 15, "the focus to log in and upload its keys")
            return f

        def focus_keys():
            nonlocal focus
            focus = start_focus()
            ready = focus.ready()
            curve = ready.get("curve25519")
            published = published_curve(hs, token)
            print("   focus ready: curve25519 %s, published %s" % (curve, published))
            if not curve or published != curve:
                raise Failure("the focus's key is not the published one")
            first_curve[0] = curve
            mode = os.stat(os.path.join(focus_data, "olm.key")).st_mode & 0o777
            states = [n for n in os.listdir(focus_data) if n.endswith(".state")]
            if mode != 0o600 or len(states) != 1:
                raise Failure("expected olm.key 0600 and one state file: %s (%o)" % (os.listdir(focus_data), mode))
            with open(os.path.join(focus_data, states[0]), "rb") as fh:
                blob = fh.read()
                if b"curve25519" in blob or curve.encode() in blob or b"@focus" in blob:
                    raise Failure("the focus's Olm state is readable on disk")

            def joined():
                st, body = http("GET", hs.url + "/_matrix/client/v3/rooms/%s/state/m.room.member/%s"
                                % (urllib.parse.quote(room_id), urllib.parse.quote(FOCUS)), None, token)
                return st == 200 and body.get("membership") == "join"
            wait_until(joined, 15, "the focus to accept the room invite")
        if not res.check("the focus publishes Olm keys (its ready line's curve25519 key) and joins", focus_keys):
            return res.finish()

        def call(a, b, create):
            procs[a] = Participant(CHORUS, hs, a, room, ["--focus", FOCUS] + (["--create"] if create else []),
                                   size=SIZE)
            wait_until(lambda: procs[a].ready(), 20, "%s ready" % a)
            procs[b] = Participant(CHORUS, hs, b, room, ["--focus", FOCUS], size=SIZE)
            try:
                wait_until(lambda: media_ok(procs[a], b) and media_ok(procs[b], a), 90,
                           "%s and %s to decode each other through the focus" % (a, b), poll=0.5)
            finally:
                for x, y in ((a, b), (b, a)):
                    s = procs[x].peer_stats(mxid(y)) or {}
                    print("   %s <- %s: audio %d, video %d frames" % (x, y, s.get("audio_frames_decoded", 0),
                                                                     s.get("video_frames_decoded", 0)))

        def focus_olm_ok(f):
            s = f.stats()
            print("   focus: %s" % json.dumps(e2ee_counters(s)))
            if not (s.get("e2ee") and s.get("olm_decrypted", 0) > 0 and s.get("olm_encrypted_sent", 0) > 0
                    and s.get("plaintext_in_encrypted_room") == 0):
                raise Failure("the focus did not do its signalling over Olm: %s" % e2ee_counters(s))

        def participants_olm_ok(users):
            for u in users:
                procs[u].stop()
                if procs[u].proc.returncode != 0:
                    raise Failure("%s exited with %s" % (u, procs[u].proc.returncode))
                s = procs[u].events("summary")
                if not s:
                    raise Failure("%s printed no summary" % u)
                sig = s[-1]["signalling"]
                print("   %s: %s" % (u, json.dumps({k: sig.get(k) for k in (
                    "room_encrypted", "olm_encrypted_sent", "olm_decrypted", "olm_failures",
                    "plaintext_sent_in_encrypted_room", "plaintext_in_encrypted_room")})))
                if not (sig.get("room_encrypted") and sig["olm_encrypted_sent"] > 0 and sig["olm_decrypted"] > 0
                        and sig["plaintext_sent_in_encrypted_room"] == 0 and sig["plaintext_in_encrypted_room"] == 0
                        and sig["olm_failures"] == 0):
                    raise Failure("%s's signalling with the focus was not all Olm: %s" % (u, sig))

        if not res.check("alice and bob decode each other through the focus in an encrypted room",
                         lambda: call("alice", "bob", True)):
            return res.finish()
        res.check("the focus decrypted their signalling and answered over Olm, no plaintext",
                  lambda: focus_olm_ok(focus))

        def hostile():
            curve = first_curve[0]
            before = focus.stats().get("olm_failures", 0)
            bad = [
                {"algorithm": OLM, "sender_key": "A" * 43, "ciphertext": {curve: {"type": 1, "body": "!!!"}}},
                {"algorithm": OLM, "sender_key": "A" * 43, "ciphertext": {curve: {"type": 0, "body": "AwogAAAA" * 40}}},
                {"algorithm": OLM, "sender_key": "A" * 43, "ciphertext": {"B" * 43: {"type": 0, "body": "x"}}},
                {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "junk"},
                {"algorithm": OLM, "sender_key": 5, "ciphertext": {curve: {"type": 7, "body": 5}}},
                {"algorithm": OLM, "sender_key": "A" * 43, "ciphertext": []},
            ]
            for i, content in enumerate(bad):
                st, body = http("PUT", hs.url + "/_matrix/client/v3/sendToDevice/m.room.encrypted/fhostile%d" % i,
                                {"messages": {FOCUS: {FOCUS_DEVICE: content}}}, mallory)
                if st != 200:
                    raise Failure("sendToDevice: %s %s" % (st, body))
            wait_until(lambda: focus.stats().get("olm_failures", 0) >= before + len(bad), 10,
                       "the focus to count %d refused ciphertexts" % len(bad))
            before_v = procs["alice"].peer_stats(mxid("bob"))["video_frames_decoded"]
            wait_until(lambda: procs["alice"].peer_stats(mxid("bob"))["video_frames_decoded"] > before_v + 10, 10,
                       "media to keep flowing")
            print("   olm_failures %d -> %d, call unharmed" % (before, focus.stats()["olm_failures"]))
        res.check("malformed m.room.encrypted to the focus are counted and dropped; the call goes on", hostile)

        res.check("alice's and bob's signalling with the focus went over Olm both ways",
                  lambda: participants_olm_ok(["alice", "bob"]))

        def restart():
            nonlocal focus
            focus.stop()
            if focus.proc.returncode != 0:
                raise Failure("focus exited with %s" % focus.proc.returncode)
            summary = focus.events("summary")
            if not summary:
                raise Failure("the focus printed no summary")
            print("   first run summary: %s" % json.dumps(e2ee_counters(summary[-1])))
            focus = start_focus()
            curve = focus.ready().get("curve25519")
            published = published_curve(hs, token)
            print("   restarted: curve25519 %s (first run %s), published %s" % (curve, first_curve[0], published))
            if curve != first_curve[0] or published != curve:
                raise Failure("the restarted focus has other identity keys")
            call("carol", "dave", True)
            focus_olm_ok(focus)
            participants_olm_ok(["carol", "dave"])
        res.check("the focus restarts with the same --data: same identity key, new participants call over Olm",
                  restart)

        def clean_exit():
            focus.stop()
            if focus.proc.returncode != 0:
                raise Failure("focus exited with %s" % focus.proc.returncode)
        res.check("SIGTERM: the focus exits 0", clean_exit)

        def no_e2ee():
            # A focus device that never had keys (a device that once published keys keeps them on the homeserver).
            nonlocal focus
            focus = Focus(CHORUS, hs, "focus", ["--allow-server", "localhost", "--no-e2ee", "--device-id", "PLAIN"])
            wait_until(lambda: focus.ready(), 15, "the --no-e2ee focus to log in")
            if focus.ready().get("curve25519") is not None:
                raise Failure("a --no-e2ee focus reported a key: %s" % focus.ready())
            args = ["--focus", FOCUS, "--focus-device", "PLAIN"]
            procs["erin"] = Participant(CHORUS, hs, "erin", room, args + ["--create"], size=SIZE)
            wait_until(lambda: procs["erin"].ready(), 20, "erin ready")
            procs["frank"] = Participant(CHORUS, hs, "frank", room, args, size=SIZE)
            wait_until(lambda: media_ok(procs["erin"], "frank") and media_ok(procs["frank"], "erin"), 90,
                       "erin and frank to decode each other through the --no-e2ee focus", poll=0.5)
            s = focus.stats()
            print("   focus: %s" % json.dumps(e2ee_counters(s)))
            if s.get("e2ee") or s.get("olm_decrypted") or s.get("plaintext_in_encrypted_room", 0) == 0:
                raise Failure("expected plaintext signalling counted in the encrypted room: %s" % e2ee_counters(s))
            for u in ("erin", "frank"):
                procs[u].stop()
                sig = procs[u].events("summary")[-1]["signalling"]
                print("   %s: plaintext_sent_in_encrypted_room %s, olm_encrypted_sent %s"
                      % (u, sig["plaintext_sent_in_encrypted_room"], sig["olm_encrypted_sent"]))
                if sig["plaintext_sent_in_encrypted_room"] == 0 or sig["olm_encrypted_sent"] != 0:
                    raise Failure("%s should have sent the keyless focus plaintext: %s" % (u, sig))
            focus.stop()
            if focus.proc.returncode != 0:
                raise Failure("focus exited with %s" % focus.proc.returncode)
        res.check("a --no-e2ee focus publishes no keys: participants call through it in plaintext (counted)",
                  no_e2ee)
    except Failure as e:
        print("FAIL setup: %s" % e)
        res.failed += 1
    finally:
        code = finish_test(res, hs, procs.values(), focus)
    return code


if __name__ == "__main__":
    sys.exit(main())
