"""Test harness for integration tests that run real `chorus` processes on loopback.

Starts `chorus hs` on 127.0.0.1 port 0, registers users, creates rooms over the client-server API, and runs
`chorus call --json` participants whose JSON lines are collected on background threads. Use it inside a private
network namespace that looks like a machine with a NIC (tests/netns/run.sh): the participants gather the
veth address as a user's machine would (no --loopback-only).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


class Failure(Exception):
    pass


def http(method, url, body=None, token=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


class Homeserver:
    def __init__(self, chorus, users, server_name="localhost", extra=()):
        self.chorus = chorus
        self.dir = tempfile.mkdtemp(prefix="chorus-it-")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.data)
        self.server_name = server_name
        for u in users:
            subprocess.run([chorus, "hs", "register", "--data", self.data, "--user", u, "--password", "pw",
                            "--server-name", server_name], check=True, stdout=subprocess.DEVNULL)
        self.log = open(os.path.join(self.dir, "hs.log"), "w+")
        self.proc = subprocess.Popen([chorus, "hs", "--listen", "127.0.0.1:0", "--data", self.data,
                                      "--server-name", server_name, "--fast-kdf", "--no-rate-limit"] + list(extra),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        self.url = None
        while time.time() < deadline and self.url is None:
            time.sleep(0.05)
            with open(self.log.name) as f:
                m = re.search(r"http://127\.0\.0\.1:(\d+)", f.read())
            if m:
                self.url = "http://127.0.0.1:" + m.group(1)
        if self.url is None:
            raise Failure("chorus hs did not report its port")

    def login(self, user):
        st, body = http("POST", self.url + "/_matrix/client/v3/login",
                        {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
                         "password": "pw"})
        if st != 200:
            raise Failure("login %s: %s %s" % (user, st, body))
        return body["access_token"]

    def create_room(self, user, alias):
        token = self.login(user)
        st, body = http("POST", self.url + "/_matrix/client/v3/createRoom",
                        {"preset": "public_chat", "room_alias_name": alias,
                         "power_level_content_override": {"events": {"org.matrix.msc3401.call.member": 0,
                                                                     "org.matrix.msc3401.call": 0}}}, token)
        if st != 200:
            raise Failure("createRoom: %s %s" % (st, body))
        return body["room_id"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if os.environ.get("CHORUS_KEEP_TEST_DIR"):
            print("kept %s (CHORUS_KEEP_TEST_DIR)" % self.dir, file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def print_err_tails(self, chars=3000):
        """Prints the end of every process log (*.err) kept in the test directory: what a failing test shows."""
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".err"):
                with open(os.path.join(self.dir, name)) as f:
                    tail = f.read()[-chars:]
                print("---- %s (tail) ----\n%s" % (name, tail))


class JsonLinesProcess:
    """A child process whose stdout is JSON lines, parsed on a background thread as they arrive."""

    def start(self, args, errlog, stdin=None):
        self.lines = []
        self.lock = threading.Lock()
        self.errlog = open(errlog, "w")
        self.proc = subprocess.Popen(args, stdin=stdin, stdout=subprocess.PIPE, stderr=self.errlog, text=True,
                                     bufsize=1)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.lines.append(obj)

    def events(self, kind=None):
        with self.lock:
            return [l for l in self.lines if kind is None or l.get("event") == kind]

    def ready(self):
        r = self.events("ready")
        return r[0] if r else None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)


class Participant(JsonLinesProcess):
    """One `chorus call --json` process; lines are parsed as they arrive."""

    def __init__(self, chorus, hs, user, room, extra=(), name=None, size=(320, 240, 15), log_level=None):
        self.user = user
        self.name = name or user
        args = [chorus] + (["--log-level", log_level] if log_level else []) + ["call", "--homeserver", hs.url, "--user", user, "--password", "pw", "--room", room,
                "--json", "--width", str(size[0]), "--height", str(size[1]), "--fps",
                str(size[2]), "--stats-interval", "0.5"] + list(extra)
        self.start(args, os.path.join(hs.dir, "%s-%d.err" % (self.name, id(self))), stdin=subprocess.PIPE)

    def latest_stats(self):
        s = self.events("stats")
        return s[-1]["peers"] if s else []

    def peer_stats(self, user_id, device_id=None):
        for p in self.latest_stats():
            if p["user_id"] == user_id and (device_id is None or p["device_id"] == device_id):
                return p
        return None

    def command(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.reader.join(5)


class Focus(JsonLinesProcess):
    """One `chorus focus --json` process on every address of the (namespace's) machine, as a user runs it."""

    def __init__(self, chorus, hs, user, extra=()):
        self.user = user
        args = [chorus, "--log-level", os.environ.get("FOCUS_LOG", "info"), "focus", "--homeserver", hs.url, "--user",
                user, "--password", "pw", "--udp-port", "0", "--json", "--stats-interval",
                "0.5"] + list(extra)
        self.start(args, os.path.join(hs.dir, "focus-%s.err" % user))

    def stats(self):
        s = self.events("stats")
        return s[-1] if s else {}


def wait_until(pred, timeout, what, poll=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(poll)
    raise Failure("timed out after %.0f s waiting for %s" % (timeout, what))


class Results:
    """Collects checks and prints a closing 'N passed, M failed' line."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, fn):
        t0 = time.time()
        try:
            fn()
            self.passed += 1
            print("PASS %s (%.1f s)" % (name, time.time() - t0), flush=True)
            return True
        except Exception as e:  # noqa: BLE001 - report and continue to the next check
            self.failed += 1
            print("FAIL %s: %s" % (name, e), flush=True)
            return False

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 0 if self.failed == 0 else 1


def finish_test(res, hs, procs, focus=None):
    """The end of an integration test: kills what still runs, shows the process logs when a check failed, stops
    the homeserver and returns the exit code."""
    for p in procs:
        if p.proc.poll() is None:
            p.stop(signal.SIGKILL, 1)
    if focus is not None and getattr(focus, "proc", None) is not None and focus.proc.poll() is None:
        focus.stop(signal.SIGKILL, 1)
    if res.failed:
        hs.print_err_tails()
    hs.stop()
    return res.finish()
