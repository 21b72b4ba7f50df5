#include "lk_tracker.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/video/tracking.hpp>

#include "cotrack/error.hpp"

namespace cotrack {
namespace {

// Extra margin of a re-acquisition crop beyond half the LK window, in top-level pyramid pixels.
constexpr int kCropMarginTopPx = 2;

struct Frame {
  int64_t index = 0;
  cv::Mat gray;                  // CV_8UC1, H x W
  std::vector<cv::Mat> pyramid;  // buildOpticalFlowPyramid output (with derivatives) or empty
};

struct Point {
  PointId id = 0;
  int64_t query_frame = 0;
  cv::Point2f query;
  int64_t last_frame = -1;  // newest frame with an estimate; -1 before the query frame
  cv::Point2f pos;          // estimate at last_frame, video pixels
  bool visible = false;
  // While occluded: grey crop of the last frame where the point was visible, its place in that
  // frame, and the point's position there (the reported position while occluded).
  cv::Mat ref_patch;
  cv::Rect ref_rect;
  std::deque<std::pair<int64_t, PointEstimate>> trail;  // ascending frames, <= trail_frames
};

bool inside(const cv::Point2f& p, int width, int height) {
  return p.x >= 0.f && p.y >= 0.f && p.x <= width - 1.f && p.y <= height - 1.f;
}

}  // namespace

void LKConfig::validate() const {
  auto fail = [](const std::string& what) { throw UsageError("lk: " + what); };
  if (max_points < 1) fail(fmt::format("max_points must be >= 1 (got {})", max_points));
  if (window < 5 || window > 101 || window % 2 == 0) {
    fail(fmt::format("window must be odd and in [5, 101] (got {})", window));
  }
  if (levels < 0 || levels > 8) fail(fmt::format("levels must be in [0, 8] (got {})", levels));
  if (!(fb_threshold_px > 0.f) || !std::isfinite(fb_threshold_px)) {
    fail(fmt::format("fb_threshold_px must be a positive number (got {})", fb_threshold_px));
  }
  if (!(max_error >= 0.f) || !std::isfinite(max_error)) {
    fail(fmt::format("max_error must be >= 0 (got {})", max_error));
  }
  if (trail_frames < 1) fail(fmt::format("trail_frames must be >= 1 (got {})", trail_frames));
  if (held_frames < 2) fail(fmt::format("held_frames must be >= 2 (got {})", held_frames));
  if (max_iterations < 1) {
    fail(fmt::format("max_iterations must be >= 1 (got {})", max_iterations));
  }
  if (!(epsilon_px > 0.0) || !std::isfinite(epsilon_px)) {
    fail(fmt::format("epsilon_px must be a positive number (got {})", epsilon_px));
  }
}

struct LKTracker::Impl {
  LKConfig config;
  cv::Size win;
  cv::TermCriteria criteria;

  int width = 0;
  int height = 0;
  int64_t frames_received = 0;
  int64_t processed_until = 0;  // frames < processed_until are processed and final
  std::deque<Frame> frames;     // held frames, ascending and contiguous indices
  std::vector<Point> points;    // ascending ids
  PointId next_id = 0;
  std::function<void(const FrameEstimates&)> sink;
  std::shared_ptr<const Snapshot> snapshot = std::make_shared<Snapshot>();

  explicit Impl(LKConfig c)
      : config(c),
        win(c.window, c.window),
        criteria(cv::TermCriteria::COUNT | cv::TermCriteria::EPS, c.max_iterations, c.epsilon_px) {}

  Frame& frame(int64_t index) { return frames[static_cast<size_t>(index - frames.front().index)]; }

  // The frame as an LK input: its pyramid when built, else the grey image.
  static cv::_InputArray lk_input(const Frame& f) {
    if (!f.pyramid.empty()) return cv::_InputArray(f.pyramid);
    return cv::_InputArray(f.gray);
  }

