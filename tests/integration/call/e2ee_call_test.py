#!/usr/bin/env python3
"""Issue #13: two `chorus call` in a room with m.room.encryption on `chorus hs`, call signalling over Olm.

alice and bob (fixed device ids, each with its own --data directory for the Olm state) call each other; every
m.call.* goes as m.room.encrypted (olm.v1), so neither receives plaintext call signalling
(plaintext_in_encrypted_room = 0) and both encrypt and decrypt. A hostile member (mallory, in the room) sends
alice malformed m.room.encrypted to-device messages (bad base64, a pre-key message that is garbage, one for a
key that is not hers, a wrong algorithm): alice counts them (olm_failures) and the call goes on. Then bob
restarts with the same device and data directory: his Olm state is read back (no new session is needed with
alice: olm_sessions_created = 0 in his second run) and the call reconnects with media both ways, still all Olm.
Run inside a private network namespace (tests/netns/run.sh).
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from chorus_harness import Homeserver, Participant, Results, http, wait_until  # noqa: E402

CHORUS = sys.argv[1]
OLM = "m.olm.v1.curve25519-aes-sha2"


def media_both_ways(a, b, a_id, b_id, timeout=60):
    def both():
        x = a.peer_stats(b_id)
        y = b.peer_stats(a_id)
        return (x and y and x.get("state") == "connected" and y.get("state") == "connected"
                and x["video_frames_decoded"] > 0 and y["video_frames_decoded"] > 0
                and x.get("audio_packets_received", 1) > 0 and y.get("audio_packets_received", 1) > 0)
    wait_until(both, timeout, "media both ways")


def summary(p):
    p.stop()
    s = p.events("summary")
    if not s:
        raise AssertionError("%s printed no summary" % p.name)
    return s[-1]["signalling"]


def main():
    res = Results()
    hs = Homeserver(CHORUS, ["alice", "bob", "mallory", "carol", "dave"])
    procs = {}
    data = {u: tempfile.mkdtemp(prefix="chorus-olm-%s-" % u, dir=hs.dir) for u in ("alice", "bob")}
    try:
        room_id = hs.create_room("alice", "secret")
        room = "#secret:localhost"
        alice_token = hs.login("alice")
        st, body = http("PUT", hs.url + "/_matrix/client/v3/rooms/%s/state/m.room.encryption/" % room_id,
                        {"algorithm": "m.megolm.v1.aes-sha2"}, alice_token)
        assert st == 200, (st, body)
        mallory = hs.login("mallory")
        st, body = http("POST", hs.url + "/_matrix/client/v3/join/%s" % room_id, {}, mallory)
        assert st == 200, (st, body)

        def olm_args(user):
            return ["--create", "--device-id", user.upper() + "DEV", "--data", data[user]]
        procs["alice"] = Participant(CHORUS, hs, "alice", room, olm_args("alice"))
        procs["bob"] = Participant(CHORUS, hs, "bob", room, olm_args("bob"), name="bob1")

        def connected():
            media_both_ways(procs["alice"], procs["bob"], "@alice:localhost", "@bob:localhost")
        if not res.check("alice and bob connect in an encrypted room: media both ways", connected):
            return res.finish()

        def state_files():
            for u, d in data.items():
                names = sorted(os.listdir(d))
                key = os.path.join(d, "olm.key")
                mode = os.stat(key).st_mode & 0o777
                states = [n for n in names if n.endswith(".state")]
                print("   %s: %s (olm.key mode %o)" % (u, names, mode))
                if mode != 0o600 or len(states) != 1:
                    raise AssertionError("%s: expected olm.key 0600 and one state file: %s" % (u, names))
                with open(os.path.join(d, states[0]), "rb") as f:
                    blob = f.read()
                if b"@alice" in blob or b"@bob" in blob or b"curve25519" in blob:
                    raise AssertionError("the Olm state of %s is readable on disk" % u)
        res.check("each participant keeps its Olm state encrypted at rest (olm.key 0600)", state_files)

        hostile_sent = [0]

        def hostile():
            st, keys = http("POST", hs.url + "/_matrix/client/v3/keys/query",
                            {"device_keys": {"@alice:localhost": []}}, mallory)
            assert st == 200, (st, keys)
            curve = keys["device_keys"]["@alice:localhost"]["ALICEDEV"]["keys"]["curve25519:ALICEDEV"]
            sender_key = "A" * 43
            bad = [
                {"algorithm": OLM, "sender_key": sender_key, "ciphertext": {curve: {"type": 1, "body": "!!!"}}},
                {"algorithm": OLM, "sender_key": sender_key,
                 "ciphertext": {curve: {"type": 0, "body": "AwogAAAA" * 40}}},
                {"algorithm": OLM, "sender_key": sender_key, "ciphertext": {"B" * 43: {"type": 0, "body": "x"}}},
                {"algorithm": "m.megolm.v1.aes-sha2", "sender_key": sender_key, "ciphertext": "junk"},
                {"algorithm": OLM, "sender_key": sender_key, "ciphertext": {curve: {"type": 7, "body": 5}}},
            ]
            for i, content in enumerate(bad):
                st, body = http("PUT", hs.url + "/_matrix/client/v3/sendToDevice/m.room.encrypted/hostile%d" % i,
                                {"messages": {"@alice:localhost": {"ALICEDEV": content}}}, mallory)
                assert st == 200, (st, body)
                hostile_sent[0] += 1
        res.check("a hostile member sends alice malformed m.room.encrypted", hostile)

        def restart_bob():
            sig = summary(procs["bob"])
            print("   bob (first run): olm_encrypted_sent %s, olm_decrypted %s, olm_failures %s, "
                  "plaintext_in_encrypted_room %s, sessions %s" % (
                      sig.get("olm_encrypted_sent"), sig.get("olm_decrypted"), sig.get("olm_failures"),
                      sig.get("plaintext_in_encrypted_room"), sig.get("olm_sessions_created")))
            if not (sig.get("room_encrypted") and sig["olm_encrypted_sent"] > 0 and sig["olm_decrypted"] > 0
                    and sig["plaintext_in_encrypted_room"] == 0 and sig["olm_failures"] == 0):
                raise AssertionError("bob's first run: %s" % sig)
            procs["bob"] = Participant(CHORUS, hs, "bob", room, olm_args("bob"), name="bob2")
            media_both_ways(procs["alice"], procs["bob"], "@alice:localhost", "@bob:localhost")
        res.check("bob restarts with the same device and data: the call reconnects with media both ways",
                  restart_bob)

        def counters():
            bob = summary(procs["bob"])
            alice = summary(procs["alice"])
            for who, sig in (("alice", alice), ("bob (second run)", bob)):
                print("   %s: olm_encrypted_sent %s, olm_decrypted %s, olm_failures %s, "
                      "plaintext_in_encrypted_room %s, plaintext_sent %s, sessions %s" % (
                          who, sig.get("olm_encrypted_sent"), sig.get("olm_decrypted"), sig.get("olm_failures"),
                          sig.get("plaintext_in_encrypted_room"), sig.get("plaintext_sent_in_encrypted_room"),
                          sig.get("olm_sessions_created")))
            for who, sig in (("alice", alice), ("bob", bob)):
                if not (sig["olm_encrypted_sent"] > 0 and sig["olm_decrypted"] > 0
                        and sig["plaintext_in_encrypted_room"] == 0
                        and sig["plaintext_sent_in_encrypted_room"] == 0):
                    raise AssertionError("%s did not use Olm for everything: %s" % (who, sig))
            if bob["olm_sessions_created"] != 0:
                raise AssertionError("bob's sessions did not survive the restart: %s" % bob)
            if alice["olm_failures"] < hostile_sent[0]:
                raise AssertionError("alice counted %s failures for %d hostile messages" % (
                    alice["olm_failures"], hostile_sent[0]))
        res.check("all call signalling went over Olm; hostile ciphertexts counted; bob reused his sessions",
                  counters)

        def without_e2ee():
            # dave runs with --no-e2ee (no keys): carol, with E2EE, falls back to plaintext for him, and both
            # still get media; the fallback is counted on both sides of carol's summary.
            procs["carol"] = Participant(CHORUS, hs, "carol", room, ["--create"])
            procs["dave"] = Participant(CHORUS, hs, "dave", room, ["--no-e2ee"])
            media_both_ways(procs["carol"], procs["dave"], "@carol:localhost", "@dave:localhost")
            carol = summary(procs["carol"])
            dave = summary(procs["dave"])
            print("   carol: plaintext_sent %s, plaintext_in %s, olm_encrypted_sent %s; dave: olm_decrypted %s" % (
                carol.get("plaintext_sent_in_encrypted_room"), carol.get("plaintext_in_encrypted_room"),
                carol.get("olm_encrypted_sent"), dave.get("olm_decrypted")))
            if not (carol["plaintext_sent_in_encrypted_room"] > 0 and carol["plaintext_in_encrypted_room"] > 0
                    and carol["olm_encrypted_sent"] == 0 and dave["olm_decrypted"] == 0
                    and dave["olm_encrypted_sent"] == 0):
                raise AssertionError("carol %s / dave %s" % (carol, dave))
        res.check("--no-e2ee: a participant without keys still calls in plaintext, counted by the other side",
                  without_e2ee)
    finally:
        for p in procs.values():
            p.stop()
        hs.stop()
    return res.finish()


if __name__ == "__main__":
    sys.exit(main())
