#!/usr/bin/env python3
"""Benchmark of `cotrack live --serve` on the synth source (640x480 at 30 fps, a 4x4 grid):
the tracking rate with no viewer and with VIEWERS video viewers (one of them the page in a
headless Chromium), the viewers' frame rate and bandwidth, and the delay from a frame's arrival in the tracker to its drawing on the page in a
headless Chromium. Runs alternate (no viewer, viewers) REPEATS times; prints one JSON object with
every run and the medians.

Usage: scripts/bench_serve.py [--cotrack build/apps/cotrack] [--seconds 15] [--repeats 3]
                              [--viewers 5] [-- extra cotrack live options, e.g. --engine lk]
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "cli"))
from serve_client import Browser, Live, MjpegViewer, request  # noqa: E402


def one_run(args, extra, viewers, out_dir, index):
    stats = os.path.join(out_dir, f"stats-{index}.json")
    live = Live(args.cotrack, ["--source", "synth", "--grid", "4", "--log-every", "0",
                               "--duration", str(args.seconds + 4), "--stats-json", stats] + extra,
                os.path.join(out_dir, f"live-{index}.log"))
    result = {"viewers": viewers}
    try:
        live.wait_listening()
        live.wait_frames()
        # The viewers: a headless Chromium showing the page (it measures the delay) and
        # viewers - 1 plain readers of the video stream.
        clients = [MjpegViewer(live.base) for _ in range(max(0, viewers - 1))]
        browser = Browser() if viewers > 0 else None
        for c in clients:
            c.start()
        if browser:
            browser.open(live.base + "/")
        time.sleep(2)  # settle
        _, s0 = request(live.base, "GET", "/api/status")
        parts0 = [c.parts for c in clients]
        bytes0 = [c.bytes for c in clients]
        t0 = time.time()
        time.sleep(args.seconds)
        _, s1 = request(live.base, "GET", "/api/status")
        dt = time.time() - t0
        result["tracked_fps"] = round((s1["processed"] - s0["processed"]) / dt, 2)
        result["received_fps"] = round((s1["received"] - s0["received"]) / dt, 2)
        if clients:
            result["viewer_fps"] = round(statistics.median(
                (c.parts - p) / dt for c, p in zip(clients, parts0)), 2)
            result["viewer_kbit_s"] = round(statistics.median(
                (c.bytes - b) * 8 / 1000 / dt for c, b in zip(clients, bytes0)), 1)
        if browser:
            delays = sorted(browser.eval("window.cotrackView.delays"))
            if delays:
                result["browser_delay_ms"] = {"median": delays[len(delays) // 2],
                                              "p95": delays[int(0.95 * (len(delays) - 1))],
                                              "frames": len(delays)}
            browser.close()
        for c in clients:
            c.stop = True
        live.finish()
        result["latency_ms"] = json.load(open(stats))["latency_ms"]
    finally:
        live.kill()
    return result


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cotrack", default=os.path.join(here, "..", "build", "apps", "cotrack"))
    p.add_argument("--seconds", type=float, default=15)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--viewers", type=int, default=5)
    p.add_argument("extra", nargs="*", help="more cotrack live options (after --)")
    args = p.parse_args()
    out_dir = tempfile.mkdtemp(prefix="cotrack-bench-serve-")
    runs = []
    for r in range(args.repeats):
        for viewers in (0, args.viewers):
            runs.append(one_run(args, args.extra, viewers, out_dir, len(runs)))
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)

    def med(viewers, key):
        values = [r[key] for r in runs if r["viewers"] == viewers and key in r]
        return round(statistics.median(values), 2) if values else None

    summary = {
        "setting": {"source": "synth 640x480 at 30 fps", "grid": 16, "seconds": args.seconds,
                    "repeats": args.repeats, "extra": args.extra},
        "tracked_fps": {"no_viewer": med(0, "tracked_fps"),
                        f"{args.viewers}_viewers": med(args.viewers, "tracked_fps")},
        "viewer_fps": med(args.viewers, "viewer_fps"),
        "viewer_kbit_s": med(args.viewers, "viewer_kbit_s"),
        "browser_delay_ms_median": round(statistics.median(
            r["browser_delay_ms"]["median"] for r in runs if "browser_delay_ms" in r), 1),
        "browser_delay_ms_p95": round(statistics.median(
            r["browser_delay_ms"]["p95"] for r in runs if "browser_delay_ms" in r), 1),
        "runs": runs,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
