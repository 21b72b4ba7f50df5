#!/usr/bin/env python3
"""Converts a TAP-Vid pickle (e.g. tapvid_davis.pkl, tapvid_rgb_stacking.pkl) into cotrack clip
folders that `cotrack eval --clips` reads:

  OUT/<video>/frames/000000.ppm ...   the frames (binary PPM)
  OUT/<video>/gt.csv                  point_id,frame,x,y,visible
  OUT/<video>/points.csv              point_id,frame,x,y  (each point's first visible frame)

`cotrack eval` derives its queries from gt.csv by the query mode; points.csv is for `track`.

TAP-Vid stores points as (x, y) in [0, 1] of the frame (0 = left edge) and `occluded` flags;
cotrack uses pixel centres (0 = centre of the first pixel), so x_px = x * W - 0.5.
Needs only the standard library and numpy. Videos stored as JPEG bytes (the Kinetics pickles)
are not decoded here: convert those with a tool that decodes JPEG.
"""
import argparse
import os
import pickle

import numpy as np


def write_ppm(path, frame):
    h, w, _ = frame.shape
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (w, h))
        f.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())


def convert(name, item, out):
    video = item["video"]
    if not isinstance(video, np.ndarray):
        raise SystemExit(f"{name}: frames are not a decoded array (JPEG bytes?); not supported")
    t, h, w, _ = video.shape
    points = np.asarray(item["points"], dtype=np.float64)  # [N, T, 2] in [0, 1]
    visible = ~np.asarray(item["occluded"], dtype=bool)    # [N, T]
    folder = os.path.join(out, name)
    os.makedirs(os.path.join(folder, "frames"), exist_ok=True)
    for i in range(t):
        write_ppm(os.path.join(folder, "frames", f"{i:06d}.ppm"), video[i])
    xy = points * np.array([w, h]) - 0.5
    with open(os.path.join(folder, "gt.csv"), "w") as f:
        f.write("point_id,frame,x,y,visible\n")
        for n in range(points.shape[0]):
            for i in range(t):
                f.write(f"{n},{i},{xy[n, i, 0]:.4f},{xy[n, i, 1]:.4f},{int(visible[n, i])}\n")
    with open(os.path.join(folder, "points.csv"), "w") as f:
        f.write("point_id,frame,x,y\n")
        for n in range(points.shape[0]):
            frames = np.nonzero(visible[n])[0]
            i = int(frames[0]) if len(frames) else 0  # never visible: listed, never queried
            f.write(f"{n},{i},{xy[n, i, 0]:.4f},{xy[n, i, 1]:.4f}\n")
    return t, points.shape[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pickle", help="TAP-Vid .pkl file")
    ap.add_argument("out", help="output folder")
    a = ap.parse_args()
    with open(a.pickle, "rb") as f:
        data = pickle.load(f)
    items = data.items() if isinstance(data, dict) else ((f"{i:04d}", v) for i, v in enumerate(data))
    for name, item in items:
        t, n = convert(str(name), item, a.out)
        print(f"{name}: {t} frames, {n} points")


if __name__ == "__main__":
    main()
