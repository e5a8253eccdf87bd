#!/usr/bin/python3
"""matrix-nio with end-to-end encryption (Debian python3-matrix-nio + python3-olm) on `chorus hs` (issue #13).

Two nio clients with their Olm machines: device keys and one-time keys uploaded (counts seen in /sync), keys
queried and claimed (the claimed key is gone from the owner's count), an Olm-encrypted to-device message each way
(an Olm session created from a claimed one-time key, then used in reverse), and a Megolm message in an encrypted
room decrypted by the other side, both ways.

Usage: hs_nio_e2ee.py /path/to/chorus   (exit 77 = skipped: nio or olm not installed)
"""
import asyncio
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    import nio
    import olm  # noqa: F401 - nio's crypto needs it
    from nio.crypto import ENCRYPTION_ENABLED
    from nio.events import DummyEvent
except ImportError:
    print("SKIP: python3-matrix-nio or python3-olm not installed")
    sys.exit(77)
if not ENCRYPTION_ENABLED:
    print("SKIP: nio was built without encryption support")
    sys.exit(77)

from hs_nio_client import start_hs  # noqa: E402


async def e2ee_client(url, user, store):
    os.makedirs(store, exist_ok=True)
    cfg = nio.AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False)
    c = nio.AsyncClient(url, "@%s:localhost" % user, store_path=store, config=cfg)
    r = await c.login("pw", device_name="nio-e2ee")
    assert isinstance(r, nio.LoginResponse), r
    assert c.olm is not None, "nio's Olm machine did not start"
    assert c.should_upload_keys
    r = await c.keys_upload()
    assert isinstance(r, nio.KeysUploadResponse), r
    assert r.signed_curve25519_count > 0, r
    print(user, "uploaded device keys and", r.signed_curve25519_count, "one-time keys")
    return c


async def sync_until(client, pred, rounds=20, changed=None):
    for _ in range(rounds):
        r = await client.sync(timeout=1000)
        assert isinstance(r, nio.SyncResponse), r
        if changed is not None:
            changed.update(r.device_list.changed)
        v = pred(r)
        if v:
            return v
    raise AssertionError("condition not reached for " + client.user_id)


def olm_to_device(sender, recipient_user, recipient_device_id, session):
    device = sender.device_store[recipient_user][recipient_device_id]
    content = sender.olm._olm_encrypt(session, device, "m.dummy", {})
    return nio.ToDeviceMessage("m.room.encrypted", recipient_user, recipient_device_id, content)


async def main(url, tmp):
    alice = await e2ee_client(url, "alice", os.path.join(tmp, "alice"))
    bob = await e2ee_client(url, "bob", os.path.join(tmp, "bob"))
    try:
        r = await bob.sync(timeout=0, full_state=True)
        bob_count = r.device_key_count.signed_curve25519
        assert bob_count and bob_count > 0, r.device_key_count
        await alice.sync(timeout=0, full_state=True)

        # An encrypted room with both.
        r = await alice.room_create(
            name="e2ee room", invite=[bob.user_id],
            initial_state=[{"type": "m.room.encryption", "state_key": "",
                            "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
        assert isinstance(r, nio.RoomCreateResponse), r
        room_id = r.room_id
        bob_changed = set()
        await sync_until(bob, lambda s: room_id in s.rooms.invite, changed=bob_changed)
        r = await bob.join(room_id)
        assert isinstance(r, nio.JoinResponse), r
        await sync_until(bob, lambda s: room_id in bob.rooms and bob.rooms[room_id].encrypted,
                         changed=bob_changed)
        alice_changed = set()
        await sync_until(alice, lambda s: bob.user_id in alice.rooms[room_id].users, changed=alice_changed)
        assert alice.rooms[room_id].encrypted
        assert bob.user_id in alice_changed, alice_changed  # device_lists.changed: bob now shares a room
        print("encrypted room", room_id, "device_lists.changed seen")

        # /keys/query: each sees the other's device with its identity keys.
        for me, other in ((alice, bob), (bob, alice)):
            r = await me.keys_query()
            assert isinstance(r, nio.KeysQueryResponse), r
            dev = me.device_store[other.user_id][other.device_id]
            assert dev.ed25519 == other.olm.account.identity_keys["ed25519"]
            assert dev.curve25519 == other.olm.account.identity_keys["curve25519"]
        print("keys queried")

        # /keys/claim: alice claims one of bob's one-time keys (signature checked by nio) and opens a session.
        r = await alice.keys_claim({bob.user_id: [bob.device_id]})
        assert isinstance(r, nio.KeysClaimResponse), r
        assert bob.device_id in r.one_time_keys[bob.user_id], r.one_time_keys
        bob_curve = bob.olm.account.identity_keys["curve25519"]
        session = alice.olm.session_store.get(bob_curve)
        assert session is not None, "no Olm session from the claimed key"
        r = await bob.sync(timeout=0)
        assert r.device_key_count.signed_curve25519 == bob_count - 1, (r.device_key_count, bob_count)
        print("one-time key claimed; bob's count", bob_count, "->", bob_count - 1)

        # Olm to-device, alice -> bob (a pre-key message), then bob -> alice on the session it created.
        r = await alice.to_device(olm_to_device(alice, bob.user_id, bob.device_id, session))
        assert isinstance(r, nio.ToDeviceResponse), r
        evs = await sync_until(bob, lambda s: [e for e in s.to_device_events if isinstance(e, DummyEvent)])
        assert evs[0].sender == alice.user_id, evs[0]
        print("bob decrypted alice's Olm to-device message")
        alice_curve = alice.olm.account.identity_keys["curve25519"]
        back = bob.olm.session_store.get(alice_curve)
        assert back is not None
        r = await bob.to_device(olm_to_device(bob, alice.user_id, alice.device_id, back))
        assert isinstance(r, nio.ToDeviceResponse), r
        evs = await sync_until(alice, lambda s: [e for e in s.to_device_events if isinstance(e, DummyEvent)])
        assert evs[0].sender == bob.user_id, evs[0]
        print("alice decrypted bob's Olm to-device message")

        # Megolm room messages both ways (the room key travels Olm-encrypted to-device).
        for sender, receiver, text in ((alice, bob, "secret from alice"), (bob, alice, "secret from bob")):
            r = await sender.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": text},
                                       ignore_unverified_devices=True)
            assert isinstance(r, nio.RoomSendResponse), r

            def got(s, text=text):
                room = s.rooms.join.get(room_id)
                if not room:
                    return None
                for e in room.timeline.events:
                    if isinstance(e, nio.MegolmEvent):
                        raise AssertionError("undecryptable Megolm event: %r" % e)
                    if isinstance(e, nio.RoomMessageText) and e.body == text:
                        return e
                return None
            e = await sync_until(receiver, got)
            assert e.decrypted and e.sender == sender.user_id, e
            print(receiver.user_id, "decrypted the Megolm message:", text)
    finally:
        await alice.close()
        await bob.close()


if __name__ == "__main__":
    chorus = sys.argv[1] if len(sys.argv) > 1 else "build/default/apps/chorus/chorus"
    proc, data, url = start_hs(chorus, ["alice", "bob"])
    tmp = tempfile.mkdtemp(prefix="chorus-nio-e2ee-")
    try:
        asyncio.run(asyncio.wait_for(main(url, tmp), 90))
        print("RESULT: PASS")
        code = 0
    except Exception as e:  # noqa: BLE001 - report any failure
        import traceback
        traceback.print_exc()
        print("RESULT: FAIL", repr(e))
        code = 1
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(code)
