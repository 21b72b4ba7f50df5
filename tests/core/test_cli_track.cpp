// `cotrack track` end to end: the official small.pt stream written as a clip folder, tracked by
// the command-line program in exact mode, read back from tracks.csv and compared.
#include "test_common.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "cotrack/synth.hpp"

using cotrack::test::get;

TEST_SUITE("parity") {
  TEST_CASE("cotrack track: exact mode through the CLI reproduces small.pt, late points too") {
    const std::string model = cotrack::test::fixture_or_skip("cotracker3/random_online.pth");
    const std::string path = cotrack::test::fixture_or_skip("cotracker3/small.pt");
    if (model.empty() || path.empty()) return;
    auto fx = cotrack::test::load_fixture_dict(path);
    at::Tensor video = get(fx, "video").permute({0, 2, 3, 1}).contiguous();
    at::Tensor queries = get(fx, "queries");
    at::Tensor gt = get(fx, "gt_tracks").contiguous();
    at::Tensor gt_vis = get(fx, "gt_visible").contiguous();
    const int T = static_cast<int>(video.size(0)), N = static_cast<int>(queries.size(0));

    cotrack::SynthClip clip;
    clip.frames = T;
    clip.height = static_cast<int>(video.size(1));
    clip.width = static_cast<int>(video.size(2));
    clip.num_points = N;
    clip.rgb.assign(video.data_ptr<uint8_t>(), video.data_ptr<uint8_t>() + video.numel());
    clip.tracks.assign(gt.data_ptr<float>(), gt.data_ptr<float>() + gt.numel());
    clip.visible.assign(gt_vis.data_ptr<uint8_t>(), gt_vis.data_ptr<uint8_t>() + gt_vis.numel());
    for (int n = 0; n < N; ++n) {
      clip.query_frame.push_back(static_cast<int>(queries[n][0].item<float>()));
      clip.layer.push_back(-1);
    }
    const auto dir = std::filesystem::temp_directory_path() /
                     ("cotrack_cli_" + std::to_string(::getpid()));
    cotrack::write_clip(clip, dir.string());
    {
      std::ofstream pts(dir / "queries.csv");
      pts << "point_id,frame,x,y\n";
      for (int n = 0; n < N; ++n) {
        pts << 100 + n << "," << queries[n][0].item<float>() << "," << queries[n][1].item<float>()
            << "," << queries[n][2].item<float>() << "\n";
      }
    }
    const std::string out = (dir / "tracks.csv").string();
    const std::string cmd = std::string(COTRACK_CLI) + " track --model " + model +
                            " --resolution 96x128 --threads 1 --input " + dir.string() +
                            " --points " + (dir / "queries.csv").string() + " --out " + out +
                            " > " + (dir / "log.txt").string() + " 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);

    std::ifstream in(out);
    std::string line;
    std::getline(in, line);
    CHECK(line == "point_id,frame,x,y,visible,confidence");
    std::map<std::pair<int, int>, std::vector<double>> rows;
    while (std::getline(in, line)) {
      std::stringstream ss(line);
      std::vector<double> v;
      std::string cell;
      while (std::getline(ss, cell, ',')) v.push_back(std::stod(cell));
      REQUIRE(v.size() == 6);
      rows[{static_cast<int>(v[0]) - 100, static_cast<int>(v[1])}] = v;
    }
    std::filesystem::remove_all(dir);
    CHECK(rows.size() == static_cast<size_t>(T * N));

    at::Tensor ref = get(fx, "tracks"), ref_conf = get(fx, "conf"), ref_vis = get(fx, "vis");
    double max_xy = 0, max_conf = 0;
    int flips = 0, compared = 0;
    for (int n = 0; n < N; ++n) {
      const int qf = static_cast<int>(queries[n][0].item<float>());
      const int start = qf < 16 ? 0 : (qf - 8) / 8 * 8;
      for (int t = 0; t < T; ++t) {
        const auto& v = rows.at({n, t});
        if (t < start) {  // before the point's first window: its query point, not visible
          CHECK(v[4] == 0);
          CHECK(std::abs(v[2] - queries[n][1].item<double>()) < 1e-3);
          continue;
        }
        max_xy = std::max({max_xy, std::abs(v[2] - ref[t][n][0].item<double>()),
                           std::abs(v[3] - ref[t][n][1].item<double>())});
        max_conf = std::max(max_conf, std::abs(v[5] - ref_conf[t][n].item<double>()));
        flips += (v[4] != 0) != (ref_vis[t][n].item<int>() != 0);
        ++compared;
      }
    }
    MESSAGE("CLI vs official (CSV has 3 decimals): " << compared << " rows, tracks " << max_xy
                                                     << " px, confidence " << max_conf);
    CHECK(compared == 380);
    CHECK(max_xy <= 1e-3);
    CHECK(max_conf <= 1e-4);
    CHECK(flips == 0);
  }
}
