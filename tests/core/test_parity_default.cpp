// The real predictor path at the default 384x512 resolution (resize in and out, support grid):
// ../shared/fixtures/cotracker3/default.pt. Label "slow": two 384x512 runs take tens of seconds.
#include "test_common.hpp"

#include <ATen/ATen.h>

#include "cotrack/model.hpp"
#include "cotrack/track.hpp"
#include "model/preprocess.hpp"

using cotrack::test::get;
using cotrack::test::max_abs_diff;

namespace {

cotrack::VideoFrames to_frames(const at::Tensor& video) {  // [T, 3, H, W] uint8
  at::Tensor hwc = video.permute({0, 2, 3, 1}).contiguous();
  cotrack::VideoFrames f;
  f.count = static_cast<int>(video.size(0));
  f.height = static_cast<int>(video.size(2));
  f.width = static_cast<int>(video.size(3));
  f.rgb.assign(hwc.data_ptr<uint8_t>(), hwc.data_ptr<uint8_t>() + hwc.numel());
  return f;
}

std::vector<cotrack::PointQuery> to_queries(const at::Tensor& q) {
  std::vector<cotrack::PointQuery> out;
  for (int64_t i = 0; i < q.size(0); ++i) {
    out.push_back({static_cast<int>(q[i][0].item<float>()), q[i][1].item<float>(),
                   q[i][2].item<float>()});
  }
  return out;
}

void check_tracks(const cotrack::TrackTable& t, const c10::Dict<c10::IValue, c10::IValue>& fx,
                  const std::string& prefix) {
  const int64_t T = t.frames, N = t.points;
  at::Tensor x = at::from_blob(const_cast<float*>(t.x_px.data()), {T, N}, at::kFloat);
  at::Tensor y = at::from_blob(const_cast<float*>(t.y_px.data()), {T, N}, at::kFloat);
  at::Tensor vis = at::from_blob(const_cast<float*>(t.visibility.data()), {T, N}, at::kFloat);
  at::Tensor conf = at::from_blob(const_cast<float*>(t.confidence.data()), {T, N}, at::kFloat);
  at::Tensor visible = at::from_blob(const_cast<uint8_t*>(t.visible.data()), {T, N}, at::kByte);
  const double d_xy = max_abs_diff(at::stack({x, y}, -1), get(fx, prefix + "tracks"));
  const double d_vis = max_abs_diff(vis, get(fx, prefix + "vis_prob"));
  const double d_conf = max_abs_diff(conf, get(fx, prefix + "conf"));
  MESSAGE(prefix << "tracks: " << d_xy << " px, vis " << d_vis << ", conf " << d_conf);
  CHECK(d_xy <= 1e-3);
  CHECK(d_vis <= 1e-4);
  CHECK(d_conf <= 1e-4);
  CHECK(at::equal(visible, get(fx, prefix + "vis")));
}

}  // namespace

TEST_SUITE("slow") {
  TEST_CASE("default.pt: 384x512 predictor with resize in and out, and with the support grid") {
    const std::string model_path = cotrack::test::fixture_or_skip("cotracker3/random_online.pth");
    const std::string path = cotrack::test::fixture_or_skip("cotracker3/default.pt");
    if (model_path.empty() || path.empty()) return;
    auto fx = cotrack::test::load_fixture_dict(path);
    cotrack::Model model = cotrack::Model::load(model_path);
    const cotrack::ModelConfig& cfg = model.config();
    REQUIRE(cfg.model_height == 384);
    REQUIRE(cfg.model_width == 512);

    at::Tensor video = get(fx, "video");
    const int H = static_cast<int>(video.size(2)), W = static_cast<int>(video.size(3));
    at::Tensor model_queries = cotrack::scale_queries_to_model(get(fx, "queries"), H, W, cfg);
    CHECK(max_abs_diff(model_queries, get(fx, "model_queries")) == 0.0);
    at::Tensor sg = at::cat({model_queries, cotrack::grid_queries(6, 384, 512)});
    CHECK(max_abs_diff(sg, get(fx, "sg_model_queries")) == 0.0);
    at::Tensor frame0 = cotrack::resize_to_model(video.narrow(0, 0, 1).to(at::kFloat), cfg);
    CHECK(max_abs_diff(frame0[0], get(fx, "resized_frame0")) == 0.0);

    const auto frames = to_frames(video);
    const auto queries = to_queries(get(fx, "queries"));
    check_tracks(cotrack::track_video(model, frames, queries), fx, "");
    cotrack::TrackOptions with_grid;
    with_grid.support_grid = 6;
    check_tracks(cotrack::track_video(model, frames, queries, with_grid), fx, "sg_");
  }
}
