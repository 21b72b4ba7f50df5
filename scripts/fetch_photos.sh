#!/usr/bin/env bash
# Builds a licence-clean collection of real PHOTOGRAPHS (landscapes, cities, animals, buildings,
# people, objects, natural textures) from Debian 12 packages, as textures for synthetic
# training/evaluation clips:
#
#   scripts/fetch_photos.sh [OUT_DIR]        (OUT_DIR defaults to data/photos; run as root or with
#                                             apt-get download working for the current user)
#
# What it does: `apt-get download`s the packages below into a temporary folder (nothing is
# installed), unpacks them with `dpkg-deb -x`, takes the photo files named below (logos, renders,
# paintings, drawings and abstract wallpapers in the same packages are left out on purpose) and
# converts each to a JPEG, longest side at most MAX_SIDE px (default 768; env MAX_SIDE=1024 for
# bigger ones), quality 90, 4:2:0 chroma, metadata stripped, alpha flattened on white, with
# ImageMagick's `convert` (installs the `imagemagick` package if /usr/bin/convert is missing).
# Two packages keep their photos inside containers: gcompris-qt-data (Qt .rcc resource files)
# and jigzo-data (.pzl puzzle files); the python3 snippet below (standard library only) unpacks
# them. Rerunning overwrites OUT_DIR/train, OUT_DIR/eval and OUT_DIR/SOURCES.txt (idempotent).
#
# Output: OUT_DIR/train/*.jpg, OUT_DIR/eval/*.jpg, OUT_DIR/SOURCES.txt (one tab-separated row per
# image: split, file, package, version, original path, licence, author/source). Names are
# <prefix>_<original name>.jpg using only [a-z0-9_-].
#
# Split (deterministic, by PACKAGE, so no eval photo shares a package or a source image with train;
# eval is about 25% of the photos):
#   train: endless-sky-data, lomiri-wallpapers-16.04, lomiri-wallpapers-20.04, lxqt-themes,
#          plasma-workspace-wallpapers, palapeli-data, jigzo-data, libjxl-testdata,
#          tuxpaint-data, sddm-theme-maldives
#          (landscapes, cities, space-station interiors, people at work, macro nature, textures,
#          objects, a few animals and buildings)
#   eval:  gcompris-qt-data (Wikimedia Commons photos: animals, monuments, underwater scenes,
#          musicians)
#
# Licences (from each package's /usr/share/doc/PKG/copyright; per-image detail in SOURCES.txt):
#   endless-sky-data          images/land, images/scene: public domain (morguefile.com and
#                             unsplash.com donations, NASA, USGS, Library of Congress), CC-BY-SA-3.0
#                             (Wikimedia Commons photographers: bwerner*, myrabella*, dmottl*,
#                             mfield*), CC-BY-SA-4.0 (contributors: *-sfiera, *-harro, *-striker,
#                             *-iridium, *-spfld, lava5). Where debian/copyright's globs overlap
#                             (e.g. "snow1*" vs "*-sfiera"), the stricter CC-BY-SA-4.0 is recorded.
#   gcompris-qt-data          debian/copyright: GPL-3+ for files it does not list; the upstream
#                             README shipped next to each image (inside the .rcc) gives the
#                             original photo's licence (CC0, public domain, CC-BY-2.0/3.0,
#                             CC-BY-SA-4.0) and author, which is what SOURCES.txt records.
#   lomiri-wallpapers-16.04   CC-BY-4.0, CC-BY-SA-4.0, CC0-1.0 (per file, with author)
#   lomiri-wallpapers-20.04   CC-BY-SA-3.0 (Kleiber, Lukas Baubkus)
#   lxqt-themes               LGPL-2.1+ (debian/copyright Files: *)
#   plasma-workspace-wallpapers GPL-2+ (debian/copyright); metadata.json: LGPLv3, with author
#   palapeli-data             GPL-2+ (debian/copyright); upstream .desktop: public domain / GFDL
#   jigzo-data                GPL-2+ (heli: GPL-2). penguin is CC-BY-NC-SA and is NOT used.
#   libjxl-testdata           BSD-3-clause-Google (flower, hdr_room); CC0 (external/wesaturate)
#   tuxpaint-data             GPL-2+ (templates photographed by Bill Kendrick, AUTHORS.txt)
#   sddm-theme-maldives       CC-BY-3.0 (background.jpg by Nevit Dilmen, Wikimedia Commons)
# CC-BY and CC-BY-SA photos need attribution (and share-alike for derived images) if
# redistributed: keep SOURCES.txt with the images.
#
# Never used (held out for independent evaluation): mate-backgrounds, python3-skimage,
# python3-scipy, python-matplotlib-data. None of the photos chosen here is a copy of one of theirs
# (checked once, by hand, with a 32x32 high-pass thumbnail correlation, whole image and centre
# crop, against those packages' images: best match 0.54, where a copy scores > 0.99).
set -euo pipefail