  void build_pyramid(Frame& f) const {
    if (f.pyramid.empty()) {
      cv::buildOpticalFlowPyramid(f.gray, f.pyramid, win, config.levels, /*withDerivatives=*/true);
    }
  }

  // Forward-backward LK of `from` (in image a) into image b. `to` gets the forward positions;
  // ok[i] says whether point i passes every test of the header comment.
  void track_fb(cv::InputArray a, cv::InputArray b, const std::vector<cv::Point2f>& from,
                std::vector<cv::Point2f>& to, std::vector<uint8_t>& ok, cv::Point2f offset) const {
    to.clear();
    ok.assign(from.size(), 0);
    if (from.empty()) return;
    std::vector<uint8_t> status_fwd, status_bwd;
    std::vector<float> err_fwd, err_bwd;
    std::vector<cv::Point2f> back;
    cv::calcOpticalFlowPyrLK(a, b, from, to, status_fwd, err_fwd, win, config.levels, criteria);
    cv::calcOpticalFlowPyrLK(b, a, to, back, status_bwd, err_bwd, win, config.levels, criteria);
    for (size_t i = 0; i < from.size(); ++i) {
      const cv::Point2f d = back[i] - from[i];
      const float fb = std::sqrt(d.x * d.x + d.y * d.y);
      ok[i] = status_fwd[i] && status_bwd[i] && fb <= config.fb_threshold_px &&
              (config.max_error <= 0.f || err_fwd[i] <= config.max_error) &&
              inside(to[i] + offset, width, height);
    }
  }

  // Remembers the view of point p on frame f (where it was last visible) for re-acquisition.
  void keep_reference(Point& p, const Frame& f) const {
    const int half = (config.window / 2 + kCropMarginTopPx) << config.levels;
    const int x = static_cast<int>(std::lround(p.pos.x));
    const int y = static_cast<int>(std::lround(p.pos.y));
    const cv::Rect rect =
        cv::Rect(x - half, y - half, 2 * half + 1, 2 * half + 1) & cv::Rect(0, 0, width, height);
    p.ref_rect = rect;
    p.ref_patch = f.gray(rect).clone();
  }

  // Advances the points in `ids` (indices into `points`, each with an estimate at t - 1) to
  // frame t. Frames t - 1 and t must be held.
  void advance(const std::vector<size_t>& ids, int64_t t) {
    if (ids.empty()) return;
    Frame& prev = frame(t - 1);
    Frame& next = frame(t);
    std::vector<size_t> tracked;
    std::vector<cv::Point2f> from, to;
    std::vector<uint8_t> ok;
    for (size_t i : ids) {
      if (points[i].visible) {
        tracked.push_back(i);
        from.push_back(points[i].pos);
      }
    }
    track_fb(lk_input(prev), lk_input(next), from, to, ok, cv::Point2f(0.f, 0.f));
    for (size_t k = 0; k < tracked.size(); ++k) {
      Point& p = points[tracked[k]];
      if (ok[k]) {
        p.pos = to[k];
      } else {
        keep_reference(p, prev);
        p.visible = false;
      }
      p.last_frame = t;
    }
    for (size_t i : ids) {
      Point& p = points[i];
      if (p.last_frame == t) continue;  // handled above
      const cv::Point2f origin(static_cast<float>(p.ref_rect.x), static_cast<float>(p.ref_rect.y));
      const cv::Mat current = next.gray(p.ref_rect).clone();
      track_fb(p.ref_patch, current, {p.pos - origin}, to, ok, origin);
      if (ok[0]) {
        p.pos = to[0] + origin;
        p.visible = true;
        p.ref_patch.release();
      }
      p.last_frame = t;
    }
  }

  PointEstimate estimate_of(const Point& p, int64_t t) const {
    PointEstimate e;
    e.id = p.id;
    if (p.query_frame > t) {
      e.x_px = p.query.x;
      e.y_px = p.query.y;
      return e;
    }
    e.x_px = p.pos.x;
    e.y_px = p.pos.y;
    e.estimated = true;
    e.visible = p.visible;
    e.visibility = e.confidence = p.visible ? 1.f : 0.f;
    return e;
  }

