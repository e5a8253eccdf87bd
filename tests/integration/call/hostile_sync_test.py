#!/usr/bin/env python3
"""Issue #10: one event with invalid UTF-8 must not stall a client's /sync loop.

A proxy on 127.0.0.1 (port 0) in front of `chorus hs` adds to every /sync reply a room event whose type, state key
and content are ill-formed UTF-8 (bytes 0xFF 0xFE, an overlong 0xC0 0xAF, a UTF-16 surrogate 0xED 0xA0 0x80), and
a to-device message with such a sender, exactly as a homeserver that stored a hostile client's bytes raw would.
alice syncs through the proxy, bob directly. Before the fix alice rejected every reply as "not JSON", retried the
same `since` forever and never entered the call. Now both connect with media both ways and alice counts the
replaced sequences (`sync_invalid_utf8` in her summary). Run inside a private network namespace.
"""
import http.client
import json
import os
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from chorus_harness import Homeserver, Participant, Results, wait_until  # noqa: E402

CHORUS = sys.argv[1]
BAD_TYPE = b"\xff\xfe"
BAD_KEY = b"@mallory:localhost_\xc0\xaf"
BAD_BODY = b"a\xed\xa0\x80b"


def poison(body):
    """Adds the hostile events to a /sync reply (valid JSON in, invalid UTF-8 out)."""
    reply = json.loads(body)
    ev = {"type": "POISONTYPE", "state_key": "POISONKEY", "sender": "@mallory:localhost",
          "event_id": "$poison", "origin_server_ts": 1, "content": {"body": "POISONBODY"}}
    for room in reply.get("rooms", {}).get("join", {}).values():
        room.setdefault("timeline", {}).setdefault("events", []).append(ev)
    reply.setdefault("to_device", {}).setdefault("events", []).append(
        {"type": "m.call.invite", "sender": "@mallory:localhostPOISONTYPE", "content": {"x": "POISONBODY"}})
    out = json.dumps(reply).encode()
    return out.replace(b"POISONTYPE", BAD_TYPE).replace(b"POISONKEY", BAD_KEY).replace(b"POISONBODY", BAD_BODY)


class Proxy:
    def __init__(self, upstream):
        target = urllib.parse.urlparse(upstream)
        self.poisoned = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status == 200 and self.path.startswith("/_matrix/client/v3/sync"):
                    data = poison(data)
                    proxy.poisoned += 1
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


class Via:
    """The homeserver as one participant sees it (through the proxy)."""

    def __init__(self, hs, url):
        self.url = url
        self.dir = hs.dir


def main():
    res = Results()
    hs = Homeserver(CHORUS, ["alice", "bob"])
    proxy = Proxy(hs.url)
    procs = {}
    try:
        hs.create_room("alice", "poisoned")
        room = "#poisoned:localhost"
        procs["alice"] = Participant(CHORUS, Via(hs, proxy.url), "alice", room, ["--create"])

        def alice_enters():
            wait_until(lambda: procs["alice"].ready(), 30, "alice (syncing through the poisoning proxy) ready")
            print("   %d poisoned /sync replies so far" % proxy.poisoned)
        if not res.check("a client whose /sync replies carry invalid UTF-8 still enters the call", alice_enters):
            return res.finish()
        procs["bob"] = Participant(CHORUS, hs, "bob", room)

        def connected():
            def both():
                a = procs["alice"].peer_stats("@bob:localhost")
                b = procs["bob"].peer_stats("@alice:localhost")
                return (a and b and a.get("state") == "connected" and b.get("state") == "connected"
                        and a["video_frames_decoded"] > 0 and b["video_frames_decoded"] > 0)
            wait_until(both, 60, "alice and bob to connect and decode video both ways")
        res.check("the call proceeds: media both ways", connected)

        def counted():
            procs["alice"].stop()
            s = procs["alice"].events("summary")
            if not s:
                raise AssertionError("alice printed no summary")
            sig = s[-1]["signalling"]
            print("   alice: sync_invalid_utf8 %s, sync_events_skipped %s" % (sig.get("sync_invalid_utf8"),
                                                                           sig.get("sync_events_skipped")))
            if not sig.get("sync_invalid_utf8"):
                raise AssertionError("sync_invalid_utf8 is not counted: %s" % sig)
        res.check("alice counts the replaced sequences in her summary", counted)
    finally:
        for p in procs.values():
            p.stop()
        proxy.stop()
        hs.stop()
    return res.finish()


if __name__ == "__main__":
    sys.exit(main())
