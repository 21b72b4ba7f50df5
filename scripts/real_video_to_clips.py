#!/usr/bin/env python3
"""Builds cotrack clip folders (for `cotrack eval --clips`) from real videos with keypoint ground
truth taken from public sources. scripts/fetch_real_video.sh calls it; see that script for where
the sources come from and for their licences.

Output, one folder per clip (same format as scripts/tapvid_to_clips.py writes):

  OUT/<clip>/frames/000000.ppm ...   binary PPM (P6, maxval 255; or 000000.png with --format png,
                                     which only the pipeline build reads), RGB, longest side
                                     <= --max-side (default 854; larger frames are resized)
  OUT/<clip>/gt.csv                  point_id,frame,x,y,visible   SPARSE: rows only on annotated
                                     frames; a (point, frame) without a row is "not annotated"
  OUT/<clip>/points.csv              point_id,frame,x,y   each point's first visible annotated row
  OUT/<clip>/SOURCE.txt              where it came from, licence, conversion notes

Coordinates are in pixels of the written frames with pixel CENTRES at integers (0 = centre of the
first pixel). A source pixel-centre coordinate u in a frame of size S resized to size S' maps to
(u + 0.5) * S' / S - 0.5.

Sources handled:
  --badja BADJA --davis DAVIS   BADJA joint annotations (github.com/benjiebob/BADJA) on DAVIS
                                frames. BADJA's joints are [row, col] in DAVIS Full-Resolution
                                pixels; `visibility` false means "not visible in this frame"
                                (written as visible=0, with x = y = -1 as a placeholder: BADJA gives
                                no position for them). Annotated about every 5th frame.
  --jhmdb NAME FRAMES MAT       one JHMDB clip: folder of frames 00001.png ... and its
                                joint_positions.mat (pos_img, 2 x 15 x T, MATLAB 1-based pixel
                                coordinates, so 1 is subtracted). Every frame is annotated;
                                JHMDB has no occlusion labels: a joint is visible=1 when inside the
                                frame, visible=0 (with its position) when outside.
  --cmum TAG LABELS MAT IMAGES DIR
                                CMU 'house' (111 frames) or 'hotel' (101) sequence: TAG.seqN.png
                                frames and the 30 hand-labelled landmarks per frame (CMUM.TAG.XTs
                                in cmum.mat, MATLAB 1-based, 1 subtracted). Dense; visible=0
                                only outside the frame (no occlusion labels).

Inputs may be clones or bare git directories (files are then read with `git show HEAD:`).
Needs python3 (standard library only), git (for bare directories) and ImageMagick's `convert`.
The DAVIS sequences bear, cows, dog and camel are refused: they are held out.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import zlib

HELD_OUT = {"bear", "cows", "dog", "camel"}

# BADJA sequences on DAVIS with the Full-Resolution frame size their joints are given in.
# horsejump-high was checked against the DAVIS 480p masks (175 of 178 visible joints fall within
# 3 px of the horse/rider mask at 1920x1080, 1 of 178 at 3840x2160). The others are checked the
# same way at run time when the DAVIS Annotations are there.
BADJA_DAVIS = {
    "horsejump-high": (1920, 1080),
    "horsejump-low": (1920, 1080),
    "dog-agility": (1920, 1080),
}

# BADJA joint ids that carry annotations (code/joint_catalog.py in the BADJA repository).
BADJA_JOINTS = {
    8: "upper_right_1", 9: "upper_right_2", 10: "upper_right_3",
    12: "upper_left_1", 13: "upper_left_2", 14: "upper_left_3",
    15: "neck_lower",
    18: "lower_right_1", 19: "lower_right_2", 20: "lower_right_3",
    22: "lower_left_1", 23: "lower_left_2", 24: "lower_left_3",
    25: "tail_0", 28: "tail_3", 31: "tail_6",
    32: "jaw", 33: "nose", 35: "right_ear", 36: "left_ear",
}

JHMDB_JOINTS = ["neck", "belly", "face", "right_shoulder", "left_shoulder", "right_hip",
                "left_hip", "right_elbow", "left_elbow", "right_knee", "left_knee",
                "right_wrist", "left_wrist", "right_ankle", "left_ankle"]


# ----------------------------------------------------------------------------------------------
# Reading from a folder or a bare git directory

class Source:
    """A folder (a clone) or a bare git directory; paths are relative to its root. Files missing
    from the folder are read from its git HEAD when there is one (a clone without a work tree)."""

    def __init__(self, path):
        self.path = path
        if os.path.isfile(os.path.join(path, "HEAD")) and \
                os.path.isdir(os.path.join(path, "objects")):
            self.gitdir = path
        elif os.path.isdir(os.path.join(path, ".git")):
            self.gitdir = os.path.join(path, ".git")
        else:
            self.gitdir = None
        self._tree = None

    def commit(self):
        if self.gitdir is None:
            return "unknown (not a git checkout)"
        r = subprocess.run(["git", "--git-dir", self.gitdir, "rev-parse", "HEAD"],
                           capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else "unknown"

    def _files(self):
        if self._tree is None:
            self._tree = set()
            if self.gitdir is not None:
                out = subprocess.run(["git", "--git-dir", self.gitdir, "ls-tree", "-r",
                                      "--name-only", "-z", "HEAD"], capture_output=True).stdout
                self._tree = set(p.decode() for p in out.split(b"\0") if p)
        return self._tree

    def read(self, rel):
        fs_path = os.path.join(self.path, rel)
        if os.path.isfile(fs_path):
            with open(fs_path, "rb") as f:
                return f.read()
        if rel in self._files():
            return subprocess.run(["git", "--git-dir", self.gitdir, "show", "HEAD:" + rel],
                                  capture_output=True, check=True).stdout
        raise SystemExit(f"{self.path}: no file {rel}")

    def listdir(self, rel):
        rel = rel.rstrip("/")
        d = os.path.join(self.path, rel)
        if os.path.isdir(d):
            return sorted(os.listdir(d))
        pre = rel + "/"
        return sorted(p[len(pre):] for p in self._files()
                      if p.startswith(pre) and "/" not in p[len(pre):])


# ----------------------------------------------------------------------------------------------
# Images through ImageMagick

def image_size(data):
    r = subprocess.run(["convert", "-", "-format", "%w %h", "info:"], input=data,
                       capture_output=True, check=True)
    w, h = r.stdout.split()[:2]
    return int(w), int(h)


def fitted_size(w, h, max_side):
    s = min(1.0, max_side / max(w, h))
    return max(1, round(w * s)), max(1, round(h * s))


def write_frame(data, out_path, size, fmt):
    """Decodes `data` (any format ImageMagick reads), resizes to `size` = (w, h) and writes an
    8-bit RGB image: binary PPM (P6, maxval 255) or PNG."""
    w, h = size
    cmd = ["convert", "-", "-alpha", "off", "-colorspace", "sRGB"]
    if image_size(data) != (w, h):
        cmd += ["-resize", f"{w}x{h}!"]
    r = subprocess.run(cmd + ["-type", "TrueColor", "-depth", "8", f"{fmt}:-"], input=data,
                       capture_output=True, check=True)
    img = r.stdout
    if fmt == "ppm" and not img.startswith(b"P6\n"):
        raise SystemExit(f"{out_path}: convert did not produce a P6 image")
    with open(out_path, "wb") as f:
        f.write(img)


def gray_pixels(data):
    """Returns (w, h, bytes) of an image as 8-bit grey."""
    w, h = image_size(data)
    r = subprocess.run(["convert", "-", "-depth", "8", "gray:-"], input=data,
                       capture_output=True, check=True)
    return w, h, r.stdout


# ----------------------------------------------------------------------------------------------
# A minimal MATLAB v5 .mat reader (compressed or not): real numeric arrays, structs and cells.

_MI_FORMATS = {1: "b", 2: "B", 3: "h", 4: "H", 5: "i", 6: "I", 7: "f", 9: "d", 12: "q", 13: "Q"}
_MI_COMPRESSED, _MI_MATRIX = 15, 14


def _mat_elements(buf, pos, end, order):
    while pos + 8 <= end:
        word0, word1 = struct.unpack_from(order + "II", buf, pos)
        if word0 >> 16:  # small data element: type and size in one word, data in the next 4 bytes
            typ, nbytes = word0 & 0xFFFF, word0 >> 16
            yield typ, buf[pos + 4:pos + 4 + nbytes]
            pos += 8
        else:
            typ, nbytes = word0, word1
            yield typ, buf[pos + 8:pos + 8 + nbytes]
            pos += 8 + nbytes
            if typ != _MI_COMPRESSED:
                pos += (-nbytes) % 8


def _mat_numbers(typ, data, order):
    fmt = _MI_FORMATS.get(typ)
    if fmt is None:
        raise ValueError(f"unsupported MAT data type {typ}")
    n = len(data) // struct.calcsize(fmt)
    return list(struct.unpack_from(order + fmt * n, data))


def _mat_value(body, order):
    """Decodes the body of a miMATRIX element: (name, value). Numeric arrays become
    (dims, column-major list of floats); structs a dict of field values (1 x 1) or a list of
    such dicts; cells a list of values. Other classes (char, sparse, ...) become None."""
    parts = list(_mat_elements(body, 0, len(body), order))
    if len(parts) < 3:
        return None, None
    flags = _mat_numbers(parts[0][0], parts[0][1], order)
    cls, complex_ = flags[0] & 0xFF, bool(flags[0] & 0x800)
    dims = _mat_numbers(parts[1][0], parts[1][1], order)
    name = parts[2][1].decode("latin-1")
    count = 1
    for d in dims:
        count *= d
    if cls == 1:  # cell
        return name, [_mat_value(b, order)[1] for t, b in parts[3:] if t == _MI_MATRIX]
    if cls == 2:  # struct
        fnlen = _mat_numbers(parts[3][0], parts[3][1], order)[0]
        raw = parts[4][1]
        fields = [raw[i:i + fnlen].split(b"\0")[0].decode("latin-1")
                  for i in range(0, len(raw), fnlen)]
        values = [_mat_value(b, order)[1] for t, b in parts[5:] if t == _MI_MATRIX]
        items = [dict(zip(fields, values[k * len(fields):(k + 1) * len(fields)]))
                 for k in range(count)]
        return name, items[0] if count == 1 else items
    if 6 <= cls <= 15 and not complex_ and len(parts) >= 4:  # numeric (double .. uint64)
        return name, (dims, [float(v) for v in _mat_numbers(parts[3][0], parts[3][1], order)])
    return name, None


def read_mat(data):
    """Returns {name: value} for the variables of a MATLAB 5 .mat file (see _mat_value)."""
    if len(data) < 128 or not data[:6] == b"MATLAB":
        raise ValueError("not a MATLAB 5 .mat file")
    order = "<" if data[126:128] == b"IM" else ">"
    out = {}
    for typ, body in _mat_elements(data, 128, len(data), order):
        if typ == _MI_COMPRESSED:
            raw = zlib.decompress(body)
            for t2, b2 in _mat_elements(raw, 0, len(raw), order):
                if t2 == _MI_MATRIX:
                    name, value = _mat_value(b2, order)
                    out[name] = value
        elif typ == _MI_MATRIX:
            name, value = _mat_value(body, order)
            out[name] = value
    return out


# ----------------------------------------------------------------------------------------------
# Writing a clip

FRAME_FORMAT = "ppm"


def write_clip(out, name, frames, size, rows, notes):
    """frames: list of encoded images; size: output (w, h); rows: {(point, frame): (x, y, vis)}."""
    folder = os.path.join(out, name)
    os.makedirs(os.path.join(folder, "frames"), exist_ok=True)
    for old in os.listdir(os.path.join(folder, "frames")):
        os.remove(os.path.join(folder, "frames", old))
    for i, data in enumerate(frames):
        write_frame(data, os.path.join(folder, "frames", f"{i:06d}.{FRAME_FORMAT}"), size,
                    FRAME_FORMAT)
    points = sorted({n for n, _ in rows})
    assert points == list(range(len(points))), "point ids must run from 0 without gaps"
    with open(os.path.join(folder, "gt.csv"), "w") as f:
        f.write("point_id,frame,x,y,visible\n")
        for (n, t) in sorted(rows):
            x, y, v = rows[(n, t)]
            f.write(f"{n},{t},{x:.4f},{y:.4f},{int(v)}\n")
    with open(os.path.join(folder, "points.csv"), "w") as f:
        f.write("point_id,frame,x,y\n")
        for n in points:
            t = min(t for (m, t), r in rows.items() if m == n and r[2])
            x, y, _ = rows[(n, t)]
            f.write(f"{n},{t},{x:.4f},{y:.4f}\n")
    with open(os.path.join(folder, "SOURCE.txt"), "w") as f:
        f.write("\n".join(notes).rstrip() + "\n")
    annotated = sorted({t for _, t in rows})
    visible = sum(1 for r in rows.values() if r[2])
    print(f"{name}: {len(frames)} frames {size[0]}x{size[1]}, {len(points)} points, "
          f"{len(annotated)} annotated frames, {len(rows)} rows ({visible} visible)")


def scale_centre(u, src, dst):
    return (u + 0.5) * dst / src - 0.5


# ----------------------------------------------------------------------------------------------
# BADJA on DAVIS

# DAVIS sequences as other repositories lay them out: {seq: (frames folder, masks folder)}.
# DINO-Tracker (github.com/AssafSinger94/dino-tracker, MIT) ships horsejump-high's 480p frames
# (re-encoded JPEGs, RMSE < 1% against the DAVIS 480p JPEGs) and its foreground masks.
# SAM2-Plus (github.com/MCG-NJU/SAM2-Plus, Apache-2.0 code) ships horsejump-low's Full-Resolution
# JPEGs and DAVIS masks among its examples.
DAVIS_ALIASES = {
    "horsejump-high": ("dataset/horsejump/video", "dataset/horsejump/masks"),
    "horsejump-low": ("examples/JPEGImages/horsejump-low", "examples/Annotations/horsejump-low"),
}


def davis_frame_dir(davis, seq):
    """Finds the sequence's frames: (frames folder, jpg names, masks folder or None, label)."""
    for prefix in ("", "DAVIS/"):
        for res in ("480p", "Full-Resolution"):
            rel = f"{prefix}JPEGImages/{res}/{seq}"
            files = [p for p in davis.listdir(rel) if p.endswith(".jpg")]
            if files:
                return rel, files, f"{prefix}Annotations/{res}/{seq}", res
    if seq in DAVIS_ALIASES:
        rel, masks = DAVIS_ALIASES[seq]
        files = [p for p in davis.listdir(rel) if p.endswith(".jpg")]
        if files:
            w, h = image_size(davis.read(f"{rel}/{files[0]}"))
            return rel, files, masks, "Full-Resolution" if (w, h) == BADJA_DAVIS.get(seq) else "480p"
    return None, [], None, None


