#include "refined_tracker.hpp"

#include <fmt/format.h>

#include <algorithm>
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
  cv::Mat anchor;            // normalised patch of the query frame around the query position
  cv::Point2f anchor_point;  // the query position in `anchor`
  std::deque<std::pair<int64_t, PointEstimate>> trail;  // refined, ascending frames
};

// The side x side patch of `grey` centred on pixel `centre` (borders replicated), its brightness
// mapped to mean 128 and standard deviation 40, so that LK between two such patches does not see
// a global gain or bias change. `origin` receives the image position of patch pixel (0, 0).
cv::Mat normalised_patch(const cv::Mat& grey, cv::Point centre, int side, cv::Point2f* origin) {
  const int half = side / 2;
  cv::Mat f;
  cv::getRectSubPix(grey, cv::Size(side, side), cv::Point2f(float(centre.x), float(centre.y)), f,
                    CV_32F);
  cv::Scalar mean, sd;
  cv::meanStdDev(f, mean, sd);
  const double scale = 40.0 / std::max(sd[0], 1.0);
  cv::Mat out;
  f.convertTo(out, CV_8U, scale, 128.0 - scale * mean[0]);
  *origin = cv::Point2f(float(centre.x - half), float(centre.y - half));
  return out;
}

// Whether `p` rounds to a pixel of `image`.
bool inside(cv::Point2f p, const cv::Mat& image) {
  return p.x >= -0.5f && p.y >= -0.5f && p.x < float(image.cols) - 0.5f &&
         p.y < float(image.rows) - 0.5f;  // false for NaN
}

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
  if (!(anchor_max_px >= 0.f) || !std::isfinite(anchor_max_px)) {
    fail(fmt::format("anchor_max_px must be 0 (off) or a positive number (got {})", anchor_max_px));
  }
  if (min_video_pixels < 0) {
    fail(fmt::format("min_video_pixels must be >= 0 (got {})", min_video_pixels));
  }
  if (max_iterations < 1) fail(fmt::format("max_iterations must be >= 1 (got {})", max_iterations));
  if (!(epsilon_px > 0.0)) fail(fmt::format("epsilon_px must be > 0 (got {})", epsilon_px));
}

struct RefinedTracker::Impl {
  std::unique_ptr<PointTracker> coarse;
  RefineConfig cfg;
  std::function<void(const FrameEstimates&)> sink;
  // A grey frame and, once LK needs it, its pyramid with derivatives: built once per frame and
  // used by the forward call into the frame, the backward call out of it and the next frame's.
  struct GreyFrame {
    cv::Mat image;
    std::vector<cv::Mat> pyramid;
  };
  std::map<int64_t, GreyFrame> grey;  // frames not yet refined, and the last refined one

  const std::vector<cv::Mat>& pyramid_of(GreyFrame& g) const {
    if (g.pyramid.empty()) {
      cv::buildOpticalFlowPyramid(g.image, g.pyramid, cv::Size(cfg.window, cfg.window), cfg.levels,
                                  true);
    }
    return g.pyramid;
  }
  std::map<PointId, PointState> points;
  int active = -1;  // whether this stream is refined: -1 until its first frame fixes the size

  mutable std::shared_ptr<const Snapshot> cached_inner, cached_out;

  int anchor_side() const { return 3 * cfg.window; }

  // One match against a point's query frame: LK from the query position in the point's anchor
  // patch to `frame`, starting at `start` (video px), and back.
  struct AnchorJob {
    size_t index;  // the point's entry in the frame's estimates
    const PointState* state;
    cv::Point2f start;
  };
  struct AnchorMatch {
    bool ok = false;  // both directions converged, forward-backward error <= fb_threshold_px and
                      // |found - start| <= anchor_max_px
    cv::Point2f found;
    float residual = 0.f;  // LK's mean absolute patch difference (normalised brightness)
  };

