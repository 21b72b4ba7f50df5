// Clip directories on disk: frames/NNNNNN.ppm (binary PPM), gt.csv and points.csv; write_clip(),
// read_clip_frames() and read_clip(). See include/cotrack/synth.hpp.
#include "cotrack/synth.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "cotrack/error.hpp"

namespace cotrack {
namespace {

namespace fs = std::filesystem;

// ---- clip files -------------------------------------------------------------------------------

std::string frame_path(const fs::path& dir, int t) {
  return (dir / "frames" / fmt::format("{:06d}.ppm", t)).string();
}

void write_file(const std::string& path, const char* data, std::size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    throw Error(ExitCode::kRuntime, fmt::format("{}: cannot open for writing", path));
  }
  const bool ok = std::fwrite(data, 1, size, f) == size;
  if (std::fclose(f) != 0 || !ok) {
    throw Error(ExitCode::kRuntime, fmt::format("{}: write failed", path));
  }
}

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open", path));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw InputError(fmt::format("{}: read error", path));
  return data;
}

struct PpmImage {
  int width = 0;
  int height = 0;
  std::string_view pixels;  // into the file data, width * height * 3 bytes
};

// Parses a binary PPM (P6, maxval 255) held in `data`.
PpmImage parse_ppm(const std::string& path, const std::string& data) {
  std::size_t pos = 0;
  auto skip_space = [&] {
    while (pos < data.size()) {
      const char c = data[pos];
      if (c == '#') {
        while (pos < data.size() && data[pos] != '\n') ++pos;
      } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++pos;
      } else {
        break;
      }
    }
  };
  auto read_int = [&](const char* what) {
    skip_space();
    int value = 0;
    const auto res = std::from_chars(data.data() + pos, data.data() + data.size(), value);
    if (res.ec != std::errc() || value <= 0) {
      throw InputError(
          fmt::format("{}: bad PPM header ({} is not a positive integer)", path, what));
    }
    pos = static_cast<std::size_t>(res.ptr - data.data());
    return value;
  };
  if (data.size() < 2 || data[0] != 'P' || data[1] != '6') {
    throw InputError(fmt::format("{}: not a binary PPM (expected magic 'P6')", path));
  }
  pos = 2;
  PpmImage img;
  img.width = read_int("width");
  img.height = read_int("height");
  const int maxval = read_int("maxval");
  if (maxval != 255) {
    throw InputError(fmt::format("{}: PPM maxval {} unsupported (expected 255)", path, maxval));
  }
  if (pos >= data.size() || !std::isspace(static_cast<unsigned char>(data[pos]))) {
    throw InputError(fmt::format("{}: bad PPM header (no whitespace after maxval)", path));
  }
  ++pos;
  const std::size_t expected = static_cast<std::size_t>(img.width) * img.height * 3;
  if (data.size() - pos != expected) {
    throw InputError(fmt::format("{}: PPM {}x{} needs {} pixel bytes, file has {}", path, img.width,
                                 img.height, expected, data.size() - pos));
  }
  img.pixels = std::string_view(data).substr(pos);
  return img;
}

// Line-by-line CSV reader with a fixed header; rows are split on ','.
class CsvReader {
 public:
  CsvReader(std::string path, const std::string& header) : path_(std::move(path)), in_(path_) {
    if (!in_) throw InputError(fmt::format("{}: cannot open", path_));
    std::string line;
    if (!next_line(line)) throw InputError(fmt::format("{}: empty file (no header)", path_));
    if (line != header) {
      throw InputError(
          fmt::format("{}:{}: expected header '{}', got '{}'", path_, line_, header, line));
    }
  }

  // Next non-empty row, split into fields; false at the end of the file.
  bool next(std::vector<std::string_view>& fields) {
    while (next_line(current_)) {
      if (current_.empty()) continue;
      fields.clear();
      std::size_t start = 0;
      while (true) {
        const std::size_t comma = current_.find(',', start);
        fields.emplace_back(std::string_view(current_).substr(start, comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      return true;
    }
    if (in_.bad()) throw InputError(fmt::format("{}: read error", path_));
    return false;
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw InputError(fmt::format("{}:{}: {}", path_, line_, why));
  }

  long long parse_int(std::string_view s, const char* what) const {
    long long v = 0;
    const auto res = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || res.ec != std::errc() || res.ptr != s.data() + s.size()) {
      fail(fmt::format("{} '{}' is not an integer", what, s));
    }
    return v;
  }

  double parse_float(std::string_view s, const char* what) const {
    double v = 0.0;
    const auto res = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || res.ec != std::errc() || res.ptr != s.data() + s.size() || !std::isfinite(v)) {
      fail(fmt::format("{} '{}' is not a finite number", what, s));
    }
    return v;
  }

  const std::string& path() const { return path_; }
  int line() const { return line_; }

 private:
  bool next_line(std::string& line) {
    if (!std::getline(in_, line)) return false;
    ++line_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
  }

  std::string path_;
  std::ifstream in_;
  std::string current_;
  int line_ = 0;
};

}  // namespace

// ---- public API -------------------------------------------------------------------------------

