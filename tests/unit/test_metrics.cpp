// TAP-Vid metrics: parity with the reference fixture plus hand-computed property cases.
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "cotrack/error.hpp"
#include "cotrack/metrics.hpp"

#ifndef COTRACK_FIXTURES_DEFAULT
#define COTRACK_FIXTURES_DEFAULT ""
#endif

namespace {

using cotrack::QueryMode;
using cotrack::TapVidMetrics;
using cotrack::TapVidTrackSet;
using nlohmann::json;

constexpr double kFixtureTolerance = 1e-6;
constexpr double kExact = 1e-12;  // hand-computed values: only rounding of the final division
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string fixtures_dir() {
  const char* env = std::getenv("COTRACK_FIXTURES");
  if (env != nullptr && env[0] != '\0') return env;
  return COTRACK_FIXTURES_DEFAULT;
}

bool running_in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

// The value the reference names `name` (e.g. "jaccard_4"), or nullopt for an unknown name.
std::optional<double> metric_by_name(const TapVidMetrics& m, const std::string& name) {
  if (name == "occlusion_accuracy") return m.occlusion_accuracy;
  if (name == "average_jaccard") return m.average_jaccard;
  if (name == "average_pts_within_thresh") return m.average_pts_within_thresh;
  for (int i = 0; i < cotrack::kTapVidNumThresholds; ++i) {
    const std::string d = std::to_string(static_cast<int>(cotrack::kTapVidThresholdsPx[i]));
    if (name == "pts_within_" + d) return m.pts_within[i];
    if (name == "jaccard_" + d) return m.jaccard[i];
  }
  return std::nullopt;
}

// `expected` is a JSON number, or null for NaN. Returns true when `actual` is NaN.
bool check_value(double actual, const json& expected, const std::string& what) {
  INFO(what);
  if (expected.is_null()) {
    CHECK_MESSAGE(std::isnan(actual), "expected NaN, got " << actual);
    return std::isnan(actual);
  }
  const double want = expected.get<double>();
  CHECK_MESSAGE(std::fabs(actual - want) <= kFixtureTolerance,
                "got " << actual << ", expected " << want);
  return std::isnan(actual);
}

// Video `b` of a fixture case, from its [B,N,...] nested arrays.
TapVidTrackSet video_from_case(const json& c, std::size_t b) {
  const json& qp = c.at("query_points").at(b);
  const json& gt_occ = c.at("gt_occluded").at(b);
  const int num_tracks = static_cast<int>(qp.size());
  const int num_frames = static_cast<int>(gt_occ.at(0).size());
  TapVidTrackSet v = TapVidTrackSet::zeros(num_tracks, num_frames);
  for (int n = 0; n < num_tracks; ++n) {
    for (int j = 0; j < 3; ++j) v.query_points[3 * n + j] = qp.at(n).at(j).get<float>();
    for (int t = 0; t < num_frames; ++t) {
      const std::size_t k = v.index(n, t);
      v.gt_occluded[k] = gt_occ.at(n).at(t).get<bool>() ? 1 : 0;
      v.pred_occluded[k] = c.at("pred_occluded").at(b).at(n).at(t).get<bool>() ? 1 : 0;
      for (int j = 0; j < 2; ++j) {
        v.gt_tracks[2 * k + j] = c.at("gt_tracks").at(b).at(n).at(t).at(j).get<float>();
        v.pred_tracks[2 * k + j] = c.at("pred_tracks").at(b).at(n).at(t).at(j).get<float>();
      }
    }
  }
  return v;
}

void check_all_fields(const TapVidMetrics& m, double oa, const std::vector<double>& within,
                      const std::vector<double>& jaccard, double tol = kExact) {
  CHECK(std::fabs(m.occlusion_accuracy - oa) <= tol);
  double sum_within = 0.0;
  double sum_jaccard = 0.0;
  for (int i = 0; i < cotrack::kTapVidNumThresholds; ++i) {
    INFO("threshold " << cotrack::kTapVidThresholdsPx[i] << " px");
    CHECK(std::fabs(m.pts_within[i] - within[i]) <= tol);
    CHECK(std::fabs(m.jaccard[i] - jaccard[i]) <= tol);
    sum_within += within[i];
    sum_jaccard += jaccard[i];
  }
  CHECK(std::fabs(m.average_pts_within_thresh - sum_within / 5.0) <= tol);
  CHECK(std::fabs(m.average_jaccard - sum_jaccard / 5.0) <= tol);
}

// Three tracks over six frames with varied occlusion; predictions equal the ground truth.
// Track 0: occluded in frames 0-1, queried at 2. Track 1: occluded in frame 4, queried at 0.
// Track 2: always visible, queried at 3.
TapVidTrackSet perfect_video() {
  TapVidTrackSet v = TapVidTrackSet::zeros(3, 6);
  const float query_t[3] = {2.0f, 0.0f, 3.0f};
  for (int n = 0; n < 3; ++n) {
    v.query_points[3 * n] = query_t[n];
    for (int t = 0; t < 6; ++t) {
      const std::size_t k = v.index(n, t);
      v.gt_tracks[2 * k] = 10.5f + 7.25f * static_cast<float>(n) + static_cast<float>(t);
      v.gt_tracks[2 * k + 1] = 200.0f - 3.5f * static_cast<float>(t);
    }
  }
  v.gt_occluded[v.index(0, 0)] = 1;
  v.gt_occluded[v.index(0, 1)] = 1;
  v.gt_occluded[v.index(1, 4)] = 1;
  v.pred_occluded = v.gt_occluded;
  v.pred_tracks = v.gt_tracks;
  return v;
}

// One always-visible track at (100, 100) over five frames, queried at `query_t`:
//   frame 0: predicted occluded (wrong), 100 px off;
//   frame 1: ground truth occluded, predicted visible 3 px off (a false positive);
//   frame 2: predicted occluded and 100 px off (the query frame in the main case);
//   frame 3: exact; frame 4: 1.5 px off, predicted visible.
TapVidTrackSet mode_video(float query_t) {
  TapVidTrackSet v = TapVidTrackSet::zeros(1, 5);
  v.query_points = {query_t, 100.0f, 100.0f};
  for (int t = 0; t < 5; ++t) {
    v.gt_tracks[2 * t] = 100.0f;
    v.gt_tracks[2 * t + 1] = 100.0f;
  }
  v.pred_tracks = v.gt_tracks;
  v.pred_occluded[0] = 1;
  v.pred_tracks[0] = 200.0f;
  v.gt_occluded[1] = 1;
  v.pred_tracks[2] = 103.0f;
  v.pred_occluded[2] = 1;
  v.pred_tracks[4] = 0.0f;
  v.pred_tracks[9] = 101.5f;
  return v;
}

}  // namespace

