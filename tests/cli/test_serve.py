#!/usr/bin/env python3
"""End-to-end test of `cotrack live --serve` against the real program on the synth source:
the JSON API (add, list, delete, reset, stream, refusals), 50 clients polling while tracking
keeps its rate, the token rule for non-loopback addresses, and the page in a headless Chromium
(it loads, shows moving video, a click adds a point that the API lists and the picture shows).

Usage: test_serve.py COTRACK [OUT_DIR]   (OUT_DIR keeps the logs and the page's screenshot)
"""
import json
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_client import (CANVAS_RECT, PICTURE_HASH, Browser, Live, read_sse,  # noqa: E402
                          region_pixels, request)

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def status(live):
    code, s = request(live.base, "GET", "/api/status", token=live.token)
    assert code == 200, s
    return s


def tracks(live):
    code, t = request(live.base, "GET", "/api/tracks", token=live.token)
    assert code == 200, t
    return t


def api_checks(live):
    base = live.base
    # A point: its id is listed within a second, and its coordinates move with the scene.
    code, r = request(base, "POST", "/api/points", {"x": 320, "y": 240})
    check(code == 201 and isinstance(r.get("id"), int), f"POST /api/points -> 201 with an id ({code} {r})")
    pid = r.get("id")
    t0 = time.time()
    listed = False
    while time.time() - t0 < 1.0 and not listed:
        listed = any(p["id"] == pid for p in tracks(live)["tracks"])
        time.sleep(0.05)
    check(listed, "GET /api/tracks lists the new point within 1 s")
    code, g = request(base, "POST", "/api/grid", {"n": 4})
    check(code == 200 and g == {"grid": 4}, f"POST /api/grid -> 200 ({code} {g})")
    time.sleep(0.3)
    first = {p["id"]: (p["x"], p["y"]) for p in tracks(live)["tracks"]}
    time.sleep(1.0)
    later = tracks(live)
    moved = [p["id"] for p in later["tracks"]
             if p["id"] in first and abs(p["x"] - first[p["id"]][0]) + abs(p["y"] - first[p["id"]][1]) > 1.0]
    check(len(first) == 17 and len(moved) >= 3,
          f"17 points listed, coordinates move over 1 s ({len(moved)} moved > 1 px)")
    check(set(later["tracks"][0].keys()) >= {"id", "x", "y", "visible", "confidence"},
          "tracks carry id, x, y, visible, confidence")

    # A point on an explicit source frame (the newest listed one), and on a frame not held.
    frame = later["frame"]
    code, r = request(base, "POST", "/api/points", {"x": 100.5, "y": 50.25, "frame": frame})
    check(code == 201, f"POST /api/points on frame {frame} -> 201 ({code} {r})")
    code, r = request(base, "POST", "/api/points", {"x": 100, "y": 50, "frame": 0})
    check(code == 409 and "frame 0" in r.get("error", ""), f"a frame no longer held -> 409 ({code} {r})")

    # The rows of /api/stream: consecutive final frames, as tracks.jsonl writes them.
    rows = [json.loads(x) for x in read_sse(base, "/api/stream", 1.5)]
    frames = [row["frame"] for row in rows]
    check(len(rows) >= 20 and frames == list(range(frames[0], frames[0] + len(frames))),
          f"/api/stream: {len(rows)} rows of consecutive frames in 1.5 s")
    check(all(len(row["points"]) == 18 for row in rows) and
          set(rows[-1]["points"][0].keys()) == {"id", "x", "y", "visible", "confidence"},
          "/api/stream rows hold every point with the tracks.jsonl fields")

    # Delete one point, then all.
    code, r = request(base, "DELETE", f"/api/points/{pid}")
    check(code == 200 and r == {"removed": pid}, f"DELETE /api/points/{pid} -> 200 ({code} {r})")
    check(all(p["id"] != pid for p in tracks(live)["tracks"]), "the deleted point is gone")
    code, r = request(base, "DELETE", f"/api/points/{pid}")
    check(code == 404, f"deleting it again -> 404 ({code} {r})")
    code, r = request(base, "POST", "/api/reset")
    check(code == 200 and tracks(live)["tracks"] == [], f"POST /api/reset -> 200, no points ({code})")

    # Bad requests: one clear message each, and tracking goes on.
    before = status(live)["processed"]
    bad = [
        ("POST", "/api/points", None, b'{"x": 1,', 400, "malformed JSON"),
        ("POST", "/api/points", {"x": 1}, None, 400, "missing y"),
        ("POST", "/api/points", {"x": "a", "y": 2}, None, 400, "x not a number"),
        ("POST", "/api/points", {"x": 5000, "y": 10}, None, 422, "a point outside the image"),
        ("POST", "/api/points", {"x": 5, "y": 10, "frame": -3}, None, 400, "a negative frame"),
        ("POST", "/api/points", None, b"[" * 40000, 413, "an oversized body"),
        ("DELETE", "/api/points/x1", None, None, 400, "a bad id"),
        ("DELETE", "/api/points/123456", None, None, 404, "an unknown id"),
        ("GET", "/api/nothing", None, None, 404, "an unknown path"),
        ("PUT", "/api/status", None, b"", 405, "a wrong method"),
        ("POST", "/api/grid", {"n": 0}, None, 400, "a grid of 0"),
        ("POST", "/api/pause", {"paused": "yes"}, None, 400, "pause with a string"),
    ]
    for method, path, body, raw, want, what in bad:
        code, r = request(base, method, path, body, raw=raw)
        check(code == want and isinstance(r, dict) and r.get("error"),
              f"{what} -> {want} with a message ({code} {r})")
    time.sleep(0.5)
    check(status(live)["processed"] > before, "tracking goes on after the bad requests")

    # Pause and resume.
    code, r = request(base, "POST", "/api/pause", {"paused": True})
    check(code == 200 and r == {"paused": True} and status(live)["paused"], "POST /api/pause pauses")
    code, r = request(base, "POST", "/api/pause", {"paused": False})
    check(code == 200 and r == {"paused": False}, "POST /api/pause {paused: false} resumes")


