#!/usr/bin/python3
"""matrix-nio (Debian python3-matrix-nio) against `chorus hs`: login, create/join, state, message, to-device, sync.

Usage: hs_nio_client.py /path/to/chorus   (exit 77 = skipped: nio not installed)
"""
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import nio
except ImportError:
    print("SKIP: python3-matrix-nio not installed")
    sys.exit(77)


def start_hs(chorus, users):
    data = tempfile.mkdtemp(prefix="chorus-hs-nio-")
    for u in users:
        subprocess.run([chorus, "hs", "register", "--data", data, "--user", u, "--password", "pw"], check=True,
                       stdout=subprocess.DEVNULL)
    proc = subprocess.Popen([chorus, "hs", "--listen", "127.0.0.1:0", "--data", data, "--no-rate-limit"],
                            stdout=subprocess.PIPE, text=True)
    for _ in range(50):
        line = proc.stdout.readline()
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if m:
            return proc, data, m.group(1)
    proc.kill()
    raise RuntimeError("chorus hs did not start")


async def logged_in(url, user):
    c = nio.AsyncClient(url, "@%s:localhost" % user)
    r = await c.login("pw", device_name="nio-test")
    assert isinstance(r, nio.LoginResponse), r
    return c


async def sync_until(client, pred, rounds=20):
    for _ in range(rounds):
        r = await client.sync(timeout=2000)
        assert isinstance(r, nio.SyncResponse), r
        v = pred(r)
        if v:
            return v
    raise AssertionError("condition not reached")


async def main(url):
    alice = await logged_in(url, "alice")
    bob = await logged_in(url, "bob")
    try:
        await alice.sync(timeout=0, full_state=True)
        await bob.sync(timeout=0, full_state=True)
        r = await alice.room_create(name="nio room", preset=nio.RoomPreset.public_chat)
        assert isinstance(r, nio.RoomCreateResponse), r
        room_id = r.room_id
        r = await bob.join(room_id)
        assert isinstance(r, nio.JoinResponse), r
        print("room", room_id, "joined")

        r = await alice.room_put_state(room_id, "org.matrix.msc3401.call", {"m.type": "m.video", "m.intent": "m.prompt"},
                                       state_key="NIOCALL")
        assert isinstance(r, nio.RoomPutStateResponse), r
        r = await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "hello from nio"})
        assert isinstance(r, nio.RoomSendResponse), r

        def bob_sees(resp):
            room = resp.rooms.join.get(room_id)
            if not room:
                return False
            bodies = [getattr(e, "body", None) for e in room.timeline.events]
            return "hello from nio" in bodies
        await sync_until(bob, bob_sees)
        print("bob received the message")

        # nio 0.20 drops to-device types it does not know; a verification cancel parses without crypto.
        content = {"transaction_id": "nio-t1", "code": "m.user", "reason": "chorus hs test"}
        r = await bob.to_device(nio.ToDeviceMessage("m.key.verification.cancel", alice.user_id, alice.device_id, content))
        assert isinstance(r, nio.ToDeviceResponse), r

        def alice_gets(resp):
            return [e for e in resp.to_device_events if isinstance(e, nio.KeyVerificationCancel)]
        evs = await sync_until(alice, alice_gets)
        assert evs[0].transaction_id == "nio-t1" and evs[0].sender == bob.user_id, evs[0]
        print("alice received the to-device message")

        r = await alice.room_get_state_event(room_id, "org.matrix.msc3401.call", "NIOCALL")
        assert isinstance(r, nio.RoomGetStateEventResponse), r
        assert r.content["m.type"] == "m.video"
        r = await bob.room_put_state(room_id, "m.room.name", {"name": "nope"})
        assert isinstance(r, nio.RoomPutStateError) and r.status_code == "M_FORBIDDEN", r
        print("power levels enforced for nio too")
    finally:
        await alice.close()
        await bob.close()


if __name__ == "__main__":
    chorus = sys.argv[1] if len(sys.argv) > 1 else "build/default/apps/chorus/chorus"
    proc, data, url = start_hs(chorus, ["alice", "bob"])
    try:
        asyncio.run(asyncio.wait_for(main(url), 60))
        print("RESULT: PASS")
        code = 0
    except Exception as e:  # noqa: BLE001 - report any failure
        print("RESULT: FAIL", repr(e))
        code = 1
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        shutil.rmtree(data, ignore_errors=True)
    sys.exit(code)