void SynthClip::validate_shapes() const {
  if (width <= 0 || height <= 0 || frames <= 0 || num_points < 0) {
    throw InputError(fmt::format("synth clip: bad dimensions {}x{}, {} frames, {} points", width,
                                 height, frames, num_points));
  }
  const std::size_t tn = static_cast<std::size_t>(frames) * num_points;
  auto check = [](const char* name, std::size_t actual, std::size_t expected) {
    if (actual != expected) {
      throw InputError(
          fmt::format("synth clip: {} has {} values, expected {}", name, actual, expected));
    }
  };
  check("rgb", rgb.size(), frame_size() * frames);
  check("tracks", tracks.size(), 2 * tn);
  check("visible", visible.size(), tn);
  check("query_frame", query_frame.size(), static_cast<std::size_t>(num_points));
  check("layer", layer.size(), static_cast<std::size_t>(num_points));
  if (!annotated.empty()) check("annotated", annotated.size(), tn);
  for (int n = 0; n < num_points; ++n) {
    if (query_frame[n] < 0 || query_frame[n] >= frames) {
      throw InputError(fmt::format("synth clip: point {} has query frame {} outside [0, {})", n,
                                   query_frame[n], frames));
    }
    if (!is_annotated(query_frame[n], n)) {
      throw InputError(fmt::format("synth clip: point {} has no ground truth at its query frame {}",
                                   n, query_frame[n]));
    }
  }
}

void write_clip(const SynthClip& clip, const std::string& dir) {
  clip.validate_shapes();
  const fs::path root(dir);
  std::error_code ec;
  fs::create_directories(root / "frames", ec);
  if (ec) {
    throw Error(ExitCode::kRuntime, fmt::format("{}: cannot create directory: {}",
                                                (root / "frames").string(), ec.message()));
  }
  const std::string header = fmt::format("P6\n{} {}\n255\n", clip.width, clip.height);
  std::string data;
  for (int t = 0; t < clip.frames; ++t) {
    data.assign(header);
    data.append(reinterpret_cast<const char*>(clip.frame(t)), clip.frame_size());
    write_file(frame_path(root, t), data.data(), data.size());
  }
  // Frames left over from a longer clip would be read back as part of this one.
  for (int t = clip.frames;; ++t) {
    const std::string stale = frame_path(root, t);
    if (!fs::exists(stale, ec)) break;
    if (!fs::remove(stale, ec)) {
      throw Error(ExitCode::kRuntime, fmt::format("{}: cannot remove stale frame", stale));
    }
  }
  fmt::memory_buffer gt;
  fmt::format_to(std::back_inserter(gt), "point_id,frame,x,y,visible\n");
  for (int n = 0; n < clip.num_points; ++n) {
    for (int t = 0; t < clip.frames; ++t) {
      if (!clip.is_annotated(t, n)) continue;
      fmt::format_to(std::back_inserter(gt), "{},{},{:.4f},{:.4f},{}\n", n, t, clip.x(t, n),
                     clip.y(t, n), clip.is_visible(t, n) ? 1 : 0);
    }
  }
  write_file((root / "gt.csv").string(), gt.data(), gt.size());
  fmt::memory_buffer pts;
  fmt::format_to(std::back_inserter(pts), "point_id,frame,x,y\n");
  for (int n = 0; n < clip.num_points; ++n) {
    const int q = clip.query_frame[n];
    fmt::format_to(std::back_inserter(pts), "{},{},{:.4f},{:.4f}\n", n, q, clip.x(q, n),
                   clip.y(q, n));
  }
  write_file((root / "points.csv").string(), pts.data(), pts.size());
}

VideoFrames read_clip_frames(const std::string& dir) {
  const fs::path root(dir);
  VideoFrames video;
  std::error_code ec;
  for (int t = 0;; ++t) {
    const std::string path = frame_path(root, t);
    if (!fs::exists(path, ec)) {
      if (t == 0) throw InputError(fmt::format("{}: missing (a clip needs frame 0)", path));
      break;
    }
    const std::string data = read_whole_file(path);
    const PpmImage img = parse_ppm(path, data);
    if (t == 0) {
      video.width = img.width;
      video.height = img.height;
    } else if (img.width != video.width || img.height != video.height) {
      throw InputError(fmt::format("{}: frame is {}x{}, frame 0 is {}x{}", path, img.width,
                                   img.height, video.width, video.height));
    }
    video.rgb.insert(video.rgb.end(), img.pixels.begin(), img.pixels.end());
    video.count = t + 1;
  }
  return video;
}

SynthClip read_clip(const std::string& dir) { return read_clip(dir, read_clip_frames(dir)); }