def polling_checks(live):
    """50 clients poll /api/tracks and /api/status; tracking keeps its rate."""
    request(live.base, "POST", "/api/grid", {"n": 4})
    time.sleep(1)
    s0, t0 = status(live)["processed"], time.time()
    time.sleep(4)
    s1, t1 = status(live)["processed"], time.time()
    quiet_rate = (s1 - s0) / (t1 - t0)
    stop = threading.Event()
    results = {"ok": 0, "bad": 0}
    lock = threading.Lock()

    def poll(i):
        path = "/api/tracks" if i % 2 == 0 else "/api/status"
        while not stop.is_set():
            try:
                code, _ = request(live.base, "GET", path)
            except OSError:
                code = 0
            with lock:
                results["ok" if code == 200 else "bad"] += 1
            time.sleep(0.1)

    threads = [threading.Thread(target=poll, args=(i,), daemon=True) for i in range(50)]
    for t in threads:
        t.start()
    time.sleep(1)
    s2, t2 = status(live)["processed"], time.time()
    time.sleep(4)
    s3, t3 = status(live)["processed"], time.time()
    stop.set()
    for t in threads:
        t.join()
    busy_rate = (s3 - s2) / (t3 - t2)
    print(f"     tracking rate: {quiet_rate:.1f} fps alone, {busy_rate:.1f} fps with 50 polling "
          f"clients ({results['ok']} answers)", flush=True)
    check(results["bad"] == 0 and results["ok"] > 500,
          f"50 polling clients: {results['ok']} answers, {results['bad']} failures")
    check(busy_rate >= 0.9 * quiet_rate, "the tracking rate holds with 50 polling clients")
    request(live.base, "POST", "/api/reset")