out=${1:-data/photos}
max_side=${MAX_SIDE:-768}
quality=90

train_pkgs=(endless-sky-data lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 lxqt-themes
            plasma-workspace-wallpapers palapeli-data jigzo-data libjxl-testdata tuxpaint-data
            sddm-theme-maldives)
eval_pkgs=(gcompris-qt-data)
pkgs=("${train_pkgs[@]}" "${eval_pkgs[@]}")
declare -A split_of
for p in "${train_pkgs[@]}"; do split_of[$p]="train"; done
for p in "${eval_pkgs[@]}"; do split_of[$p]="eval"; done

if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
  echo "fetch_photos: needs apt-get and dpkg-deb (Debian)" >&2; exit 1
fi
command -v python3 >/dev/null || { echo "fetch_photos: needs python3" >&2; exit 1; }
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
# /usr/local/bin/convert may be a stand-in on some machines: use ImageMagick's own binary.
if [ ! -x /usr/bin/convert ]; then
  echo "fetch_photos: installing imagemagick" >&2
  $sudo apt-get install -y imagemagick >/dev/null
fi
convert=/usr/bin/convert

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debs" "$work/x" "$work/extra"

echo "fetch_photos: downloading ${#pkgs[@]} packages"
apt_opts=(-q)
# as root, apt would warn that its _apt sandbox user cannot write into the private temp folder
if [ "$(id -u)" -eq 0 ]; then apt_opts+=(-o APT::Sandbox::User=root); fi
if ! (cd "$work/debs" && apt-get download "${apt_opts[@]}" "${pkgs[@]}" >/dev/null); then
  echo "fetch_photos: apt-get download failed; running apt-get update once and retrying" >&2
  $sudo apt-get update -q >/dev/null
  (cd "$work/debs" && apt-get download "${apt_opts[@]}" "${pkgs[@]}" >/dev/null)
fi
declare -A version
for p in "${pkgs[@]}"; do
  deb=$(ls "$work/debs/${p}"_*.deb)
  version[$p]=$(dpkg-deb -f "$deb" Version)
  mkdir -p "$work/x/$p"
  dpkg-deb -x "$deb" "$work/x/$p"
done

rm -rf "$out/train" "$out/eval" "$out/SOURCES.txt"
mkdir -p "$out/train" "$out/eval"
sources="$work/sources.tsv"
: > "$sources"
declare -A seen_name

