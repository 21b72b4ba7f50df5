#include "refined_tracker.hpp"

#include <fmt/format.h>

#include <cmath>
#include <deque>
#include <map>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/video/tracking.hpp>

#include "cotrack/error.hpp"

namespace cotrack {
namespace {

constexpr size_t kTrailKept = 64;  // refined estimates per point kept for snapshots

struct PointState {
  int64_t query_frame = 0;
  cv::Point2f query;
  int64_t frame = -1;  // last final frame seen for this point
  cv::Point2f coarse, refined;
  std::deque<std::pair<int64_t, PointEstimate>> trail;  // refined, ascending frames
};

}  // namespace

void RefineConfig::validate() const {
  auto fail = [](const std::string& what) { throw UsageError("refine: " + what); };
  if (window < 5 || window > 101 || window % 2 == 0) {
    fail(fmt::format("window must be odd and in [5, 101] (got {})", window));
  }
  if (levels < 0 || levels > 8) fail(fmt::format("levels must be in [0, 8] (got {})", levels));
  if (!(max_offset_px >= 0.f) || !std::isfinite(max_offset_px)) {
    fail(fmt::format("max_offset_px must be 0 (no limit) or a positive number (got {})",
                     max_offset_px));
  }
  if (!(fb_threshold_px > 0.f) || !std::isfinite(fb_threshold_px)) {
    fail(fmt::format("fb_threshold_px must be a positive number (got {})", fb_threshold_px));
  }
  if (max_iterations < 1) fail(fmt::format("max_iterations must be >= 1 (got {})", max_iterations));
  if (!(epsilon_px > 0.0)) fail(fmt::format("epsilon_px must be > 0 (got {})", epsilon_px));
}

struct RefinedTracker::Impl {
  std::unique_ptr<PointTracker> coarse;
  RefineConfig cfg;
  std::function<void(const FrameEstimates&)> sink;
  std::map<int64_t, cv::Mat> grey;  // frames not yet refined, and the last refined one
  std::map<PointId, PointState> points;

  mutable std::shared_ptr<const Snapshot> cached_inner, cached_out;