def browser_checks(live, out_dir):
    browser = Browser()
    try:
        browser.open(live.base + "/")
        check(browser.wait_for("window.cotrackView && window.cotrackView.frames >= 10", 30),
              "the page loads and draws video frames")
        # The picture changes as frames arrive (polled: a loaded machine may stall the page).
        before = browser.eval("window.cotrackView.frame")
        h1 = browser.eval(PICTURE_HASH)
        moved, end = False, time.time() + 5
        while not moved and time.time() < end:
            time.sleep(0.25)
            moved = browser.eval(PICTURE_HASH) != h1
        after = browser.eval("window.cotrackView.frame")
        check(after > before and moved, f"the video moves (frames {before} -> {after})")
        request(live.base, "POST", "/api/grid", {"n": 5})
        time.sleep(2.0)
        browser.screenshot(os.path.join(out_dir, "serve-page.png"))
        request(live.base, "POST", "/api/reset")

        # Paused, the picture only changes where something is drawn: a click at (200, 300) must
        # add a point that the API lists and that appears there, and nowhere else.
        request(live.base, "POST", "/api/pause", {"paused": True})
        time.sleep(0.8)
        rect = browser.eval(CANVAS_RECT)
        x, y = 200, 300
        near0 = browser.eval(region_pixels(x, y, 12))
        far0 = browser.eval(region_pixels(520, 400, 12))
        cx = rect["left"] + (x + 0.5) * rect["width"] / rect["w"]
        cy = rect["top"] + (y + 0.5) * rect["height"] / rect["h"]
        browser.click(cx, cy)
        end = time.time() + 3
        found = []
        while time.time() < end and not found:
            found = [p for p in tracks(live)["tracks"] if abs(p["x"] - x) < 2 and abs(p["y"] - y) < 2]
            time.sleep(0.1)
        check(len(found) == 1, f"a click on the page adds a point at ({x}, {y}): {found}")
        time.sleep(1.0)
        near1 = browser.eval(region_pixels(x, y, 12))
        far1 = browser.eval(region_pixels(520, 400, 12))
        changed = sum(1 for a, b in zip(near0, near1) if abs(a - b) > 40)
        check(changed > 20 and far0 == far1,
              f"the new point is drawn where it was clicked ({changed} values changed there, "
              f"{'none' if far0 == far1 else 'some'} elsewhere)")
        # A right-click removes the nearest point.
        browser.click(cx + 3, cy + 3, button="right")
        end = time.time() + 3
        while time.time() < end and tracks(live)["tracks"]:
            time.sleep(0.1)
        check(tracks(live)["tracks"] == [], "a right-click removes the nearest point")
        request(live.base, "POST", "/api/pause", {"paused": False})
        delays = browser.eval("window.cotrackView.delays")
        if delays:
            delays.sort()
            print(f"     browser delay (arrival in the tracker to drawn on the page): median "
                  f"{delays[len(delays) // 2]} ms over {len(delays)} frames", flush=True)
    finally:
        browser.close()


def token_checks(cotrack, out_dir):
    live = Live(cotrack, ["--source", "synth", "--duration", "15"],
                os.path.join(out_dir, "serve-token.log"), host="0.0.0.0")
    try:
        live.wait_listening()
        check(live.token is not None and len(live.token) >= 16,
              "--serve 0.0.0.0 without --serve-token prints a generated token")
        code, r = request(live.base, "GET", "/api/status")
        check(code == 401 and "token" in r.get("error", ""), f"no token -> 401 ({code})")
        code, r = request(live.base, "POST", "/api/points", {"x": 1, "y": 1}, token="wrong-token")
        check(code == 401, f"a wrong token -> 401 ({code})")
        live.wait_frames()
        code, r = request(live.base, "GET", "/api/status", token=live.token)
        check(code == 200, f"the token -> 200 ({code})")
        code, r = request(live.base, "GET", "/api/tracks?token=" + live.token)
        check(code == 200, f"the token as ?token= -> 200 ({code})")
    finally:
        live.kill()


def main():
    cotrack = sys.argv[1]
    out_dir = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="cotrack-serve-")
    os.makedirs(out_dir, exist_ok=True)
    stats = os.path.join(out_dir, "serve-stats.json")
    live = Live(cotrack, ["--source", "synth", "--duration", "60", "--stats-json", stats],
                os.path.join(out_dir, "serve.log"))
    try:
        live.wait_listening()
        live.wait_frames()
        api_checks(live)
        polling_checks(live)
        browser_checks(live, out_dir)
        code, r = request(live.base, "GET", "/snapshot.jpg")
        check(code == 200 and r[:3] == b"\xff\xd8\xff", "GET /snapshot.jpg -> a JPEG")
        live.proc.send_signal(2)  # SIGINT: a user's Ctrl-C
        rc = live.finish()
        check(rc == 130, f"cotrack live --serve stops on SIGINT ({rc})")
        s = json.load(open(stats))
        check(s["serve"]["requests"] > 500 and s["serve"]["frames_encoded"] > 0,
              f"--stats-json counts the server's work ({s['serve']})")
    finally:
        live.kill()
    token_checks(cotrack, out_dir)
    if failures:
        print(f"test_serve: {len(failures)} check(s) failed; logs in {out_dir}")
        return 1
    print(f"test_serve: all checks passed; logs and screenshot in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