  void remember(Point& p, int64_t t) const {
    p.trail.emplace_back(t, estimate_of(p, t));
    while (static_cast<int>(p.trail.size()) > config.trail_frames) p.trail.pop_front();
  }

  static void start(Point& p, int64_t t) {
    p.pos = p.query;
    p.visible = true;
    p.ref_patch.release();
    p.last_frame = t;
  }

  // Tracks points added on already processed frames up to the newest processed frame. Returns
  // whether there were any.
  bool catch_up() {
    int64_t first = processed_until;
    for (const Point& p : points) {
      if (p.last_frame < 0 && p.query_frame < processed_until) {
        first = std::min(first, p.query_frame);
      }
    }
    if (first == processed_until) return false;
    std::vector<size_t> late;
    for (size_t i = 0; i < points.size(); ++i) {
      if (points[i].last_frame < 0 && points[i].query_frame < processed_until) late.push_back(i);
    }
    for (int64_t t = first; t < processed_until; ++t) {
      std::vector<size_t> moving;
      for (size_t i : late) {
        if (points[i].query_frame < t) moving.push_back(i);
      }
      advance(moving, t);
      for (size_t i : late) {
        Point& p = points[i];
        if (p.query_frame == t) start(p, t);
        if (p.query_frame <= t) remember(p, t);
      }
    }
    return true;
  }

  // Processes frame t = processed_until and hands its estimates to the sink.
  void process_next() {
    const int64_t t = processed_until;
    Frame& f = frame(t);
    build_pyramid(f);
    std::vector<size_t> moving;
    for (size_t i = 0; i < points.size(); ++i) {
      if (points[i].last_frame == t - 1 && points[i].query_frame < t) moving.push_back(i);
    }
    advance(moving, t);
    FrameEstimates out;
    out.frame_index = t;
    out.points.reserve(points.size());
    for (Point& p : points) {
      if (p.query_frame == t) start(p, t);
      remember(p, t);
      out.points.push_back(p.trail.back().second);
    }
    // Only the newest processed frame needs its pyramid (as the next frame's predecessor).
    if (t > frames.front().index) frame(t - 1).pyramid.clear();
    processed_until = t + 1;
    if (sink) sink(out);
  }

  void drop_old_frames() {
    const int64_t keep_from = processed_until - config.held_frames;
    while (!frames.empty() && frames.front().index < keep_from) frames.pop_front();
  }