SynthClip read_clip(const std::string& dir, const VideoFrames& video) {
  const fs::path root(dir);
  SynthClip clip;
  clip.width = video.width;
  clip.height = video.height;
  clip.frames = video.count;
  clip.rgb = video.rgb;
  if (clip.frames < 1 || clip.rgb.size() != clip.frame_size() * clip.frames) {
    throw InputError(fmt::format("{}: the clip has no frames", dir));
  }
  const int frames = clip.frames;

  struct Row {
    long long n;
    int t;
    float x;
    float y;
    bool visible;
    int line;
  };
  std::vector<Row> rows;
  std::vector<std::string_view> f;
  CsvReader gt((root / "gt.csv").string(), "point_id,frame,x,y,visible");
  long long max_id = -1;
  while (gt.next(f)) {
    if (f.size() != 5) {
      gt.fail(fmt::format("expected 5 fields (point_id,frame,x,y,visible), got {}", f.size()));
    }
    Row r;
    r.n = gt.parse_int(f[0], "point_id");
    const long long t = gt.parse_int(f[1], "frame");
    r.x = static_cast<float>(gt.parse_float(f[2], "x"));
    r.y = static_cast<float>(gt.parse_float(f[3], "y"));
    const long long vis = gt.parse_int(f[4], "visible");
    if (r.n < 0) gt.fail(fmt::format("point_id {} is negative", r.n));
    if (t < 0 || t >= frames) {
      gt.fail(fmt::format("frame {} outside [0, {}) (the clip has {} frames)", t, frames, frames));
    }
    if (vis != 0 && vis != 1) gt.fail(fmt::format("visible {} is not 0 or 1", vis));
    r.t = static_cast<int>(t);
    r.visible = vis == 1;
    r.line = gt.line();
    max_id = std::max(max_id, r.n);
    rows.push_back(r);
  }
  const long long num_points = max_id + 1;
  // Checked before allocating N x T: every point needs a row, so there are at most `rows` points,
  // and the dense [T][N] arrays must stay within reason for sparse files too.
  constexpr long long kMaxEntries = 1LL << 28;  // T x N
  if (num_points > static_cast<long long>(rows.size())) {
    throw InputError(
        fmt::format("{}: point_id {} implies {} points, but the file has only {} "
                    "rows (every point needs at least one)",
                    gt.path(), max_id, num_points, rows.size()));
  }
  if (num_points * frames > kMaxEntries) {
    throw InputError(fmt::format("{}: {} points x {} frames exceeds the limit of {} entries",
                                 gt.path(), num_points, frames, kMaxEntries));
  }
  clip.num_points = static_cast<int>(num_points);
  const std::size_t tn = static_cast<std::size_t>(num_points) * frames;
  clip.tracks.assign(2 * tn, 0.0f);
  clip.visible.assign(tn, 0);
  std::vector<int> seen_line(tn, 0);
  std::vector<int> first_line(static_cast<std::size_t>(num_points), 0);  // 0 = no row yet
  for (const Row& r : rows) {
    const std::size_t i = clip.index(r.t, static_cast<int>(r.n));
    if (seen_line[i] != 0) {
      throw InputError(fmt::format("{}:{}: duplicate row for point {} frame {} (first on line {})",
                                   gt.path(), r.line, r.n, r.t, seen_line[i]));
    }
    seen_line[i] = r.line;
    if (first_line[r.n] == 0) first_line[r.n] = r.line;
    clip.tracks[2 * i] = r.x;
    clip.tracks[2 * i + 1] = r.y;
    clip.visible[i] = r.visible ? 1 : 0;
  }
  for (int n = 0; n < clip.num_points; ++n) {
    if (first_line[n] == 0) {
      throw InputError(
          fmt::format("{}: no row for point {} (point ids must run from 0 to {} "
                      "without gaps)",
                      gt.path(), n, max_id));
    }
  }
  // Sparse ground truth: the (t, n) without a row are not annotated.
  if (rows.size() != tn) {
    clip.annotated.resize(tn);
    for (std::size_t i = 0; i < tn; ++i) clip.annotated[i] = seen_line[i] != 0 ? 1 : 0;
  }

  CsvReader pts((root / "points.csv").string(), "point_id,frame,x,y");
  clip.query_frame.assign(clip.num_points, -1);
  clip.layer.assign(clip.num_points, -1);
  while (pts.next(f)) {
    if (f.size() != 4) {
      pts.fail(fmt::format("expected 4 fields (point_id,frame,x,y), got {}", f.size()));
    }
    const long long n = pts.parse_int(f[0], "point_id");
    const long long t = pts.parse_int(f[1], "frame");
    pts.parse_float(f[2], "x");
    pts.parse_float(f[3], "y");
    if (n < 0 || n >= clip.num_points) {
      pts.fail(fmt::format("point_id {} not in gt.csv (which has points 0..{})", n,
                           clip.num_points - 1));
    }
    if (t < 0 || t >= frames) pts.fail(fmt::format("frame {} outside [0, {})", t, frames));
    if (clip.query_frame[n] >= 0) pts.fail(fmt::format("duplicate row for point {}", n));
    if (!clip.is_annotated(static_cast<int>(t), static_cast<int>(n))) {
      pts.fail(
          fmt::format("point {} is queried on frame {}, where gt.csv has no row for it", n, t));
    }
    clip.query_frame[n] = static_cast<int>(t);
  }
  for (int n = 0; n < clip.num_points; ++n) {
    if (clip.query_frame[n] < 0) {
      throw InputError(fmt::format("{}: no row for point {}", pts.path(), n));
    }
  }
  return clip;
}

}  // namespace cotrack
