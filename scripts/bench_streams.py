#!/usr/bin/env python3
"""How many streams one `cotrack live` process keeps at full rate: N synth streams (640x480 at
30 fps unless the extra options say otherwise) with a GRID x GRID grid each, for SECONDS, for
each N given; prints one JSON line per run with each stream's processed rate and drops, then a summary
(the largest N whose every stream processed >= 97% of its frames with no drop).

Usage: scripts/bench_streams.py [--cotrack build/apps/cotrack] [--seconds 20] [--counts 1 2 4 6]
                                [-- extra cotrack live options, e.g. --engine lk]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cotrack", default=os.path.join(here, "..", "build", "apps", "cotrack"))
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4, 6])
    p.add_argument("--grid", type=int, default=4)
    p.add_argument("extra", nargs="*")
    args = p.parse_args()
    out = tempfile.mkdtemp(prefix="cotrack-bench-streams-")
    best = 0
    runs = []
    for n in args.counts:
        stats = os.path.join(out, f"stats-{n}.json")
        cmd = [args.cotrack, "live", "--no-window", "--grid", str(args.grid), "--duration",
               str(args.seconds), "--log-every", "0", "--stats-json", stats]
        cmd += args.extra
        for i in range(n):
            cmd += ["--source", f"synth:{i + 1}"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        s = json.load(open(stats))
        streams = [{"processed_fps": st["processed_fps"], "dropped": st["dropped"],
                    "processed_share": round(st["processed"] / max(1, st["received"]), 4),
                    "latency_p95_ms": st["latency_ms"]["p95"]} for st in s["streams"]]
        full = all(st["dropped"] == 0 and st["processed_share"] >= 0.97 for st in streams)
        run = {"streams": n, "engine": s["engine"], "full_rate": full,
               "total_processed_fps": s["processed_fps"],
               "min_processed_fps": min(st["processed_fps"] for st in streams),
               "max_latency_p95_ms": max(st["latency_p95_ms"] for st in streams),
               "peak_rss_mib": s["peak_rss_mib"], "per_stream": streams}
        runs.append(run)
        print(json.dumps(run), flush=True)
        if full:
            best = max(best, n)
    print(json.dumps({"largest_full_rate_streams": best, "seconds": args.seconds,
                      "grid": args.grid, "extra": args.extra}))


if __name__ == "__main__":
    main()
