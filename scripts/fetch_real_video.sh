#!/usr/bin/env bash
# Builds a small REAL-video evaluation set with keypoint ground truth for `cotrack eval --clips`
# from public GitHub repositories that the user has cloned beforehand:
#
#   scripts/fetch_real_video.sh [--format ppm|png] [--clone] SRC_DIR [OUT_DIR]
#
# SRC_DIR holds the clones under the folder names `git clone` gives them (a bare git directory
# works too). OUT_DIR defaults to data/realvideo. --clone runs the `git clone`s below into SRC_DIR
# for the repositories it does not have yet (this needs network access). Sources that are missing
# are skipped with a message. The conversion itself is scripts/real_video_to_clips.py
# (python3, standard library only) and needs git and ImageMagick's `convert`.
#
# Repositories (and the commit this was tested with):
#   git clone https://github.com/benjiebob/BADJA.git                   # bc8be92a  MIT
#       BADJA joint annotations (Biggs et al., ACCV 2018) on DAVIS sequences
#   git clone https://github.com/AssafSinger94/dino-tracker.git        # 6 MB, MIT repository
#       DAVIS horsejump-high 480p frames + masks (dataset/horsejump/)
#   git clone https://github.com/MCG-NJU/SAM2-Plus.git                 # 09c9ec46  Apache-2.0 code,
#       190 MB: DAVIS horsejump-low Full-Resolution frames + masks (examples/)
#   git clone https://github.com/MathLee/EOR-VOS.git                   # 1bde4d5f  optional,
#       300 MB: DAVIS-2016 val 480p JPEGImages + Annotations (an alternative source of the
#       horsejump-high frames; used when dino-tracker is absent)
#   git clone https://github.com/JakaCikac/JHMDBReadAnnotation.git     # 7639d339  MIT repository
#       one JHMDB clip (40 frames) with its joint_positions.mat
#   git clone https://github.com/wubaoyuan/Lpbox-ADMM.git              # cecfb0ad  BSD-3-Clause
#       CMU 'house' sequence (111 frames) and cmum.mat (30 landmarks/frame, house and hotel)
#   git clone https://github.com/liuxianming/cs543_hw.git              # ed476048  no licence file
#       CMU 'hotel' frames 0..50 (HM2/hw2_supp/tracking/images)
#
# Data licences (the repositories' own licences cover their code; the data keep their terms):
#   DAVIS frames: DAVIS dataset terms (davischallenge.org), research use.
#   BADJA annotations: MIT (BADJA repository).
#   JHMDB frames and joints: JHMDB / HMDB51 terms, research use.
#   CMU house/hotel: CMU VASC image database, research use (no explicit licence); landmarks as
#   distributed with graph-matching code (Caetano et al. 2009, Zhou & De la Torre 2012).
# Held out, never converted: DAVIS bear, cows, dog, camel.
#
# Clips written (OUT_DIR/<clip>/frames, gt.csv, points.csv, SOURCE.txt; see the python script):
#   badja_horsejump-high       50 frames 854x480, 20 horse joints, 10 annotated frames (sparse)
#   badja_horsejump-low        58 frames 854x480, 20 horse joints, 12 annotated frames (sparse)
#   jhmdb_goal_keeping_catch   40 frames 320x240, 15 body joints, every frame
#   cmu_house                 111 frames 576x384, 30 landmarks, every frame
#   cmu_hotel                  51 frames 512x480, 30 landmarks, every frame
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
format=ppm
clone=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --format) format="$2"; shift 2 ;;
    --clone) clone=1; shift ;;
    -h|--help) sed -n '2,43p' "${BASH_SOURCE[0]}"; exit 0 ;;
    --) shift; break ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [[ $# -lt 1 || $# -gt 2 ]]; then
  echo "usage: $0 [--format ppm|png] [--clone] SRC_DIR [OUT_DIR]" >&2
  exit 2
fi
src="$1"
out="${2:-data/realvideo}"

if ! command -v convert >/dev/null; then
  echo "needs ImageMagick's convert (apt-get install imagemagick)" >&2
  exit 1
fi
command -v git >/dev/null || { echo "needs git" >&2; exit 1; }

declare -A url=(
  [BADJA]=https://github.com/benjiebob/BADJA.git
  [dino-tracker]=https://github.com/AssafSinger94/dino-tracker.git
  [SAM2-Plus]=https://github.com/MCG-NJU/SAM2-Plus.git
  [JHMDBReadAnnotation]=https://github.com/JakaCikac/JHMDBReadAnnotation.git
  [Lpbox-ADMM]=https://github.com/wubaoyuan/Lpbox-ADMM.git
  [cs543_hw]=https://github.com/liuxianming/cs543_hw.git
)
if [[ $clone == 1 ]]; then
  mkdir -p "$src"
  for name in "${!url[@]}"; do
    [[ -e "$src/$name" ]] || git clone --depth 1 "${url[$name]}" "$src/$name"
  done
fi

# A repository folder: a clone, or a bare git directory (files are then read from its HEAD).
repo() {
  local d="$src/$1"
  [[ -d "$d" ]] && echo "$d"
}

args=(--out "$out" --format "$format")
if badja=$(repo BADJA); then
  davis=()
  seqs=()
  for name in dino-tracker EOR-VOS DAVIS SAM2-Plus; do
    if d=$(repo "$name"); then davis+=(--davis "$d"); fi
  done
  if [[ -n $(repo dino-tracker)$(repo EOR-VOS)$(repo DAVIS) ]]; then
    seqs+=(--badja-seq horsejump-high)
  else
    echo "skipping badja_horsejump-high: no dino-tracker, EOR-VOS or DAVIS in $src" >&2
  fi
  if [[ -n $(repo SAM2-Plus)$(repo DAVIS) ]]; then
    seqs+=(--badja-seq horsejump-low)
  else
    echo "skipping badja_horsejump-low: no SAM2-Plus or DAVIS in $src" >&2
  fi
  [[ ${#seqs[@]} -eq 0 ]] || args+=(--badja "$badja" "${seqs[@]}" "${davis[@]}")
else
  echo "skipping badja_horsejump-high and badja_horsejump-low: no BADJA in $src" >&2
fi
if j=$(repo JHMDBReadAnnotation); then
  args+=(--jhmdb "$j" jhmdb_goal_keeping_catch
         ReadJHMDBAnnotations/data/Goal_Keeping_Tips_catch_f_cm_np1_fr_med_2
         ReadJHMDBAnnotations/data/joint_positions.mat)
else
  echo "skipping jhmdb_goal_keeping_catch: no JHMDBReadAnnotation in $src" >&2
fi
if lp=$(repo Lpbox-ADMM); then
  labels=matlab/demo/matching/data/cmum/cmum.mat
  args+=(--cmum house "$lp" "$labels" "$lp" matlab/demo/matching/data/cmum/house/images)
  if hw=$(repo cs543_hw); then
    args+=(--cmum hotel "$lp" "$labels" "$hw" HM2/hw2_supp/tracking/images)
  else
    echo "skipping cmu_hotel: no cs543_hw in $src" >&2
  fi
else
  echo "skipping cmu_house and cmu_hotel: no Lpbox-ADMM in $src" >&2
fi

if [[ ${#args[@]} -le 4 ]]; then
  echo "no source repositories found in $src (see the clone commands at the top of $0)" >&2
  exit 1
fi
python3 "$here/real_video_to_clips.py" "${args[@]}"
du -sh "$out"
