// Sparse ground truth: clip folders whose gt.csv has rows on annotated frames only, and the
// TAP-Vid metrics and query derivation that skip the frames without an annotation.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "clip_files.hpp"

#include "cotrack/error.hpp"
#include "cotrack/evaluation.hpp"
#include "cotrack/metrics.hpp"
#include "cotrack/synth.hpp"

namespace {

namespace fs = std::filesystem;
using cotrack::QueryMode;
using cotrack::SynthClip;

std::string unique_temp_dir(const char* tag) {
  return cotrack::test::unique_temp_dir("cotrack_test_eval_", tag);
}
using cotrack::test::read_clip_error;
using cotrack::test::read_lines;
using cotrack::test::write_lines;

// point_id and frame of a gt.csv row.
std::pair<int, int> row_key(const std::string& line) {
  const size_t comma = line.find(',');
  return {std::stoi(line.substr(0, comma)), std::stoi(line.substr(comma + 1))};
}

// A hand-made 256x256 clip: point n moves right by 1 px per frame from (20 + 60 n, 100), always
// visible; annotated on the frames in `annotated_frames` only (queried on the first of them).
SynthClip moving_points(int frames, int points, const std::vector<int>& annotated_frames) {
  SynthClip c;
  c.width = 256;
  c.height = 256;
  c.frames = frames;
  c.num_points = points;
  c.rgb.assign(c.frame_size() * frames, 0);
  c.tracks.resize(2 * static_cast<size_t>(frames) * points);
  c.visible.assign(static_cast<size_t>(frames) * points, 1);
  c.annotated.assign(static_cast<size_t>(frames) * points, 0);
  c.query_frame.assign(points, annotated_frames.front());
  c.layer.assign(points, -1);
  for (int t = 0; t < frames; ++t) {
    for (int n = 0; n < points; ++n) {
      c.tracks[2 * c.index(t, n)] = 20.f + 60.f * n + t;
      c.tracks[2 * c.index(t, n) + 1] = 100.f;
    }
  }
  for (int t : annotated_frames) {
    for (int n = 0; n < points; ++n) c.annotated[c.index(t, n)] = 1;
  }
  return c;
}

// Predictions for every point queried at its query frame: exact (and visible) on annotated
// frames, 100 px off and predicted occluded on the others.
cotrack::TrackTable wrong_off_annotations(const SynthClip& c) {
  cotrack::TrackTable p;
  p.frames = c.frames;
  p.points = c.num_points;
  const size_t cells = static_cast<size_t>(c.frames) * c.num_points;
  p.x_px.resize(cells);
  p.y_px.resize(cells);
  p.visibility.assign(cells, 1.f);
  p.confidence.assign(cells, 1.f);
  p.visible.assign(cells, 1);
  for (int t = 0; t < c.frames; ++t) {
    for (int n = 0; n < c.num_points; ++n) {
      const size_t i = p.index(t, n);
      const bool annotated = c.is_annotated(t, n);
      p.x_px[i] = c.x(t, n) + (annotated ? 0.f : 100.f);
      p.y_px[i] = c.y(t, n);
      p.visible[i] = annotated ? 1 : 0;
    }
  }
  return p;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("eval: read_clip reads sparse gt.csv and rejects bad rows") {
    cotrack::SynthParams p;
    p.width = 40;
    p.height = 32;
    p.frames = 9;
    p.num_points = 5;
    const SynthClip clip = cotrack::generate_clip(p, 7);
    const std::string dir = unique_temp_dir("sparse");
    cotrack::write_clip(clip, dir);
    const SynthClip dense = cotrack::read_clip(dir);
    CHECK(dense.annotated.empty());  // a dense file stays dense

    // Keep every third frame and each point's query frame.
    const std::string gt = (fs::path(dir) / "gt.csv").string();
    const std::vector<std::string> lines = read_lines(gt);
    auto kept = [&](int n, int t) { return t % 3 == 0 || t == clip.query_frame[n]; };
    std::vector<std::string> sparse = {lines[0]};
    for (size_t l = 1; l < lines.size(); ++l) {
      const auto [n, t] = row_key(lines[l]);
      if (kept(n, t)) sparse.push_back(lines[l]);
    }
    REQUIRE(sparse.size() < lines.size());
    write_lines(gt, sparse);

    const SynthClip back = cotrack::read_clip(dir);
    CHECK_NOTHROW(back.validate_shapes());
    REQUIRE(back.num_points == clip.num_points);
    REQUIRE(back.annotated.size() == static_cast<size_t>(clip.frames) * clip.num_points);
    CHECK(back.query_frame == clip.query_frame);
    for (int n = 0; n < clip.num_points; ++n) {
      for (int t = 0; t < clip.frames; ++t) {
        CAPTURE(n);
        CAPTURE(t);
        CHECK(back.is_annotated(t, n) == kept(n, t));
        if (!kept(n, t)) continue;
        CHECK(back.is_visible(t, n) == clip.is_visible(t, n));
        CHECK(std::fabs(back.x(t, n) - clip.x(t, n)) <= 6e-5f);
        CHECK(std::fabs(back.y(t, n) - clip.y(t, n)) <= 6e-5f);
      }
    }

    // write_clip keeps a sparse clip sparse: it reads back the same.
    const std::string dir2 = unique_temp_dir("sparse_rewrite");
    cotrack::write_clip(back, dir2);
    CHECK(read_lines((fs::path(dir2) / "gt.csv").string()).size() == sparse.size());
    const SynthClip again = cotrack::read_clip(dir2);
    CHECK(again.annotated == back.annotated);
    CHECK(again.visible == back.visible);

    SUBCASE("duplicate row") {
      std::vector<std::string> bad = sparse;
      bad.push_back(sparse[2]);
      write_lines(gt, bad);
      const std::string msg = read_clip_error(dir);
      CHECK(msg.find("gt.csv:" + std::to_string(bad.size()) + ": duplicate") != std::string::npos);
    }
    SUBCASE("a point without rows") {
      std::vector<std::string> bad = {sparse[0]};
      for (size_t l = 1; l < sparse.size(); ++l) {
        if (row_key(sparse[l]).first != 1) bad.push_back(sparse[l]);
      }
      write_lines(gt, bad);
      CHECK(read_clip_error(dir).find("no row for point 1") != std::string::npos);
    }
    SUBCASE("frame out of range and bad number") {
      std::vector<std::string> bad = sparse;
      bad[1] = "0,99,1.0,2.0,1";
      write_lines(gt, bad);
      CHECK(read_clip_error(dir).find("gt.csv:2: frame 99") != std::string::npos);
      bad = sparse;
      bad[3] = "0,1,1.0,nan?,1";
      write_lines(gt, bad);
      CHECK(read_clip_error(dir).find("gt.csv:4:") != std::string::npos);
    }
    SUBCASE("a query frame without an annotation") {
      const std::string pts = (fs::path(dir) / "points.csv").string();
      std::vector<std::string> bad = read_lines(pts);
      const int t = clip.query_frame[0] % 3 == 1 ? clip.query_frame[0] + 1 : 1;  // not kept
      REQUIRE_FALSE(kept(0, t));
      bad[1] = "0," + std::to_string(t) + ",1.0,1.0";
      write_lines(pts, bad);
      CHECK(read_clip_error(dir).find("points.csv:2: point 0 is queried on frame " +
                                      std::to_string(t)) != std::string::npos);
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::remove_all(dir2, ec);
  }

  TEST_CASE("eval: the metrics skip frames without an annotation") {
    const SynthClip clip = moving_points(/*frames=*/8, /*points=*/3, {0, 3, 6});
    REQUIRE_NOTHROW(clip.validate_shapes());
    const cotrack::TrackTable pred = wrong_off_annotations(clip);
    for (QueryMode mode : {QueryMode::kFirst, QueryMode::kStrided}) {
      CAPTURE(cotrack::to_string(mode));
      const cotrack::EvalQueries eq = cotrack::tapvid_queries(clip, mode);
      REQUIRE(eq.size() == 3);  // strided: frame 0 only (3 and 6 are not multiples of 5)
      const cotrack::TapVidTrackSet set = cotrack::tapvid_set(clip, eq, pred);
      CHECK(set.evaluation_mask.size() == set.gt_occluded.size());
      const cotrack::TapVidMetrics m = cotrack::compute_tapvid_metrics(set, mode);
      CHECK(m.average_jaccard == doctest::Approx(1.0));
      CHECK(m.average_pts_within_thresh == doctest::Approx(1.0));
      CHECK(m.occlusion_accuracy == doctest::Approx(1.0));
      for (const auto& track : cotrack::compute_tapvid_trackwise_metrics(set, mode)) {
        CHECK(track.average_jaccard == doctest::Approx(1.0));
      }
      // Frames 3 and 6 of each track are evaluated, nothing else.
      cotrack::HorizonProfile horizon({1});
      horizon.add(set, mode);
      CHECK(horizon.counts(0).evaluated == 6);
      CHECK(horizon.counts(0).gt_visible == 6);
      CHECK(horizon.metrics(0).average_jaccard == doctest::Approx(1.0));

      // The same predictions against the set without its mask: the unannotated frames count.
      cotrack::TapVidTrackSet dense = set;
      dense.evaluation_mask.clear();
      CHECK(cotrack::compute_tapvid_metrics(dense, mode).average_jaccard < 0.5);
    }

    // A dense clip gives no mask.
    SynthClip dense_clip = clip;
    dense_clip.annotated.clear();
    CHECK(cotrack::tapvid_set(dense_clip, cotrack::tapvid_queries(dense_clip, QueryMode::kFirst),
                              pred)
              .evaluation_mask.empty());
  }

  TEST_CASE("eval: queries come from annotated visible frames only") {
    // Visible everywhere, but annotated only from frame 2 (point 0) and on frame 5 (point 1).
    SynthClip clip = moving_points(/*frames=*/12, /*points=*/2, {2, 5, 10});
    for (int t : {2, 10}) clip.annotated[clip.index(t, 1)] = 0;
    clip.query_frame = {2, 5};
    REQUIRE_NOTHROW(clip.validate_shapes());
    const cotrack::EvalQueries first = cotrack::tapvid_queries(clip, QueryMode::kFirst);
    CHECK(first.point == std::vector<int>{0, 1});
    CHECK(first.frame == std::vector<int>{2, 5});
    const cotrack::EvalQueries strided = cotrack::tapvid_queries(clip, QueryMode::kStrided);
    CHECK(strided.point == std::vector<int>{0, 0, 1});
    CHECK(strided.frame == std::vector<int>{5, 10, 5});
    // Occluded where annotated: no query at all.
    for (int t : {2, 5, 10}) clip.visible[clip.index(t, 0)] = 0;
    CHECK(cotrack::tapvid_queries(clip, QueryMode::kFirst).point == std::vector<int>{1});
  }

  TEST_CASE("eval: shapes of the annotation and evaluation masks are checked") {
    SynthClip clip = moving_points(/*frames=*/4, /*points=*/2, {0, 1, 2, 3});
    clip.annotated.pop_back();
    CHECK_THROWS_AS(clip.validate_shapes(), cotrack::InputError);
    clip = moving_points(4, 2, {1, 2});
    clip.query_frame[1] = 0;  // not annotated
    CHECK_THROWS_AS(clip.validate_shapes(), cotrack::InputError);

    cotrack::TapVidTrackSet set = cotrack::TapVidTrackSet::zeros(2, 4);
    set.evaluation_mask.assign(7, 1);
    CHECK_THROWS_AS(cotrack::compute_tapvid_metrics(set, QueryMode::kFirst), cotrack::InputError);
    set.evaluation_mask.assign(8, 1);
    CHECK_NOTHROW(cotrack::compute_tapvid_metrics(set, QueryMode::kFirst));
  }
}
