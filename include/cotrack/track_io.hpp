// Reading point lists and writing track tables (torch-free).
#pragma once

#include <string>
#include <vector>

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
// JSON Lines: one object per frame {"frame":t,"points":[{"id":..,"x":..,"y":..,"visible":..,
// "confidence":..},...]}.
void write_tracks_jsonl(const TrackTable& tracks, const std::string& path,
                        const std::vector<int>& ids = {});

}  // namespace cotrack
