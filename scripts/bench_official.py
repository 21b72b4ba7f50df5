#!/usr/bin/python3
"""Times the official CoTracker3 online predictor (Python) the way cotrack-bench times cotrack.

The official code is not part of cotrack: pass the folder of a co-tracker checkout with --repo.
Debian's python3-torch runs it unmodified. Prints one JSON object per configuration:
  fps: steady-state throughput of the README feeding loop (a 16-frame chunk every 8 frames):
    8 frames per call, as on an endless stream, which is what cotrack-bench measures; the first
    call (warm-up, like cotrack-bench's untimed frames) is left out;
  clip_fps: the clip's frames / the loop's time (the first call also covers frames 0-7, so this
    overstates the stream rate by frames / (frames - 8));
  per_frame_call_ms: one predictor call on the last 16 frames (what "call the model for every
  frame" costs per frame).
"""
import argparse, json, sys, time

import numpy as np
import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True, help="co-tracker checkout (the folder with cotracker/)")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--resolution", default="384x512")
    ap.add_argument("--input-size", default="640x480")
    ap.add_argument("--points", type=int, nargs="+", default=[16])
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    sys.path.insert(0, a.repo)
    from cotracker.predictor import CoTrackerOnlinePredictor
    from cotracker.models.core.cotracker.cotracker3_online import CoTrackerThreeOnline

    torch.set_num_threads(a.threads)
    h, w = map(int, a.resolution.split("x"))
    iw, ih = map(int, a.input_size.split("x"))
    pred = CoTrackerOnlinePredictor(checkpoint=a.checkpoint)
    if (h, w) != tuple(pred.interp_shape):
        m = CoTrackerThreeOnline(stride=4, corr_radius=3, window_len=16, model_resolution=(h, w))
        m.load_state_dict(pred.model.state_dict())
        m.eval()
        pred.model, pred.interp_shape = m, (h, w)
    rng = np.random.RandomState(0)
    video = torch.from_numpy(rng.randint(0, 255, (1, a.frames, 3, ih, iw)).astype(np.float32))
    for n in a.points:
        q = torch.zeros(1, n, 3)
        q[0, :, 1] = torch.from_numpy(rng.uniform(0, iw - 1, n).astype(np.float32))
        q[0, :, 2] = torch.from_numpy(rng.uniform(0, ih - 1, n).astype(np.float32))
        pred(video[:, :16], is_first_step=True, queries=q)
        t0 = time.perf_counter()
        calls = []
        for ind in range(0, a.frames - 8, 8):
            c0 = time.perf_counter()
            pred(video[:, ind:ind + 16])
            calls.append(time.perf_counter() - c0)
        total = time.perf_counter() - t0
        print(json.dumps({"implementation": "official python", "resolution": a.resolution,
                          "input": a.input_size, "points": n, "threads": a.threads,
                          "frames": a.frames, "fps": round(8 * len(calls[1:]) / sum(calls[1:]), 3),
                          "clip_fps": round(a.frames / total, 3),
                          "per_frame_call_ms": round(1000 * float(np.median(calls[1:])), 1)}),
              flush=True)


if __name__ == "__main__":
    main()