  // Runs all jobs in two LK calls: tile k of one mosaic holds job k's anchor patch, tile k of
  // the other the normalised patch of `frame` around job k's start. A match stays inside its
  // tile unless it wanders more than a window away, and then it fails the distance check.
  std::vector<AnchorMatch> anchor_match(const std::vector<AnchorJob>& jobs,
                                        const cv::Mat& frame) const {
    std::vector<AnchorMatch> out(jobs.size());
    if (jobs.empty()) return out;
    const int side = anchor_side();
    const int n = static_cast<int>(jobs.size());
    const int cols = static_cast<int>(std::ceil(std::sqrt(double(n))));
    const int rows = (n + cols - 1) / cols;
    cv::Mat ref(rows * side, cols * side, CV_8U, cv::Scalar(128));
    cv::Mat cur(rows * side, cols * side, CV_8U, cv::Scalar(128));
    std::vector<cv::Point2f> from(jobs.size()), to(jobs.size()), shift(jobs.size());
    for (int k = 0; k < n; ++k) {
      const AnchorJob& job = jobs[k];
      const cv::Rect tile((k % cols) * side, (k / cols) * side, side, side);
      const cv::Point2f corner(float(tile.x), float(tile.y));
      job.state->anchor.copyTo(ref(tile));
      cv::Point2f origin;
      normalised_patch(frame, cv::Point(cvRound(job.start.x), cvRound(job.start.y)), side, &origin)
          .copyTo(cur(tile));
      shift[k] = origin - corner;  // mosaic position + shift = video position
      from[k] = job.state->anchor_point + corner;
      to[k] = job.start - shift[k];
    }
    const cv::Size win(cfg.window, cfg.window);
    const cv::TermCriteria crit(cv::TermCriteria::COUNT | cv::TermCriteria::EPS, cfg.max_iterations,
                                cfg.epsilon_px);
    std::vector<uchar> ok_fwd, ok_bwd;
    std::vector<float> err, err_back;
    cv::calcOpticalFlowPyrLK(ref, cur, from, to, ok_fwd, err, win, 0, crit,
                             cv::OPTFLOW_USE_INITIAL_FLOW);
    std::vector<cv::Point2f> back = from;
    cv::calcOpticalFlowPyrLK(cur, ref, to, back, ok_bwd, err_back, win, 0, crit,
                             cv::OPTFLOW_USE_INITIAL_FLOW);
    for (int k = 0; k < n; ++k) {
      const cv::Point2f found = to[k] + shift[k];
      out[k].ok = ok_fwd[k] && ok_bwd[k] && cv::norm(back[k] - from[k]) <= cfg.fb_threshold_px &&
                  cv::norm(found - jobs[k].start) <= cfg.anchor_max_px;
      out[k].found = found;
      out[k].residual = err[k];
    }
    return out;
  }

  void refine(FrameEstimates fe) {
    if (active != 1) {
      if (sink) sink(fe);
      return;
    }
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
      const std::vector<cv::Mat>& p0 = pyramid_of(prev->second);
      const std::vector<cv::Mat>& p1 = pyramid_of(cur->second);
      cv::calcOpticalFlowPyrLK(p0, p1, from, guess, ok_fwd, err, win, cfg.levels, crit,
                               cv::OPTFLOW_USE_INITIAL_FLOW);
      back = from;
      cv::calcOpticalFlowPyrLK(p1, p0, guess, back, ok_bwd, err, win, cfg.levels, crit,
                               cv::OPTFLOW_USE_INITIAL_FLOW);
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
    // The query frame's patches, then the matches against them: from each chained estimate r
    // and, with redetect, from the coarse estimate n when it is more than anchor_max_px away.
    std::vector<AnchorJob> chained, coarse;
    for (size_t i = 0; i < fe.points.size(); ++i) {
      const PointEstimate& e = fe.points[i];
      auto it = points.find(e.id);
      if (it == points.end() || !e.estimated) continue;
      PointState& s = it->second;
      if (t == s.query_frame) {
        if (cfg.anchor_max_px > 0.f && cur != grey.end()) {
          cv::Point2f origin;
          s.anchor =
              normalised_patch(cur->second.image, cv::Point(cvRound(s.query.x), cvRound(s.query.y)),
                               anchor_side(), &origin);
          s.anchor_point = s.query - origin;
        }
        continue;
      }
      if (s.anchor.empty() || cur == grey.end()) continue;
      const cv::Point2f r(e.x_px, e.y_px), n(coarse_est[i].x_px, coarse_est[i].y_px);
      if (inside(r, cur->second.image)) chained.push_back({i, &s, r});
      if (cfg.redetect && inside(n, cur->second.image) && cv::norm(n - r) > cfg.anchor_max_px) {
        coarse.push_back({i, &s, n});
      }
    }
    if (cur != grey.end()) {
      std::vector<AnchorMatch> best(fe.points.size());
      const std::vector<AnchorMatch> from_r = anchor_match(chained, cur->second.image);
      const std::vector<AnchorMatch> from_n = anchor_match(coarse, cur->second.image);
      for (size_t k = 0; k < chained.size(); ++k) best[chained[k].index] = from_r[k];
      for (size_t k = 0; k < coarse.size(); ++k) {
        AnchorMatch& b = best[coarse[k].index];
        if (from_n[k].ok && (!b.ok || from_n[k].residual < b.residual)) b = from_n[k];
      }
      for (size_t i = 0; i < fe.points.size(); ++i) {
        if (!best[i].ok) continue;
        fe.points[i].x_px = best[i].found.x;
        fe.points[i].y_px = best[i].found.y;
        if (cfg.vouch_visible) fe.points[i].visible = true;
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
  if (impl_->active < 0) {
    impl_->active = int64_t{width} * height >= impl_->cfg.min_video_pixels ? 1 : 0;
  }
  if (impl_->active == 0) return index;
  cv::Mat g;
  cv::cvtColor(cv::Mat(height, width, CV_8UC3, const_cast<uint8_t*>(rgb)), g, cv::COLOR_RGB2GRAY);
  impl_->grey[index].image = std::move(g);
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
  impl_->active = -1;
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
