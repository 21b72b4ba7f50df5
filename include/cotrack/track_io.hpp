// Reading point lists and writing track tables (torch-free).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "cotrack/tracker.hpp"
#include "cotrack/video.hpp"

namespace cotrack {

// points.csv: header "point_id,frame,x,y", one row per point (x, y in video pixels). Returns the
// queries in file order and their ids. Throws InputError naming the file and line.
std::vector<PointQuery> read_points_csv(const std::string& path, std::vector<int>* ids = nullptr);

// tracks.csv: header "point_id,frame,x,y,visible,confidence", one row per point per frame,
// ordered by point then frame. `ids` gives each column's point id (default 0..N-1). Written to a
// temporary file and renamed, so a reader never sees half a file. Throws Error(kRuntime).
void write_tracks_csv(const TrackTable& tracks, const std::string& path,
                      const std::vector<int>& ids = {});
// Reads a tracks.csv (header starting "point_id,frame,x,y,visible", optional confidence column)
// into a table whose column n is the track of point_ids[n], over `frames` frames. Every point
// must have a row for every frame. Throws InputError naming the file and line.
TrackTable read_tracks_csv(const std::string& path, const std::vector<int>& point_ids,
                           int frames);

// JSON Lines: one object per frame {"frame":t,"points":[{"id":..,"x":..,"y":..,"visible":..,
// "confidence":..},...]}.
void write_tracks_jsonl(const TrackTable& tracks, const std::string& path,
                        const std::vector<int>& ids = {});

// One frame's estimates as the JSON object of a tracks.jsonl line (no newline):
// {"frame":F,"points":[{"id":N,"x":X,"y":Y,"visible":B,"confidence":C},...]}.
std::string tracks_jsonl_row(const FrameEstimates& frame);

// Streams final estimates to a file as frames complete: CSV (header
// "point_id,frame,x,y,visible,confidence", rows by frame then point) or, for a path ending in
// ".jsonl", one JSON object per frame as write_tracks_jsonl. Each frame is flushed when written,
// so the file is valid and complete up to the last finished frame whatever stops the process.
class TrackWriter {
 public:
  explicit TrackWriter(const std::string& path);  // throws Error(kRuntime) naming the path
  TrackWriter(const TrackWriter&) = delete;
  TrackWriter& operator=(const TrackWriter&) = delete;
  ~TrackWriter();
  void write(const FrameEstimates& frame);
  void close();
  int64_t rows() const { return rows_; }

 private:
  std::string path_;
  bool jsonl_ = false;
  std::FILE* file_ = nullptr;
  int64_t rows_ = 0;
};

}  // namespace cotrack