def mask_check(davis, rel, joints, full_size):
    """Fraction of visible joints within 3 px of the DAVIS object mask, or None without masks."""
    names = set(davis.listdir(rel)) if rel else set()
    inside = total = 0
    for t, pts in joints.items():
        name = f"{t:05d}.png"
        if name not in names:
            continue
        w, h, px = gray_pixels(davis.read(f"{rel}/{name}"))
        for (r, c) in pts:
            x = scale_centre(c, full_size[0], w)
            y = scale_centre(r, full_size[1], h)
            xi, yi = int(round(x)), int(round(y))
            total += 1
            inside += any(0 <= xi + dx < w and 0 <= yi + dy < h and px[(yi + dy) * w + xi + dx]
                          for dy in range(-3, 4) for dx in range(-3, 4))
    return None if total == 0 else inside / total


def convert_badja(badja, davis, seq, out, max_side):
    if seq in HELD_OUT:
        raise SystemExit(f"{seq} is held out; refusing to convert it")
    if seq not in BADJA_DAVIS:
        raise SystemExit(f"{seq}: no known Full-Resolution size (known: {sorted(BADJA_DAVIS)})")
    ann = json.loads(badja.read(f"joint_annotations/{seq}.json"))
    rel, files, masks, res = davis_frame_dir(davis, seq)
    if not files:
        return False
    frames = [davis.read(f"{rel}/{p}") for p in files]
    src_w, src_h = image_size(frames[0])
    size = fitted_size(src_w, src_h, max_side)
    full = BADJA_DAVIS[seq]
    index = {p[:-4]: i for i, p in enumerate(files)}
    # Joint ids that are visible somewhere become points 0.., in BADJA id order.
    per_frame = {}
    for a in ann:
        stem = os.path.basename(a["image_path"])[:-4]
        if stem not in index:
            raise SystemExit(f"{seq}: annotation for {a['image_path']} but no such frame")
        per_frame[index[stem]] = a
    used = sorted(j for j in BADJA_JOINTS
                  if any(a["visibility"][j] for a in per_frame.values()))
    point_of = {j: n for n, j in enumerate(used)}
    rows = {}
    vis_joints = {}
    for t, a in per_frame.items():
        for j in used:
            r, c = a["joints"][j]
            if a["visibility"][j]:
                x = scale_centre(c, full[0], size[0])
                y = scale_centre(r, full[1], size[1])
                rows[(point_of[j], t)] = (x, y, True)
                vis_joints.setdefault(t, []).append((r, c))
            else:
                rows[(point_of[j], t)] = (-1.0, -1.0, False)
    frac = mask_check(davis, masks, vis_joints, full)
    check = "no DAVIS masks found, not checked" if frac is None else \
        f"{100 * frac:.1f}% of visible joints lie within 3 px of the object masks in {masks}/"
    if frac is not None and frac < 0.9:
        print(f"badja_{seq}: WARNING only {check}; is the Full-Resolution size {full} right?",
              file=sys.stderr)
    notes = [
        f"clip: badja_{seq}",
        f"frames: DAVIS {seq}, {res} JPEGs {rel}/ ({src_w}x{src_h}) from {davis.path} "
        f"(commit {davis.commit()}), written at {size[0]}x{size[1]}",
        "frames licence: DAVIS dataset terms (davischallenge.org; research use). Not for "
        "redistribution outside research.",
        f"ground truth: BADJA joint_annotations/{seq}.json from {badja.path} "
        f"(commit {badja.commit()}), MIT licence (BADJA repository LICENSE; cite Biggs et al., "
        "ACCV 2018)",
        f"annotation frame size {full[0]}x{full[1]} (DAVIS Full-Resolution); joints are [row, col]"
        f" pixel centres; mapped with x' = (x + 0.5) * {size[0]}/{full[0]} - 0.5, likewise y",
        f"check: {check}",
        "visible=0 rows: BADJA marks the joint not visible on that frame and gives no position; "
        "x = y = -1 there is a placeholder, not a position",
        f"annotated frames: {sorted(per_frame)} (sparse: other frames have no rows)",
        "points (point_id: BADJA joint id name): " +
        ", ".join(f"{point_of[j]}: {j} {BADJA_JOINTS[j]}" for j in used),
    ]
    write_clip(out, f"badja_{seq}", frames, size, rows, notes)
    return True