  void refine(FrameEstimates fe) {
    const int64_t t = fe.frame_index;
    const std::vector<PointEstimate> coarse_est = fe.points;
    const auto cur = grey.find(t);
    const auto prev = grey.find(t - 1);
    // Points that LK can carry from t - 1.
    std::vector<size_t> carry;
    std::vector<cv::Point2f> from, guess;
    for (size_t i = 0; i < fe.points.size(); ++i) {
      const PointEstimate& e = fe.points[i];
      auto it = points.find(e.id);
      if (it == points.end() || !e.estimated) continue;
      const PointState& s = it->second;
      if (s.frame == t - 1 && t != s.query_frame) {
        carry.push_back(i);
        from.push_back(s.refined);
        guess.push_back(s.refined + (cv::Point2f(e.x_px, e.y_px) - s.coarse));
      }
    }
    std::vector<uchar> ok_fwd, ok_bwd;
    std::vector<float> err;
    std::vector<cv::Point2f> back;
    if (!carry.empty() && cur != grey.end() && prev != grey.end()) {
      const cv::Size win(cfg.window, cfg.window);
      const cv::TermCriteria crit(cv::TermCriteria::COUNT | cv::TermCriteria::EPS,
                                  cfg.max_iterations, cfg.epsilon_px);
      cv::calcOpticalFlowPyrLK(prev->second, cur->second, from, guess, ok_fwd, err, win,
                               cfg.levels, crit, cv::OPTFLOW_USE_INITIAL_FLOW);
      back = from;
      cv::calcOpticalFlowPyrLK(cur->second, prev->second, guess, back, ok_bwd, err, win,
                               cfg.levels, crit, cv::OPTFLOW_USE_INITIAL_FLOW);
    } else {
      carry.clear();
    }
    for (size_t k = 0; k < carry.size(); ++k) {
      PointEstimate& e = fe.points[carry[k]];
      const cv::Point2f n(e.x_px, e.y_px);
      const bool good = ok_fwd[k] && ok_bwd[k] &&
                        cv::norm(back[k] - from[k]) <= cfg.fb_threshold_px &&
                        (cfg.max_offset_px <= 0.f || cv::norm(guess[k] - n) <= cfg.max_offset_px);
      if (good) {
        e.x_px = guess[k].x;
        e.y_px = guess[k].y;
      }
    }
    for (size_t i = 0; i < fe.points.size(); ++i) {
      PointEstimate& e = fe.points[i];
      auto it = points.find(e.id);
      if (it == points.end() || !e.estimated) continue;
      PointState& s = it->second;
      if (t == s.query_frame) {
        e.x_px = s.query.x;
        e.y_px = s.query.y;
      }
      s.coarse = cv::Point2f(coarse_est[i].x_px, coarse_est[i].y_px);
      s.refined = cv::Point2f(e.x_px, e.y_px);
      s.frame = t;
      s.trail.emplace_back(t, e);
      while (s.trail.size() > kTrailKept) s.trail.pop_front();
    }
    grey.erase(grey.begin(), grey.lower_bound(t));
    if (sink) sink(fe);
  }
};

RefinedTracker::RefinedTracker(std::unique_ptr<PointTracker> coarse, RefineConfig config)
    : impl_(std::make_unique<Impl>()) {
  config.validate();
  if (!coarse) throw UsageError("refine: no coarse tracker");
  impl_->coarse = std::move(coarse);
  impl_->cfg = config;
  Impl* s = impl_.get();
  impl_->coarse->set_sink([s](const FrameEstimates& fe) { s->refine(fe); });
}

RefinedTracker::RefinedTracker(RefinedTracker&&) noexcept = default;
RefinedTracker& RefinedTracker::operator=(RefinedTracker&&) noexcept = default;
RefinedTracker::~RefinedTracker() = default;

int64_t RefinedTracker::push_frame(const uint8_t* rgb, int width, int height) {
  const int64_t index = impl_->coarse->push_frame(rgb, width, height);
  cv::Mat g;
  cv::cvtColor(cv::Mat(height, width, CV_8UC3, const_cast<uint8_t*>(rgb)), g, cv::COLOR_RGB2GRAY);
  impl_->grey[index] = std::move(g);
  return index;
}

StepResult RefinedTracker::step() {
  StepResult r = impl_->coarse->step();
  if (r.snapshot) r.snapshot = snapshot();
  return r;
}

StepResult RefinedTracker::flush() {
  StepResult r = impl_->coarse->flush();
  if (r.snapshot) r.snapshot = snapshot();
  return r;
}

AddPointResult RefinedTracker::add_point(int64_t frame_index, float x_px, float y_px) {
  AddPointResult r = impl_->coarse->add_point(frame_index, x_px, y_px);
  if (r.status == AddPointResult::Status::kOk) {
    PointState s;
    s.query_frame = frame_index;
    s.query = cv::Point2f(x_px, y_px);
    impl_->points[r.id] = std::move(s);
  }
  return r;
}

bool RefinedTracker::remove_point(PointId id) {
  impl_->points.erase(id);
  return impl_->coarse->remove_point(id);
}

void RefinedTracker::reset() {
  impl_->points.clear();
  impl_->coarse->reset();
}

void RefinedTracker::reset_stream() {
  impl_->points.clear();
  impl_->grey.clear();
  impl_->coarse->reset_stream();
}

void RefinedTracker::set_sink(std::function<void(const FrameEstimates&)> sink) {
  impl_->sink = std::move(sink);
}

std::shared_ptr<const Snapshot> RefinedTracker::snapshot() const {
  auto inner = impl_->coarse->snapshot();
  if (!inner) return inner;
  if (inner == impl_->cached_inner && impl_->cached_out) return impl_->cached_out;
  auto out = std::make_shared<Snapshot>(*inner);
  for (auto& track : out->tracks) {
    const auto it = impl_->points.find(track.id);
    if (it == impl_->points.end()) continue;
    const auto& trail = it->second.trail;
    for (size_t i = 0; i < track.frames.size(); ++i) {
      for (const auto& [f, e] : trail) {
        if (f == track.frames[i]) {
          track.estimates[i].x_px = e.x_px;
          track.estimates[i].y_px = e.y_px;
          break;
        }
      }
    }
  }
  impl_->cached_inner = inner;
  impl_->cached_out = out;
  return out;
}

int RefinedTracker::num_points() const { return impl_->coarse->num_points(); }
int64_t RefinedTracker::frames_received() const { return impl_->coarse->frames_received(); }
std::string RefinedTracker::name() const { return impl_->coarse->name() + " + lk refinement"; }
PointTracker& RefinedTracker::coarse() { return *impl_->coarse; }

}  // namespace cotrack