TEST_SUITE("unit") {

TEST_CASE("tapvid metrics match the reference fixture (per video and trackwise)") {
  const std::string path = fixtures_dir() + "/tapvid_metrics.json";
  std::ifstream in(path);
  if (!in) {
    if (running_in_ci()) FAIL("fixture missing: " << path);
    MESSAGE("skipped: fixture not found at " << path);
    return;
  }
  const json root = json::parse(in);
  const json& cases = root.at("cases");
  REQUIRE(cases.size() == 6);

  int nan_count = 0;
  int checked = 0;
  for (const json& c : cases) {
    const std::string name = c.at("name").get<std::string>();
    const QueryMode mode = cotrack::parse_query_mode(c.at("query_mode").get<std::string>());
    const std::size_t batch = c.at("query_points").size();
    for (std::size_t b = 0; b < batch; ++b) {
      const TapVidTrackSet video = video_from_case(c, b);
      const TapVidMetrics per_video = cotrack::compute_tapvid_metrics(video, mode);
      const std::vector<TapVidMetrics> per_track =
          cotrack::compute_tapvid_trackwise_metrics(video, mode);
      REQUIRE(per_track.size() == static_cast<std::size_t>(video.num_tracks));

      REQUIRE(c.at("metrics").size() == 13);
      for (const auto& [key, values] : c.at("metrics").items()) {
        const std::optional<double> got = metric_by_name(per_video, key);
        REQUIRE_MESSAGE(got.has_value(), "unknown metric " << key);
        nan_count += check_value(*got, values.at(b), name + " " + key) ? 1 : 0;
        ++checked;
      }
      REQUIRE(c.at("trackwise_metrics").size() == 13);
      for (const auto& [key, values] : c.at("trackwise_metrics").items()) {
        const json& row = values.at(b);
        REQUIRE(row.size() == per_track.size());
        for (std::size_t n = 0; n < per_track.size(); ++n) {
          const std::optional<double> got = metric_by_name(per_track[n], key);
          REQUIRE_MESSAGE(got.has_value(), "unknown metric " << key);
          const std::string what = name + " trackwise " + key + " track " + std::to_string(n);
          nan_count += check_value(*got, row.at(n), what) ? 1 : 0;
          ++checked;
        }
      }
    }
  }
  // 6 cases x (13 + 13 x 20) values; each 'first' case has one track queried on its last frame.
  CHECK(checked == 6 * (13 + 13 * 20));
  CHECK(nan_count == 3 * 13);
}

TEST_CASE("tapvid metrics: a perfect prediction scores 1 everywhere, in both modes") {
  const TapVidTrackSet video = perfect_video();
  const std::vector<double> ones(5, 1.0);
  for (QueryMode mode : {QueryMode::kFirst, QueryMode::kStrided}) {
    INFO("mode " << cotrack::to_string(mode));
    const TapVidMetrics m = cotrack::compute_tapvid_metrics(video, mode);
    check_all_fields(m, 1.0, ones, ones);
    CHECK(m.average_jaccard == 1.0);
    for (const TapVidMetrics& track : cotrack::compute_tapvid_trackwise_metrics(video, mode)) {
      check_all_fields(track, 1.0, ones, ones);
    }
  }
}

TEST_CASE("tapvid metrics: 'within d' is strict") {
  TapVidTrackSet video = perfect_video();
  SUBCASE("exactly 1 px off: not within 1, within 2") {
    // Offsets along x for track 0, along -y for track 1, along +x and +y alternately for track 2.
    for (int t = 0; t < 6; ++t) {
      video.pred_tracks[2 * video.index(0, t)] += 1.0f;
      video.pred_tracks[2 * video.index(1, t) + 1] -= 1.0f;
      video.pred_tracks[2 * video.index(2, t) + (t % 2)] += 1.0f;
    }
    for (QueryMode mode : {QueryMode::kFirst, QueryMode::kStrided}) {
      INFO("mode " << cotrack::to_string(mode));
      // Every visible point is a miss at 1 px and predicted visible: TP 0, so jaccard_1 = 0.
      const TapVidMetrics m = cotrack::compute_tapvid_metrics(video, mode);
      check_all_fields(m, 1.0, {0, 1, 1, 1, 1}, {0, 1, 1, 1, 1});
      CHECK(std::fabs(m.average_jaccard - 0.8) <= kExact);
    }
  }
  SUBCASE("exactly 2 px off: within 4 only") {
    for (int t = 0; t < 6; ++t) video.pred_tracks[2 * video.index(2, t)] -= 2.0f;
    // Strided, track 2 (queried at 3): 5 visible evaluated frames, each a miss at 1 and 2 px.
    const std::vector<TapVidMetrics> tracks =
        cotrack::compute_tapvid_trackwise_metrics(video, QueryMode::kStrided);
    check_all_fields(tracks[2], 1.0, {0, 0, 1, 1, 1}, {0, 0, 1, 1, 1});
    check_all_fields(tracks[0], 1.0, {1, 1, 1, 1, 1}, {1, 1, 1, 1, 1});
  }
}

TEST_CASE("tapvid metrics: 'first' evaluates frames after the query, 'strided' all but it") {
  const TapVidTrackSet video = mode_video(2.0f);
  // first: frames 3 and 4. Both occlusion predictions right; frame 4 misses only at 1 px, which
  // also makes it a false positive there: jaccard_1 = 1 / (2 + 1).
  const TapVidMetrics first = cotrack::compute_tapvid_metrics(video, QueryMode::kFirst);
  check_all_fields(first, 1.0, {0.5, 1, 1, 1, 1}, {1.0 / 3.0, 1, 1, 1, 1});
  CHECK(std::fabs(first.average_jaccard - 13.0 / 15.0) <= kExact);
  CHECK(std::fabs(first.average_pts_within_thresh - 0.9) <= kExact);

  // strided: frames 0, 1, 3, 4. Occlusion right in 3 and 4 only; visible ground truth in 0, 3, 4;
  // frame 1 is a false positive at every threshold, frame 4 at 1 px; frame 0 (predicted
  // occluded) is a miss but no false positive.
  const TapVidMetrics strided = cotrack::compute_tapvid_metrics(video, QueryMode::kStrided);
  check_all_fields(strided, 0.5, {1.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0},
                   {0.2, 0.5, 0.5, 0.5, 0.5});
  CHECK(std::fabs(strided.average_jaccard - 0.44) <= kExact);
  CHECK(std::fabs(strided.average_pts_within_thresh - 0.6) <= kExact);
}

TEST_CASE("tapvid metrics: the query frame is rounded half to even, as numpy does") {
  const TapVidMetrics at_2 = cotrack::compute_tapvid_metrics(mode_video(2.0f), QueryMode::kFirst);
  for (float t : {1.5f, 2.5f, 2.4999f}) {
    INFO("query t " << t);
    const TapVidMetrics m = cotrack::compute_tapvid_metrics(mode_video(t), QueryMode::kFirst);
    CHECK(m.average_jaccard == at_2.average_jaccard);
    CHECK(m.occlusion_accuracy == at_2.occlusion_accuracy);
  }
  // t = 2.5001 and t = 3.5 round to 3 and 4: frame 4 only, then nothing at all.
  const TapVidMetrics at_3 =
      cotrack::compute_tapvid_metrics(mode_video(2.5001f), QueryMode::kFirst);
  check_all_fields(at_3, 1.0, {0, 1, 1, 1, 1}, {0, 1, 1, 1, 1});
  const TapVidMetrics at_4 = cotrack::compute_tapvid_metrics(mode_video(3.5f), QueryMode::kFirst);
  CHECK(std::isnan(at_4.occlusion_accuracy));
  CHECK(std::isnan(at_4.average_jaccard));
}

TEST_CASE("tapvid metrics: 0/0 is NaN per track and drops out of the per-video sums") {
  TapVidTrackSet video = perfect_video();
  // Track 2 queried on the last frame: nothing to evaluate in 'first' mode, whatever it predicts.
  video.query_points[3 * 2] = 5.0f;
  for (int t = 0; t < 6; ++t) {
    video.pred_tracks[2 * video.index(2, t)] += 50.0f;
    video.pred_occluded[video.index(2, t)] = 1;
  }
  const std::vector<TapVidMetrics> tracks =
      cotrack::compute_tapvid_trackwise_metrics(video, QueryMode::kFirst);
  CHECK(std::isnan(tracks[2].occlusion_accuracy));
  for (int i = 0; i < cotrack::kTapVidNumThresholds; ++i) {
    CHECK(std::isnan(tracks[2].pts_within[i]));
    CHECK(std::isnan(tracks[2].jaccard[i]));
  }
  CHECK(std::isnan(tracks[2].average_jaccard));
  const TapVidMetrics m = cotrack::compute_tapvid_metrics(video, QueryMode::kFirst);
  check_all_fields(m, 1.0, std::vector<double>(5, 1.0), std::vector<double>(5, 1.0));

  SUBCASE("no visible ground truth: occlusion accuracy defined, the rest NaN") {
    TapVidTrackSet hidden = TapVidTrackSet::zeros(1, 4);
    hidden.gt_occluded.assign(4, 1);
    hidden.pred_occluded = {1, 1, 0, 1};
    const TapVidMetrics h = cotrack::compute_tapvid_metrics(hidden, QueryMode::kStrided);
    CHECK(std::fabs(h.occlusion_accuracy - 2.0 / 3.0) <= kExact);
    CHECK(std::isnan(h.pts_within[0]));
    // One false positive makes the jaccard denominator nonzero: 0 / 1.
    CHECK(h.jaccard[0] == 0.0);
    CHECK(std::isnan(h.average_pts_within_thresh));
  }
}

TEST_CASE("tapvid metrics: bad inputs are rejected") {
  TapVidTrackSet video = perfect_video();
  SUBCASE("query frame past the end") {
    video.query_points[0] = 6.0f;
    CHECK_THROWS_AS(cotrack::compute_tapvid_metrics(video, QueryMode::kFirst),
                    cotrack::InputError);
  }
  SUBCASE("negative query frame") {
    video.query_points[0] = -1.0f;
    CHECK_THROWS_AS(cotrack::compute_tapvid_trackwise_metrics(video, QueryMode::kStrided),
                    cotrack::InputError);
  }
  SUBCASE("shape mismatch") {
    video.pred_tracks.pop_back();
    CHECK_THROWS_AS(cotrack::compute_tapvid_metrics(video, QueryMode::kFirst),
                    cotrack::InputError);
  }
  CHECK_THROWS_AS(cotrack::parse_query_mode("Strided"), cotrack::UsageError);
  CHECK(cotrack::parse_query_mode("strided") == QueryMode::kStrided);
  CHECK(cotrack::parse_query_mode("first") == QueryMode::kFirst);
}

TEST_CASE("tapvid metrics: averaging over videos is a plain field-wise mean") {
  TapVidMetrics a;
  TapVidMetrics b;
  a.occlusion_accuracy = 0.5;
  b.occlusion_accuracy = 1.0;
  a.jaccard = {0.1, 0.2, 0.3, 0.4, 0.5};
  b.jaccard = {0.3, 0.4, 0.5, 0.6, 0.7};
  a.average_jaccard = 0.3;
  b.average_jaccard = 0.5;
  a.pts_within[4] = 1.0;
  b.pts_within[4] = kNaN;
  const TapVidMetrics mean = cotrack::average_tapvid_metrics({a, b});
  CHECK(std::fabs(mean.occlusion_accuracy - 0.75) <= kExact);
  CHECK(std::fabs(mean.jaccard[0] - 0.2) <= kExact);
  CHECK(std::fabs(mean.jaccard[4] - 0.6) <= kExact);
  CHECK(std::fabs(mean.average_jaccard - 0.4) <= kExact);
  CHECK(mean.pts_within[0] == 0.0);
  CHECK(std::isnan(mean.pts_within[4]));
  CHECK(std::isnan(cotrack::average_tapvid_metrics({}).average_jaccard));
}

TEST_CASE("tapvid metrics: rescaling to the 256x256 raster is x*256/W, y*256/H") {
  std::vector<float> xy = {256.0f, 64.0f, 0.0f, 127.0f, 319.0f, 0.5f};
  cotrack::rescale_xy_to_tapvid_raster(xy, 320, 128);
  CHECK(xy[0] == static_cast<float>(256.0 * 256.0 / 320.0));
  CHECK(xy[1] == 128.0f);
  CHECK(xy[2] == 0.0f);
  CHECK(xy[3] == 254.0f);
  CHECK(xy[4] == static_cast<float>(319.0 * 256.0 / 320.0));
  CHECK(xy[5] == 1.0f);

  TapVidTrackSet video = TapVidTrackSet::zeros(1, 2);
  video.query_points = {1.0f, 64.0f, 256.0f};  // (t, y, x)
  video.gt_tracks = {256.0f, 64.0f, 512.0f, 128.0f};
  video.pred_tracks = {128.0f, 32.0f, 0.0f, 0.0f};
  cotrack::rescale_to_tapvid_raster(video, 512, 128);
  CHECK(video.query_points == std::vector<float>{1.0f, 128.0f, 128.0f});
  CHECK(video.gt_tracks == std::vector<float>{128.0f, 128.0f, 256.0f, 256.0f});
  CHECK(video.pred_tracks == std::vector<float>{64.0f, 64.0f, 0.0f, 0.0f});

  std::vector<float> odd = {1.0f, 2.0f, 3.0f};
  CHECK_THROWS_AS(cotrack::rescale_xy_to_tapvid_raster(odd, 256, 256), cotrack::UsageError);
  CHECK_THROWS_AS(cotrack::rescale_xy_to_tapvid_raster(xy, 0, 256), cotrack::UsageError);
}


TEST_CASE("horizon profile: bins by distance from the query, pooled counts, same totals") {
  // Track 0 queried at 0 over 10 frames: the error grows by 1 px per frame (frame t is t px off
  // along x), all visible. Track 1 queried at 6: exact, occluded at frame 8.
  TapVidTrackSet video = TapVidTrackSet::zeros(2, 10);
  video.query_points[0] = 0.0f;
  video.query_points[3] = 6.0f;
  for (int t = 0; t < 10; ++t) {
    video.gt_tracks[2 * video.index(0, t)] = 50.0f;
    video.pred_tracks[2 * video.index(0, t)] = 50.0f + static_cast<float>(t);
    video.gt_tracks[2 * video.index(1, t)] = 80.0f;
    video.pred_tracks[2 * video.index(1, t)] = 80.0f;
  }
  video.gt_occluded[video.index(1, 8)] = 1;
  video.pred_occluded[video.index(1, 8)] = 1;

  cotrack::HorizonProfile h({1, 2, 4});
  REQUIRE(h.num_bins() == 3);
  CHECK(h.bin_end(0) == 2);
  CHECK(h.bin_end(2) == -1);
  h.add(video, QueryMode::kFirst);
  // Bin "1": track 0 frame 1 (1 px off: not within 1), track 1 frame 7 (exact).
  CHECK(h.counts(0).evaluated == 2);
  CHECK(h.counts(0).gt_visible == 2);
  check_all_fields(h.metrics(0), 1.0, {0.5, 1, 1, 1, 1}, {1.0 / 3.0, 1, 1, 1, 1});
  // Bin "2-3": track 0 frames 2, 3 (2 and 3 px off); track 1 frame 8 (occluded, right) and 9.
  CHECK(h.counts(1).evaluated == 4);
  CHECK(h.counts(1).gt_visible == 3);
  check_all_fields(h.metrics(1), 1.0, {1.0 / 3, 1.0 / 3, 1, 1, 1},
                   {1.0 / 5, 1.0 / 5, 1, 1, 1});
  // Bin "4+": track 0 frames 4..9, 4 to 9 px off.
  CHECK(h.counts(2).gt_visible == 6);
  check_all_fields(h.metrics(2), 1.0, {0, 0, 0, 4.0 / 6, 1}, {0, 0, 0, 0.5, 1});

  // The bins partition the evaluation frames: their counts add up to the whole video's.
  cotrack::TapVidCounts total;
  for (int i = 0; i < h.num_bins(); ++i) total.add(h.counts(i));
  const TapVidMetrics whole = cotrack::compute_tapvid_metrics(video, QueryMode::kFirst);
  const TapVidMetrics pooled = cotrack::metrics_from_counts(total);
  CHECK(std::fabs(pooled.average_jaccard - whole.average_jaccard) <= kExact);
  CHECK(std::fabs(pooled.occlusion_accuracy - whole.occlusion_accuracy) <= kExact);

  // Adding a second video pools the counts.
  h.add(video, QueryMode::kFirst);
  CHECK(h.counts(2).gt_visible == 12);
  check_all_fields(h.metrics(2), 1.0, {0, 0, 0, 4.0 / 6, 1}, {0, 0, 0, 0.5, 1});

  // Strided mode bins frames before the query by |t - q| too.
  cotrack::HorizonProfile s({1});
  s.add(video, QueryMode::kStrided);
  CHECK(s.counts(0).evaluated == 18);

  CHECK_THROWS_AS(cotrack::HorizonProfile({0, 4}), cotrack::UsageError);
  CHECK_THROWS_AS(cotrack::HorizonProfile({4, 4}), cotrack::UsageError);
  CHECK_THROWS_AS(cotrack::HorizonProfile(std::vector<int>{}), cotrack::UsageError);
  // Bad input throws and leaves the profile as it was, also when earlier tracks were fine.
  TapVidTrackSet late = video;
  late.query_points[3] = 10.0f;
  CHECK_THROWS_AS(h.add(late, QueryMode::kFirst), cotrack::InputError);
  CHECK(h.counts(0).evaluated == 4);
  CHECK(h.counts(2).gt_visible == 12);
  video.pred_tracks.pop_back();
  CHECK_THROWS_AS(h.add(video, QueryMode::kFirst), cotrack::InputError);
}

}  // TEST_SUITE("unit")