# ----------------------------------------------------------------------------------------------
# JHMDB

def convert_jhmdb(src, name, frames_dir, mat_path, out, max_side):
    files = [p for p in src.listdir(frames_dir) if p.lower().endswith((".png", ".jpg"))]
    if not files:
        raise SystemExit(f"{name}: no frames in {frames_dir}")
    mat = read_mat(src.read(mat_path))
    if "pos_img" not in mat:
        raise SystemExit(f"{name}: {mat_path} has no pos_img")
    dims, vals = mat["pos_img"]
    if len(dims) != 3 or dims[0] != 2 or dims[1] != len(JHMDB_JOINTS):
        raise SystemExit(f"{name}: pos_img has shape {dims}, expected 2 x 15 x T")
    T = dims[2]
    if T != len(files):
        raise SystemExit(f"{name}: pos_img has {T} frames, the folder {len(files)}")
    frames = [src.read(f"{frames_dir}/{p}") for p in files]
    src_w, src_h = image_size(frames[0])
    size = fitted_size(src_w, src_h, max_side)
    rows = {}
    for t in range(T):
        for j in range(len(JHMDB_JOINTS)):
            base = 2 * (j + len(JHMDB_JOINTS) * t)  # column-major [2][15][T]
            u, v = vals[base] - 1.0, vals[base + 1] - 1.0  # MATLAB 1-based -> 0-based centres
            inside = -0.5 <= u <= src_w - 0.5 and -0.5 <= v <= src_h - 0.5
            rows[(j, t)] = (scale_centre(u, src_w, size[0]), scale_centre(v, src_h, size[1]),
                            inside)
    notes = [
        f"clip: {name}",
        f"frames: {frames_dir} ({len(files)} x {src_w}x{src_h}) from {src.path} "
        f"(commit {src.commit()}), written at {size[0]}x{size[1]}",
        "frames and joints: JHMDB (Jhuang et al., ICCV 2013; jhmdb.is.tue.mpg.de), video from "
        "HMDB51; research use. The repository that carries this sample clip is MIT-licensed "
        "(its own code); the data keep JHMDB's terms.",
        f"ground truth: {mat_path} pos_img (2 x 15 x {T}), MATLAB 1-based pixel coordinates: "
        "1 subtracted to get 0-based pixel centres",
        "dense: every frame annotated (JHMDB's 2D puppet fit). No occlusion labels: visible=1 for "
        "joints inside the frame, visible=0 (with the annotated position) outside it; joints "
        "hidden behind the body are still visible=1",
        "points (point_id: joint): " + ", ".join(f"{i}: {j}" for i, j in enumerate(JHMDB_JOINTS)),
    ]
    write_clip(out, name, frames, size, rows, notes)


