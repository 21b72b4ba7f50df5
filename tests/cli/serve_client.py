"""Helpers for driving `cotrack live --serve` from tests and benchmarks: start the tracker, call
its HTTP API, read its streams, and drive a headless Chromium over the DevTools protocol (through
--remote-debugging-pipe, so only the Python standard library is needed)."""
import base64
import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Live:
    """A `cotrack live --serve` process; stderr goes to a log file."""

    def __init__(self, cotrack, args, log_path, host="127.0.0.1", port=None):
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.log = open(log_path, "w")
        cmd = [cotrack, "live", "--no-window", "--serve", f"{host}:{self.port}"] + args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log)
        self.token = None

    def wait_listening(self, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cotrack live exited with {self.proc.returncode}: "
                                   + open(self.log_path).read())
            text = open(self.log_path).read()
            m = re.search(r"browser view at (\S+)", text)
            if m:
                t = re.search(r"token=([0-9A-Za-z]+)", m.group(1))
                self.token = t.group(1) if t else None
                return
            time.sleep(0.1)
        raise RuntimeError("cotrack live --serve did not start listening")

    def wait_frames(self, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            code, s = request(self.base, "GET", "/api/status", token=self.token)
            if code == 200 and s["processed"] > 0:
                return
            time.sleep(0.1)
        raise RuntimeError("no frame tracked")

    def finish(self, timeout=60):
        rc = self.proc.wait(timeout=timeout)
        self.log.close()
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def request(base, method, path, body=None, token=None, raw=None, headers=None, timeout=10):
    """Returns (status, parsed JSON or bytes)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            code, payload, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        code, payload, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
    if "json" in ctype:
        return code, json.loads(payload)
    return code, payload


def read_sse(base, path, seconds, token=None):
    """The `data:` payloads of a server-sent event stream, read for `seconds`."""
    sock = socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=seconds + 5)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode())
    buf = b""
    end = time.time() + seconds
    while time.time() < end:
        sock.settimeout(max(0.05, end - time.time()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        buf += chunk
    sock.close()
    body = buf.split(b"\r\n\r\n", 1)[1].decode()
    return [line[len("data: "):] for line in body.split("\n") if line.startswith("data: ")]


class MjpegViewer(threading.Thread):
    """Reads /stream.mjpg and counts the parts and bytes it receives."""

    def __init__(self, base, token=None):
        super().__init__(daemon=True)
        self.base, self.token = base, token
        self.parts = 0
        self.bytes = 0
        self.stop = False

    def run(self):
        sock = socket.create_connection(("127.0.0.1", int(self.base.rsplit(":", 1)[1])))
        q = f"?token={self.token}" if self.token else ""
        sock.sendall(f"GET /stream.mjpg{q} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        sock.settimeout(2)
        while not self.stop:
            try:
                chunk = sock.recv(1 << 16)
            except socket.timeout:
                continue
            if not chunk:
                break
            self.bytes += len(chunk)
            self.parts += chunk.count(b"--cotrackframe\r\n")
        sock.close()


def chromium_path():
    for name in ("chromium-headless-shell", "chromium", "chromium-browser"):
        p = shutil.which(name)
        if p:
            return p
    return None


def _above_10(fd):
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Browser:
    """A headless Chromium driven over the DevTools protocol on a pipe (fds 3 and 4)."""

    def __init__(self, width=1100, height=800):
        exe = chromium_path()
        if exe is None:
            raise RuntimeError("no chromium-headless-shell or chromium on PATH "
                               "(scripts/install-deps.sh installs it)")
        self.profile = tempfile.mkdtemp(prefix="cotrack-chromium-")
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        # Above fd 10, so that placing them at 3 and 4 in the child clobbers neither.
        to_r, from_w = _above_10(to_r), _above_10(from_w)

        def child_fds():
            # The browser reads commands on fd 3 and writes answers on fd 4.
            os.dup2(to_r, 3)
            os.dup2(from_w, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        args = [exe, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--disable-extensions", f"--user-data-dir={self.profile}",
                f"--window-size={width},{height}", "about:blank"]
        self.proc = subprocess.Popen(args, pass_fds=(), preexec_fn=child_fds,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     close_fds=False)
        os.close(to_r)
        os.close(from_w)
        self.out = os.fdopen(to_w, "wb", buffering=0)
        self.inp = os.fdopen(from_r, "rb", buffering=0)
        self.next_id = 0
        self.answers = {}
        self.cv = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.session = None
        self.width, self.height = width, height

    def _read(self):
        buf = b""
        while True:
            chunk = self.inp.read(1 << 16)
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                msg, buf = buf.split(b"\0", 1)
                m = json.loads(msg)
                if "id" in m:
                    with self.cv:
                        self.answers[m["id"]] = m
                        self.cv.notify_all()

    def call(self, method, params=None, session=True, timeout=30):
        with self.cv:
            self.next_id += 1
            mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        self.out.write(json.dumps(msg).encode() + b"\0")
        with self.cv:
            if not self.cv.wait_for(lambda: mid in self.answers, timeout):
                raise RuntimeError(f"browser: no answer to {method}")
            m = self.answers.pop(mid)
        if "error" in m:
            raise RuntimeError(f"browser: {method}: {m['error']}")
        return m.get("result", {})

    def open(self, url):
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1,
                   "mobile": False})
        self.call("Page.enable")
        self.call("Page.navigate", {"url": url})

    def eval(self, expression):
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"browser: {expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            try:
                if self.eval(expression):
                    return True
            except RuntimeError:
                pass
            time.sleep(0.1)
        return False

    def click(self, x, y, button="left"):
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent",
                      {"type": kind, "x": x, "y": y, "button": button, "clickCount": 1})

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.out.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


# Page expressions: the canvas's size on screen, and a checksum of a region of its pixels.
CANVAS_RECT = ("(() => { const c = document.getElementById('view'); const r = "
               "c.getBoundingClientRect(); return {left: r.left, top: r.top, width: r.width, "
               "height: r.height, w: c.width, h: c.height}; })()")


# A checksum of the picture below the HUD band (rows 60 on): changes when the video moves, not
# when only the HUD's text does.
PICTURE_HASH = ("(() => { const c = document.getElementById('view'); const d = c.getContext('2d')"
                ".getImageData(0, 60, c.width, c.height - 60).data; let h = 0; "
                "for (let i = 0; i < d.length; i += 7) h = (h * 31 + d[i]) | 0; return h; })()")


def region_pixels(x, y, half):
    return ("(() => { const c = document.getElementById('view'); const d = c.getContext('2d')"
            f".getImageData({x - half}, {y - half}, {2 * half}, {2 * half}).data; "
            "return Array.from(d); })()")