# add PKG SRC NAME LICENCE ATTRIBUTION [extra convert options before the resize...]
# SRC is a path inside the unpacked package, or an absolute path under $work/extra for photos
# unpacked from containers (then ORIG=... names the original for SOURCES.txt).
add() {
  local pkg=$1 src=$2 name=$3 lic=$4 attr=$5
  local split=${split_of[$pkg]}
  shift 5
  local file
  if [[ $src == /* ]]; then file=$src; else file="$work/x/$pkg/$src"; fi
  [ -f "$file" ] || { echo "fetch_photos: missing $pkg:$src" >&2; exit 1; }
  name=$(printf '%s' "$name" | tr '[:upper:]' '[:lower:]' | sed -e 's/[^a-z0-9_-]/_/g' -e 's/__*/_/g' -e 's/^_//' -e 's/_$//')
  [ -z "${seen_name[$name]:-}" ] || { echo "fetch_photos: duplicate output name $name" >&2; exit 1; }
  seen_name[$name]=1
  "$convert" -quiet "${file}[0]" -auto-orient "$@" -background white -alpha remove -alpha off \
    -colorspace sRGB -depth 8 -resize "${max_side}x${max_side}>" -strip \
    -sampling-factor 4:2:0 -quality "$quality" "jpg:$out/$split/$name.jpg"
  local orig=${ORIG:-$src}
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$split" "$split/$name.jpg" "$pkg" "${version[$pkg]}" \
    "$orig" "$lic" "$attr" >> "$sources"
}

# ---------------------------------------------------------------- endless-sky-data (train)
# 720x360 landscape/city/space-station photos (images/land) and 540px Library of Congress and
# NASA photos (images/scene). Left out: land/nasa8, nasa9 (enhanced Jupiter images); scene/army0,
# eso0, geoscan, lobby, tempest (renders / artist impressions).
es_licence() {  # basename without .jpg -> "LICENCE<TAB>ATTRIBUTION", following debian/copyright
  local b=$1
  case $b in
    *-sfiera)   printf 'CC-BY-SA-4.0\tChris Pickel (sfiera.net)';;
    *-striker)  printf 'CC-BY-SA-4.0\tMichael Wilso';;
    *-harro)    printf 'CC-BY-SA-4.0\t@harro.eu';;
    *-iridium)  printf 'CC-BY-SA-4.0\t@Iridium Ore';;
    *-spfld)    printf 'CC-BY-SA-4.0\tEric Denni';;
    bwerner*)   printf 'CC-BY-SA-3.0\tBerthold Werner (Wikimedia Commons), cropped and edited';;
    myrabella*) printf 'CC-BY-SA-3.0\tMyrabella (Wikimedia Commons), cropped and edited';;
    dmottl*)    printf 'CC-BY-SA-3.0\tDmitry A. Mottl (Wikimedia Commons), cropped and edited';;
    mfield*)    printf 'CC-BY-SA-3.0\tMatthew Field (Wikimedia Commons), cropped and edited';;
    lava5)      printf 'CC-BY-SA-4.0\tMichael Zahniser';;
    lava0)      printf 'public-domain\tUSGS';;
    desert0*|earthrise*|nasa*|space*|station[1-4]*)   # (space2 is also in the unsplash list;
                printf 'public-domain\tNASA';;        #  the later NASA stanza wins)
    badlands[0578]|beach[023456]|canyon0*|canyon7|city4|city6|city8|city9|city1[012]|desert[12]| \
    fields[125679]|fog[024]|forest[1-5]|hills2|lava[126]|mountain1|mountain[3-9]|sea[38]| \
    sky[023789]|snow[0-4]|snow[67]|snow10|water[08])
                printf 'public-domain\tunsplash.com donation (per debian/copyright)';;
    *)          printf 'public-domain\tmorguefile.com donation (per debian/copyright)';;
  esac
}
es=usr/share/games/endless-sky/images
for f in "$work/x/endless-sky-data/$es"/land/*.jpg; do
  b=$(basename "$f" .jpg)
  case $b in nasa8|nasa9) continue;; esac
  IFS=$'\t' read -r lic attr < <(es_licence "$b"; echo)
  add endless-sky-data "$es/land/$b.jpg" "es_$b" "$lic" "$attr"
done
for b in loc0 loc1 loc2 loc3 loc4 loc5 loc6 loc7 loc8 loc9; do
  add endless-sky-data "$es/scene/$b.jpg" "es_scene_$b" public-domain "Library of Congress"
done
for b in engine engine2; do
  add endless-sky-data "$es/scene/$b.jpg" "es_scene_$b" public-domain NASA
done

# ---------------------------------------------------------------- gcompris-qt-data (eval)
# Wikimedia Commons photos (animals, monuments, underwater, musicians) inside Qt resource files.
# Only the photo folders are taken (drawings, SVGs, paintings and the small 320px categorisation
# images are not).
python3 - "$work/x/gcompris-qt-data/usr/share/gcompris-qt/rcc" "$work/extra/gcompris" \
  > "$work/gcompris.tsv" <<'PY'
import os, re, struct, sys, zlib
rcc_dir, out_dir = sys.argv[1], sys.argv[2]
# rcc file -> regex on the path inside it (relative to .../resource/)
want = {
    'erase': r'[^/]+\.webp',
    'explore_monuments': r'[^/]+/[^/]+\.webp',
    'explore_world_animals': r'animals/[^/]+\.webp',
    'explore_farm_animals': r'animals/[^/]+\.webp',
    'clickgame': r'sea\d+\.webp',
    'explore_world_music': r'music/[^/]+\.webp',
}
def entries(path):
    d = open(path, 'rb').read()
    if d[:4] != b'qres':
        raise SystemExit('not an rcc file: ' + path)
    ver, tree, data, names = struct.unpack('>IIII', d[4:20])
    esz = 22 if ver >= 2 else 14
    def name(off):
        n, = struct.unpack('>H', d[names + off:names + off + 2])
        return d[names + off + 6:names + off + 6 + 2 * n].decode('utf-16-be')
    out = []
    def walk(i, prefix):
        p = tree + i * esz
        noff, flags = struct.unpack('>IH', d[p:p + 6])
        nm = name(noff) if i else ''
        if flags & 2:                                   # directory
            cnt, first = struct.unpack('>II', d[p + 6:p + 14])
            for c in range(cnt):
                walk(first + c, prefix + nm + '/')
        else:
            doff, = struct.unpack('>I', d[p + 10:p + 14])
            q = data + doff
            sz, = struct.unpack('>I', d[q:q + 4])
            blob = d[q + 4:q + 4 + sz]
            if flags & 4:
                raise SystemExit('zstd-compressed rcc entry not supported: ' + nm)
            if flags & 1:
                blob = zlib.decompress(blob[4:])     # qCompress: 4-byte size + zlib stream
            out.append((prefix + nm, blob))
    walk(0, '')
    return out
def readme_licences(text):
    """upstream README blocks: Copyright:/License:/Source: lines plus the file names they cover"""
    info = {}
    for block in re.split(r'\n\s*\n', text):
        keys, files = {}, []
        for line in block.splitlines():
            m = re.match(r'\s*(Copyright|License|Source|Files|Comments?)\s*:\s*(.*)$', line)
            if m:
                keys[m.group(1)] = m.group(2).strip()
                rest = m.group(2).strip()
                if m.group(1) == 'Files' and rest:
                    files += rest.split()
            else:
                files += [t for t in line.split() if re.match(r'^[\w./-]+\.\w+$', t)]
        for f in files:
            info[os.path.basename(f)] = keys
    return info
for rcc, pattern in want.items():
    ents = entries(os.path.join(rcc_dir, rcc + '.rcc'))
    lic = {}
    for n, b in ents:
        if n.endswith('/README'):
            lic.update(readme_licences(b.decode('utf-8', 'replace')))
    for n, b in sorted(ents):
        rel = n.split('/resource/', 1)[-1]
        if not re.fullmatch(pattern, rel):
            continue
        dst = os.path.join(out_dir, rcc, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        open(dst, 'wb').write(b)
        b = os.path.basename(rel)
        k = lic.get(b) or lic.get({'aulaPalatina.webp': 'audaPalatina.webp'}.get(b, ''), {})  # README typo
        licence = k.get('License', '').strip().replace(' ', '-') or 'GPL-3+'
        if licence.lower().startswith('public'):
            licence = 'public-domain'
        attr = '; '.join(x for x in (k.get('Copyright', ''), k.get('Source', '')) if x) \
            or 'no upstream README entry; debian/copyright Files: * (GPL-3+)'
        print('\t'.join([dst, 'usr/share/gcompris-qt/rcc/%s.rcc:%s' % (rcc, n), rcc,
                         os.path.splitext(rel)[0].replace('/', '_'), licence, attr]))
PY
while IFS=$'\t' read -r path orig rcc stem lic attr; do
  ORIG=$orig add gcompris-qt-data "$path" "gc_${rcc}_${stem}" "$lic" "$attr"
done < "$work/gcompris.tsv"

# ---------------------------------------------------------------- smaller train packages
lw=usr/share/backgrounds
while IFS='|' read -r file lic attr; do
  add lomiri-wallpapers-16.04 "$lw/$file" "lomiri_${file%_by_*}" "$lic" "$attr"
done <<'EOF'
aitzgorri_by_Aitzol_Berasategi.jpg|CC-BY-4.0|Aitzol Berasategi, 2018
Bridge_by_Sander_Klootwijk.jpg|CC-BY-SA-4.0|Sander Klootwijk, 2018
Dragonfly_by_Bolly.jpg|CC-BY-SA-4.0|"Bolly", 2018
free_by_Peter_Nerlich.jpg|CC-BY-SA-4.0|Peter Nerlich, 2018
friends_by_Aitzol_Berasategi.jpg|CC-BY-4.0|Aitzol Berasategi, 2018
greentock_by_Peter_Nerlich.jpg|CC-BY-SA-4.0|Peter Nerlich, 2018
life_by_Aitzol_Berasategi.jpg|CC-BY-4.0|Aitzol Berasategi, 2018
picosdeeuropa_by_Aitzol_Berasategi.jpg|CC-BY-4.0|Aitzol Berasategi, 2018
Picture_0B_by_freespace.jpg|CC-BY-4.0|Trevor "Freespace", 2018
Picture_1A_by_freespace.jpg|CC-BY-4.0|Trevor "Freespace", 2018
seeding_by_Clements_Engelhardt.jpg|CC0-1.0|Clemens Engelhardt, 2018
sunset_by_Aitzol_Berasategi.jpg|CC-BY-4.0|Aitzol Berasategi, 2018
Wine_by_Jakkub_Mede.jpg|CC-BY-4.0|Jakub Mede, 2018
EOF
# (left out: umang and analogpattern, abstract)
add lomiri-wallpapers-20.04 "$lw/Kleiber_by_Lukas_Baubkus.jpg" lomiri_kleiber CC-BY-SA-3.0 \
  "Lukas Baubkus, 2021"   # (left out: Fossa, Infinite-Sea, Painting-Colors: renders/abstract)

# lxqt-themes: the photographic wallpapers (left out: the logo/origami/triangle/wave renders)
for f in Butterfly-Kenneth-Wimer.jpg Valendas.png after-the-rain.jpg appleflower.png beam.png \
         butterfly.png cloud.png drop.png flowers.png fog.jpg this-is-not-windows.jpg; do
  add lxqt-themes "usr/share/lxqt/wallpapers/$f" "lxqt_${f%.*}" LGPL-2.1+ \
    "LXQt team (debian/copyright Files: *)"
done

# plasma-workspace-wallpapers: photos only (most Plasma wallpapers are renders), largest size
while IFS='|' read -r w lic attr; do
  dir="$work/x/plasma-workspace-wallpapers/usr/share/wallpapers/$w/contents/images"
  # shellcheck disable=SC2012  # (plain file names; largest file = largest size)
  f=$(ls -S "$dir" | head -n 1)
  add plasma-workspace-wallpapers "usr/share/wallpapers/$w/contents/images/$f" "plasma_$w" \
    "$lic" "$attr"
done <<'EOF'
BytheWater|GPL-2+ (debian/copyright); LGPLv3 (metadata.json)|Maciej Wiklo
ColdRipple|GPL-2+ (debian/copyright); LGPLv3 (metadata.json)|Risto Saukonpää
ColorfulCups|GPL-2+ (debian/copyright); LGPLv3 (metadata.json)|Dmitri Popov
DarkestHour|GPL-2+ (debian/copyright); LGPLv3 (metadata.json)|Risto Saukonpää
EveningGlow|GPL-2+ (debian/copyright); LGPLv3 (metadata.json)|Ian Hex
FallenLeaf|GPL-2+ (debian/copyright); LGPLv3 (metadata.json)|Martin Klapetek
Grey|GPL-2+ (debian/copyright); LGPLv3 (metadata.json)|Sigi Sagi
Kite|GPL-2+ (debian/copyright); LGPLv3 (metadata.json)|Risto Saukonpää
OneStandsOut|GPL-2+ (debian/copyright); LGPLv3 (metadata.json)|Risto Saukonpää
Path|GPL-2+ (debian/copyright); LGPLv3 (metadata.json)|Risto Saukonpää
summer_1am|GPL-2+ (debian/copyright); LGPLv3 (metadata.json)|Risto Saukonpää
EOF

# palapeli-data: the five default puzzle photos
while IFS='|' read -r f lic attr; do
  add palapeli-data "usr/share/palapeli/collection/$f.jpg" "palapeli_$f" "$lic" "$attr"
done <<'EOF'
castle-maintenon|GPL-2+ (debian/copyright); GFDL (upstream .desktop)|Eric Pouhier
cincinnati-bridge|GPL-2+ (debian/copyright); public domain (upstream .desktop)|Derek Jensen
citrus-fruits|GPL-2+ (debian/copyright); public domain (upstream .desktop)|US Department of Agriculture
european-honey-bee|GPL-2+ (debian/copyright); public domain (upstream .desktop)|John Severns
panther-chameleon-female|GPL-2+ (debian/copyright); GNU-FDL (upstream .desktop)|B. Navez and others
EOF

# jigzo-data: each .pzl holds a thumbnail, piece masks and the full 640x480-ish photo (last JPEG
# in the file) as a 1024x1024 texture atlas whose "image 0 0 W H" line gives the photo's corner.
python3 - "$work/x/jigzo-data/usr/share/games/jigzo/puzzles/00_default" "$work/extra/jigzo" \
  > "$work/jigzo.tsv" <<'PY'
import os, re, sys
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
for f in sorted(os.listdir(src)):
    if not f.endswith('.pzl') or f.startswith('penguin'):     # penguin: CC-BY-NC-SA, not free
        continue
    d = open(os.path.join(src, f), 'rb').read()
    m = re.search(rb'\nimage 0 0 (\d+) (\d+)', d)
    full = [x for x in re.finditer(rb'([A-Za-z0-9_.-]{1,64}\.jpg)\n(\d+)\n', d)
            if x.end() + int(x.group(2)) == len(d)]
    if not m or not full or d[full[-1].end():full[-1].end() + 3] != b'\xff\xd8\xff':
        raise SystemExit('unexpected jigzo puzzle layout: ' + f)
    out = os.path.join(dst, f[:-4] + '.jpg')
    open(out, 'wb').write(d[full[-1].end():])
    w, h = int(m.group(1)) - 2, int(m.group(2)) - 2          # drop the 1 px atlas border
    print('\t'.join([out, f, f[:-4].rsplit('-', 1)[0], '%dx%d+0+0' % (w, h)]))
PY
while IFS=$'\t' read -r path pzl stem crop; do
  lic=GPL-2+; [ "$stem" = heli ] && lic=GPL-2
  attr="Maarten de Boer (jigzo)"; [ "$stem" = heli ] && attr="Joana Clotet"
  ORIG="usr/share/games/jigzo/puzzles/00_default/$pzl" \
    add jigzo-data "$path" "jigzo_$stem" "$lic" "$attr" -crop "$crop" +repage
done < "$work/jigzo.tsv"

# libjxl-testdata: the photographs among the codec test images
jx=usr/share/libjxl-testdata
add libjxl-testdata "$jx/jxl/flower/flower.png" jxl_flower BSD-3-clause-Google \
  "the JPEG XL Project Authors"
add libjxl-testdata "$jx/jxl/hdr_room.png" jxl_hdr_room BSD-3-clause-Google \
  "the JPEG XL Project Authors"
for f in cvo9xd_keong_macan tmshre_riaphotographs u76c0g_bliznaca; do
  add libjxl-testdata "$jx/external/wesaturate/500px/${f}_srgb8.png" "jxl_$f" CC0-1.0 \
    "wesaturate (external/wesaturate)"
done

# tuxpaint-data: the photographic templates (all by Bill Kendrick)
for f in burnt_bark cliff corn_maze jellyfish lighthouse mossy_bark mossy_log mudstone \
         ocean_splash ocean_waves redwoods_above rocks sheep spiders_web sun_behind_clouds \
         sun_behind_leaves trees_above trees_at_dusk wool_mill_machine; do
  trim=(); [ "$f" = mossy_bark ] && trim=(-fuzz 10% -trim +repage)   # black letterbox bars
  add tuxpaint-data "usr/share/tuxpaint/templates/$f.jpg" "tuxpaint_$f" GPL-2+ \
    "Bill Kendrick (AUTHORS.txt)" "${trim[@]}"
done

add sddm-theme-maldives usr/share/sddm/themes/maldives/background.jpg sddm_maldives \
  CC-BY-3.0 "Nevit Dilmen, 2008 (commons.wikimedia.org/wiki/User:Nevit)"

# ---------------------------------------------------------------- SOURCES.txt
n_train=$(find "$out/train" -name '*.jpg' | wc -l)
n_eval=$(find "$out/eval" -name '*.jpg' | wc -l)
{
  echo "# Photographs from Debian 12 packages, made by scripts/fetch_photos.sh"
  echo "# longest side <= ${max_side} px, JPEG quality ${quality}; train ${n_train}, eval ${n_eval} (split by package)"
  echo "# Packages: $(for p in "${pkgs[@]}"; do printf '%s=%s ' "$p" "${version[$p]}"; done)"
  echo "# CC-BY / CC-BY-SA images need the attribution below when redistributed."
  printf 'split\tfile\tpackage\tversion\toriginal_path\tlicence\tauthor_or_source\n'
  cat "$sources"
} > "$out/SOURCES.txt"
echo "fetch_photos: wrote $n_train train and $n_eval eval photos to $out ($(du -sh "$out" | cut -f1))"