  void publish() {
    auto s = std::make_shared<Snapshot>();
    s->newest_frame = processed_until - 1;
    s->final_until = processed_until;
    s->tracks.reserve(points.size());
    for (const Point& p : points) {
      Snapshot::Track track;
      track.id = p.id;
      track.query_frame = p.query_frame;
      track.frames.reserve(p.trail.size());
      track.estimates.reserve(p.trail.size());
      for (const auto& [t, e] : p.trail) {
        track.frames.push_back(t);
        track.estimates.push_back(e);
      }
      if (p.trail.empty()) {  // not tracked yet: its query position, drawn as such
        PointEstimate q;
        q.id = p.id;
        q.x_px = p.query.x;
        q.y_px = p.query.y;
        track.frames.push_back(p.query_frame);
        track.estimates.push_back(q);
      }
      s->tracks.push_back(std::move(track));
    }
    snapshot = std::move(s);
  }
};

LKTracker::LKTracker(LKConfig config) {
  config.validate();
  impl_ = std::make_unique<Impl>(config);
}

LKTracker::LKTracker(LKTracker&&) noexcept = default;
LKTracker& LKTracker::operator=(LKTracker&&) noexcept = default;
LKTracker::~LKTracker() = default;

int64_t LKTracker::push_frame(const uint8_t* rgb, int width, int height) {
  Impl& d = *impl_;
  if (rgb == nullptr || width <= 0 || height <= 0) {
    throw InputError(
        fmt::format("lk: frame {} is empty ({}x{})", d.frames_received, width, height));
  }
  if (d.width == 0) {
    d.width = width;
    d.height = height;
  } else if (width != d.width || height != d.height) {
    throw InputError(fmt::format("lk: frame {} is {}x{}, the stream is {}x{} (reset_stream first)",
                                 d.frames_received, width, height, d.width, d.height));
  }
  Frame f;
  f.index = d.frames_received;
  // cv::Mat needs a non-const pointer; the frame is only read.
  const cv::Mat rgb_mat(height, width, CV_8UC3, const_cast<uint8_t*>(rgb));
  cv::cvtColor(rgb_mat, f.gray, cv::COLOR_RGB2GRAY);
  d.frames.push_back(std::move(f));
  return d.frames_received++;
}

StepResult LKTracker::step() {
  Impl& d = *impl_;
  StepResult result;
  bool updated = d.catch_up();
  while (d.processed_until < d.frames_received) {
    result.window_frames.push_back(d.processed_until);
    d.process_next();
    updated = true;
  }
  d.drop_old_frames();
  if (!updated) return result;
  d.publish();
  result.status = StepResult::Status::kUpdated;
  result.snapshot = d.snapshot;
  return result;
}

StepResult LKTracker::flush() { return step(); }

AddPointResult LKTracker::add_point(int64_t frame_index, float x_px, float y_px) {
  Impl& d = *impl_;
  AddPointResult r;
  if (d.frames_received == 0) {
    r.status = AddPointResult::Status::kNoFrames;
    r.message = "lk: no frame yet, the image size is unknown";
    return r;
  }
  const int64_t oldest = d.frames.front().index;
  if (frame_index < oldest) {
    r.status = AddPointResult::Status::kFrameGone;
    r.message =
        fmt::format("lk: frame {} is no longer held (oldest held frame: {})", frame_index, oldest);
    return r;
  }
  if (!inside(cv::Point2f(x_px, y_px), d.width, d.height)) {
    r.status = AddPointResult::Status::kOutsideImage;
    r.message =
        fmt::format("lk: point ({}, {}) is outside the {}x{} image", x_px, y_px, d.width, d.height);
    return r;
  }
  if (static_cast<int>(d.points.size()) >= d.config.max_points) {
    r.status = AddPointResult::Status::kTooManyPoints;
    r.message = fmt::format("lk: already tracking {} points (max_points)", d.points.size());
    return r;
  }
  Point p;
  p.id = d.next_id++;
  p.query_frame = frame_index;
  p.query = cv::Point2f(x_px, y_px);
  p.pos = p.query;
  d.points.push_back(std::move(p));
  r.id = d.points.back().id;
  d.publish();  // shown at once, also while no frame comes (paused)
  return r;
}

bool LKTracker::remove_point(PointId id) {
  Impl& d = *impl_;
  const auto it =
      std::find_if(d.points.begin(), d.points.end(), [id](const Point& p) { return p.id == id; });
  if (it == d.points.end()) return false;
  d.points.erase(it);
  d.publish();
  return true;
}

void LKTracker::reset() {
  Impl& d = *impl_;
  d.points.clear();
  d.publish();
}

void LKTracker::reset_stream() {
  Impl& d = *impl_;
  d.points.clear();
  d.frames.clear();
  d.width = d.height = 0;
  d.frames_received = 0;
  d.processed_until = 0;
  d.snapshot = std::make_shared<Snapshot>();
}

void LKTracker::set_sink(std::function<void(const FrameEstimates&)> sink) {
  impl_->sink = std::move(sink);
}

std::shared_ptr<const Snapshot> LKTracker::snapshot() const { return impl_->snapshot; }
int LKTracker::num_points() const { return static_cast<int>(impl_->points.size()); }
int64_t LKTracker::frames_received() const { return impl_->frames_received; }
std::string LKTracker::name() const { return "lk"; }
const LKConfig& LKTracker::config() const { return impl_->config; }

}  // namespace cotrack
