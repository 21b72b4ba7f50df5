#include "cotrack/offline.hpp"

#include <fmt/format.h>

#include <unordered_map>

#include "cotrack/error.hpp"

namespace cotrack {
namespace {

// Clears a tracker's sink when the scope ends, so it never outlives the locals it captures.
class SinkGuard {
 public:
  explicit SinkGuard(PointTracker& tracker) : tracker_(tracker) {}
  SinkGuard(const SinkGuard&) = delete;
  SinkGuard& operator=(const SinkGuard&) = delete;
  ~SinkGuard() { tracker_.set_sink({}); }

 private:
  PointTracker& tracker_;
};

}  // namespace

TrackTable track_video_with(PointTracker& tracker, const VideoFrames& video,
                            const std::vector<PointQuery>& queries) {
  if (video.count <= 0 || video.width <= 0 || video.height <= 0 ||
      video.rgb.size() != static_cast<size_t>(video.count) * video.frame_bytes()) {
    throw InputError(
        fmt::format("{}: the video is {}x{} x {} frames with {} bytes: nothing to track",
                    tracker.name(), video.width, video.height, video.count, video.rgb.size()));
  }
  const int num_frames = video.count;
  const int num_points = static_cast<int>(queries.size());
  TrackTable table;
  table.frames = num_frames;
  table.points = num_points;
  const size_t cells = static_cast<size_t>(num_frames) * num_points;
  table.x_px.resize(cells);
  table.y_px.resize(cells);
  table.visibility.assign(cells, 0.f);
  table.confidence.assign(cells, 0.f);
  table.visible.assign(cells, 0);
  for (int n = 0; n < num_points; ++n) {
    const PointQuery& q = queries[n];
    if (q.frame < 0 || q.frame >= num_frames) {
      throw InputError(
          fmt::format("query {} (frame {}, x {}, y {}): the frame is outside the video's {} frames",
                      n, q.frame, q.x_px, q.y_px, num_frames));
    }
    for (int t = 0; t < num_frames; ++t) {
      table.x_px[table.index(t, n)] = q.x_px;
      table.y_px[table.index(t, n)] = q.y_px;
    }
  }

  std::unordered_map<PointId, int> column_of;
  int64_t next_frame = 0;  // the frame the sink must see next
  tracker.reset_stream();
  SinkGuard guard(tracker);
  tracker.set_sink([&](const FrameEstimates& estimates) {
    if (estimates.frame_index != next_frame) {
      throw Error(ExitCode::kRuntime,
                  fmt::format("{}: the sink got frame {} where frame {} was due", tracker.name(),
                              estimates.frame_index, next_frame));
    }
    ++next_frame;
    const int t = static_cast<int>(estimates.frame_index);
    for (const PointEstimate& e : estimates.points) {
      const auto it = column_of.find(e.id);
      if (it == column_of.end() || !e.estimated) continue;
      const size_t i = table.index(t, it->second);
      table.x_px[i] = e.x_px;
      table.y_px[i] = e.y_px;
      table.visibility[i] = e.visibility;
      table.confidence[i] = e.confidence;
      table.visible[i] = e.visible ? 1 : 0;
    }
  });

  tracker.push_frame(video.frame(0), video.width, video.height);
  for (int n = 0; n < num_points; ++n) {
    const PointQuery& q = queries[n];
    const AddPointResult added = tracker.add_point(q.frame, q.x_px, q.y_px);
    if (added.status != AddPointResult::Status::kOk) {
      throw InputError(fmt::format("query {} (frame {}, x {}, y {}): {}", n, q.frame, q.x_px,
                                   q.y_px, added.message));
    }
    column_of[added.id] = n;
  }
  tracker.step();
  for (int t = 1; t < num_frames; ++t) {
    tracker.push_frame(video.frame(t), video.width, video.height);
    tracker.step();
  }
  tracker.flush();
  if (next_frame != num_frames) {
    throw Error(ExitCode::kRuntime, fmt::format("{}: the sink got {} of the video's {} frames",
                                                tracker.name(), next_frame, num_frames));
  }
  return table;
}

}  // namespace cotrack