# ----------------------------------------------------------------------------------------------
# CMU house / hotel (CMU VASC image database) with the 30 hand-labelled landmarks per frame

def convert_cmum(label_src, label_mat, tag, image_src, image_dir, out, max_side):
    mat = read_mat(label_src.read(label_mat))
    try:
        xts = mat["CMUM"][tag]["XTs"]
    except (KeyError, TypeError):
        raise SystemExit(f"{label_mat}: no CMUM.{tag}.XTs")
    names = set(image_src.listdir(image_dir))
    frames = []
    while f"{tag}.seq{len(frames)}.png" in names and len(frames) < len(xts):
        frames.append(image_src.read(f"{image_dir}/{tag}.seq{len(frames)}.png"))
    if not frames:
        raise SystemExit(f"cmu_{tag}: no {tag}.seq0.png in {image_dir}")
    src_w, src_h = image_size(frames[0])
    size = fitted_size(src_w, src_h, max_side)
    rows = {}
    npts = None
    for t in range(len(frames)):
        dims, vals = xts[t]
        if dims[0] != 2 or (npts is not None and dims[1] != npts):
            raise SystemExit(f"cmu_{tag}: XTs[{t}] has shape {dims}")
        npts = dims[1]
        for j in range(npts):
            u, v = vals[2 * j] - 1.0, vals[2 * j + 1] - 1.0  # MATLAB 1-based -> 0-based
            inside = -0.5 <= u <= src_w - 0.5 and -0.5 <= v <= src_h - 0.5
            rows[(j, t)] = (scale_centre(u, src_w, size[0]), scale_centre(v, src_h, size[1]),
                            inside)
    notes = [
        f"clip: cmu_{tag}",
        f"frames: {image_dir}/{tag}.seq0.png .. seq{len(frames) - 1}.png ({src_w}x{src_h} grey, "
        f"written as RGB) from {image_src.path} (commit {image_src.commit()}), written at "
        f"{size[0]}x{size[1]}; of the {len(xts)} labelled frames of the sequence",
        "frames: CMU 'house' / 'hotel' motion sequences of the CMU VASC image database "
        "(vasc.ri.cmu.edu/idb, research use; no explicit licence); a real camera moving "
        "around a model building",
        f"ground truth: CMUM.{tag}.XTs in {label_mat} from {label_src.path} "
        f"(commit {label_src.commit()}): the {npts} hand-labelled landmarks per frame used "
        "in graph-matching work (Caetano et al. 2009; Zhou & De la Torre 2012). The repository "
        "is BSD-3-Clause; the data keep the CMU terms",
        "coordinates: MATLAB 1-based pixel coordinates, 1 subtracted to get 0-based centres",
        "dense: every frame annotated. No occlusion labels: visible=1 inside the frame, "
        "visible=0 (with its position) outside it",
    ]
    write_clip(out, f"cmu_{tag}", frames, size, rows, notes)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/realvideo", help="output folder")
    ap.add_argument("--max-side", type=int, default=854, help="longest side of written frames")
    ap.add_argument("--format", choices=("ppm", "png"), default="ppm",
                    help="frame files: ppm (read by every cotrack build) or png (smaller; read "
                         "by the pipeline build only)")
    ap.add_argument("--badja", help="BADJA repository (clone or bare git directory)")
    ap.add_argument("--davis", action="append", default=[],
                    help="folder or git repository with DAVIS JPEGImages/ (and Annotations/), "
                         "possibly under DAVIS/; may be repeated")
    ap.add_argument("--badja-seq", action="append", default=[],
                    help=f"BADJA DAVIS sequence to convert (default: all of "
                         f"{sorted(BADJA_DAVIS)} that have frames)")
    ap.add_argument("--jhmdb", nargs=4, action="append", default=[],
                    metavar=("REPO", "NAME", "FRAMES_DIR", "MAT"),
                    help="a JHMDB clip: repository, clip name, frames folder and "
                         "joint_positions.mat (paths inside the repository)")
    ap.add_argument("--cmum", nargs=5, action="append", default=[],
                    metavar=("TAG", "LABEL_REPO", "LABEL_MAT", "IMAGE_REPO", "IMAGE_DIR"),
                    help="a CMU motion sequence (TAG house or hotel): labels CMUM.TAG.XTs in "
                         "LABEL_MAT of LABEL_REPO, frames TAG.seqN.png in IMAGE_DIR of "
                         "IMAGE_REPO")
    a = ap.parse_args()
    global FRAME_FORMAT
    FRAME_FORMAT = a.format
    os.makedirs(a.out, exist_ok=True)
    if a.badja:
        badja = Source(a.badja)
        seqs = a.badja_seq or sorted(BADJA_DAVIS)
        for seq in seqs:
            if seq in HELD_OUT:
                raise SystemExit(f"{seq} is held out; refusing to convert it")
            if not any(convert_badja(badja, Source(d), seq, a.out, a.max_side) for d in a.davis):
                print(f"badja_{seq}: skipped, no DAVIS frames for it in {a.davis}",
                      file=sys.stderr)
    for repo, name, frames_dir, mat in a.jhmdb:
        convert_jhmdb(Source(repo), name, frames_dir, mat, a.out, a.max_side)
    for tag, label_repo, label_mat, image_repo, image_dir in a.cmum:
        convert_cmum(Source(label_repo), label_mat, tag, Source(image_repo), image_dir, a.out,
                     a.max_side)


if __name__ == "__main__":
    main()
