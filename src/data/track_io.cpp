#include "cotrack/track_io.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <sstream>

#include "cotrack/error.hpp"

namespace cotrack {
namespace {

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  std::istringstream ss(line);
  while (std::getline(ss, cell, ',')) out.push_back(cell);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

double parse_number(const std::string& text, const std::string& where) {
  const std::string t = trim(text);
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(t, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (t.empty() || used != t.size() || !std::isfinite(v)) {
    throw InputError(fmt::format("{}: '{}' is not a finite number", where, text));
  }
  return v;
}

// Calls `row(cells, where)` for each data row of a CSV file after checking its header with
// `header(cells, where)`; skips blank and '#' lines; `where` is "path:line". An empty file or a
// missing one is an InputError.
void for_each_csv_row(
    const std::string& path,
    const std::function<void(const std::vector<std::string>&, const std::string&)>& header,
    const std::function<void(const std::vector<std::string>&, const std::string&)>& row) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot open", path));
  std::string line;
  int line_no = 0;
  bool header_seen = false;
  while (std::getline(in, line)) {
    ++line_no;
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cells = split_csv(line);
    for (auto& c : cells) c = trim(c);
    const std::string where = fmt::format("{}:{}", path, line_no);
    if (!header_seen) {
      header_seen = true;
      header(cells, where);
    } else {
      row(cells, where);
    }
  }
  if (!header_seen) throw InputError(fmt::format("{}: empty file", path));
}

std::vector<int> default_ids(const std::vector<int>& ids, int points, const std::string& path) {
  if (ids.empty()) {
    std::vector<int> out(points);
    for (int i = 0; i < points; ++i) out[i] = i;
    return out;
  }
  if (static_cast<int>(ids.size()) != points) {
    throw Error(ExitCode::kRuntime, fmt::format("{}: {} ids for {} points", path, ids.size(), points));
  }
  return ids;
}

// Writes through `body` into path.tmp, then renames it over `path`.
template <typename Body>
void write_atomically(const std::string& path, Body body) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw Error(ExitCode::kRuntime, fmt::format("{}: cannot open for writing", path));
  body(f);
  const bool ok = std::fflush(f) == 0 && !std::ferror(f);
  std::fclose(f);
  std::error_code ec;
  if (!ok) {
    std::filesystem::remove(tmp, ec);
    throw Error(ExitCode::kRuntime, fmt::format("{}: write failed (disk full?)", path));
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error(ExitCode::kRuntime, fmt::format("{}: {}", path, ec.message()));
}

}  // namespace

std::vector<PointQuery> read_points_csv(const std::string& path, std::vector<int>* ids) {
  std::vector<PointQuery> out;
  if (ids) ids->clear();
  for_each_csv_row(
      path,
      [](const std::vector<std::string>& cells, const std::string& where) {
        if (cells != std::vector<std::string>{"point_id", "frame", "x", "y"}) {
          throw InputError(fmt::format("{}: expected the header 'point_id,frame,x,y'", where));
        }
      },
      [&](const std::vector<std::string>& cells, const std::string& where) {
        if (cells.size() != 4) {
          throw InputError(fmt::format("{}: expected 4 columns, got {}", where, cells.size()));
        }
        const double id = parse_number(cells[0], where), frame = parse_number(cells[1], where);
        if (id != std::floor(id) || frame != std::floor(frame) || frame < 0 || frame > 1e9 ||
            std::abs(id) > 2e9) {
          throw InputError(
              fmt::format("{}: point_id and frame must be integers, frame >= 0", where));
        }
        PointQuery q;
        q.frame = static_cast<int>(frame);
        q.x_px = static_cast<float>(parse_number(cells[2], where));
        q.y_px = static_cast<float>(parse_number(cells[3], where));
        out.push_back(q);
        if (ids) ids->push_back(static_cast<int>(id));
      });
  return out;
}

TrackTable read_tracks_csv(const std::string& path, const std::vector<int>& point_ids,
                           int frames) {
  std::map<int, int> column;
  for (size_t i = 0; i < point_ids.size(); ++i) column[point_ids[i]] = static_cast<int>(i);
  TrackTable t;
  t.frames = frames;
  t.points = static_cast<int>(point_ids.size());
  const size_t n = static_cast<size_t>(frames) * t.points;
  t.x_px.assign(n, 0.f);
  t.y_px.assign(n, 0.f);
  t.visibility.assign(n, 0.f);
  t.confidence.assign(n, 0.f);
  t.visible.assign(n, 0);
  std::vector<uint8_t> seen(n, 0);
  bool has_conf = false;
  for_each_csv_row(
      path,
      [&](const std::vector<std::string>& cells, const std::string& where) {
        const std::vector<std::string> base{"point_id", "frame", "x", "y", "visible"};
        has_conf = cells.size() == 6 && cells[5] == "confidence";
        if (cells.size() < 5 || !std::equal(base.begin(), base.end(), cells.begin()) ||
            (cells.size() == 6 && !has_conf) || cells.size() > 6) {
          throw InputError(fmt::format(
              "{}: expected the header 'point_id,frame,x,y,visible[,confidence]'", where));
        }
      },
      [&](const std::vector<std::string>& cells, const std::string& where) {
        if (cells.size() != (has_conf ? 6u : 5u)) {
          throw InputError(fmt::format("{}: expected {} columns", where, has_conf ? 6 : 5));
        }
        const double id = parse_number(cells[0], where), f = parse_number(cells[1], where);
        // Only integral ids in int range may be cast (anything else is undefined behaviour).
        const bool is_int = id == std::floor(id) && std::abs(id) <= 2e9;
        const auto it = is_int ? column.find(static_cast<int>(id)) : column.end();
        if (it == column.end()) {
          throw InputError(fmt::format("{}: unknown point_id '{}'", where, cells[0]));
        }
        if (f != std::floor(f) || f < 0 || f >= frames) {
          throw InputError(fmt::format("{}: frame {} outside 0..{}", where, cells[1], frames - 1));
        }
        const size_t i = t.index(static_cast<int>(f), it->second);
        if (seen[i]) throw InputError(fmt::format("{}: duplicate row", where));
        seen[i] = 1;
        t.x_px[i] = static_cast<float>(parse_number(cells[2], where));
        t.y_px[i] = static_cast<float>(parse_number(cells[3], where));
        const double vis = parse_number(cells[4], where);
        if (vis != 0 && vis != 1) {
          throw InputError(fmt::format("{}: visible must be 0 or 1", where));
        }
        t.visible[i] = vis != 0;
        t.visibility[i] = static_cast<float>(vis);
        t.confidence[i] = has_conf ? static_cast<float>(parse_number(cells[5], where)) : 1.f;
      });
  for (size_t i = 0; i < n; ++i) {
    if (!seen[i]) {
      throw InputError(fmt::format("{}: no row for point {} on frame {}", path,
                                   point_ids[i % t.points], i / t.points));
    }
  }
  return t;
}

void write_tracks_csv(const TrackTable& t, const std::string& path, const std::vector<int>& ids) {
  const auto point_ids = default_ids(ids, t.points, path);
  write_atomically(path, [&](std::FILE* f) {
    std::fputs("point_id,frame,x,y,visible,confidence\n", f);
    for (int n = 0; n < t.points; ++n) {
      for (int s = 0; s < t.frames; ++s) {
        const size_t i = t.index(s, n);
        fmt::print(f, "{},{},{:.3f},{:.3f},{},{:.4f}\n", point_ids[n], s, t.x_px[i], t.y_px[i],
                   static_cast<int>(t.visible[i]), t.confidence[i]);
      }
    }
  });
}

void write_tracks_jsonl(const TrackTable& t, const std::string& path, const std::vector<int>& ids) {
  const auto point_ids = default_ids(ids, t.points, path);
  write_atomically(path, [&](std::FILE* f) {
    for (int s = 0; s < t.frames; ++s) {
      fmt::print(f, "{{\"frame\":{},\"points\":[", s);
      for (int n = 0; n < t.points; ++n) {
        const size_t i = t.index(s, n);
        fmt::print(f, "{}{{\"id\":{},\"x\":{:.3f},\"y\":{:.3f},\"visible\":{},\"confidence\":{:.4f}}}",
                   n ? "," : "", point_ids[n], t.x_px[i], t.y_px[i],
                   t.visible[i] ? "true" : "false", t.confidence[i]);
      }
      std::fputs("]}\n", f);
    }
  });
}

std::string tracks_jsonl_row(const FrameEstimates& fe) {
  fmt::memory_buffer out;
  fmt::format_to(std::back_inserter(out), "{{\"frame\":{},\"points\":[", fe.frame_index);
  for (size_t i = 0; i < fe.points.size(); ++i) {
    const auto& p = fe.points[i];
    fmt::format_to(std::back_inserter(out),
                   "{}{{\"id\":{},\"x\":{:.3f},\"y\":{:.3f},\"visible\":{},\"confidence\":{:.4f}}}",
                   i ? "," : "", p.id, p.x_px, p.y_px, p.visible ? "true" : "false", p.confidence);
  }
  fmt::format_to(std::back_inserter(out), "]}}");
  return fmt::to_string(out);
}

TrackWriter::TrackWriter(const std::string& path) : path_(path) {
  jsonl_ = path.size() >= 6 && path.compare(path.size() - 6, 6, ".jsonl") == 0;
  file_ = std::fopen(path.c_str(), "wb");
  if (!file_) throw Error(ExitCode::kRuntime, fmt::format("{}: cannot open for writing", path));
  if (!jsonl_) std::fputs("point_id,frame,x,y,visible,confidence\n", file_);
  std::fflush(file_);
}

TrackWriter::~TrackWriter() {
  if (file_) std::fclose(file_);
}

void TrackWriter::write(const FrameEstimates& fe) {
  if (!file_) throw Error(ExitCode::kRuntime, fmt::format("{}: already closed", path_));
  if (jsonl_) {
    const std::string row = tracks_jsonl_row(fe);
    std::fputs(row.c_str(), file_);
    std::fputc('\n', file_);
  } else {
    for (const auto& p : fe.points) {
      fmt::print(file_, "{},{},{:.3f},{:.3f},{},{:.4f}\n", p.id, fe.frame_index, p.x_px, p.y_px,
                 p.visible ? 1 : 0, p.confidence);
    }
  }
  rows_ += static_cast<int64_t>(fe.points.size());
  if (std::fflush(file_) != 0 || std::ferror(file_)) {
    throw Error(ExitCode::kRuntime, fmt::format("{}: write failed (disk full?)", path_));
  }
}

void TrackWriter::close() {
  if (!file_) return;
  const bool ok = std::fflush(file_) == 0 && !std::ferror(file_);
  std::fclose(file_);
  file_ = nullptr;
  if (!ok) throw Error(ExitCode::kRuntime, fmt::format("{}: write failed", path_));
}

}  // namespace cotrack
