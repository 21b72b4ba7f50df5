#include <cotrack/cotrack.hpp>

#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
  cotrack::Model model = cotrack::Model::load(argv[1]);
  cotrack::OnlineEngine engine(model, cotrack::EngineConfig{});
  int rows = 0;
  engine.set_sink([&](const cotrack::FrameEstimates& f) { rows += static_cast<int>(f.points.size()); });
  std::vector<uint8_t> rgb(64 * 48 * 3, 128);
  for (int t = 0; t < 12; ++t) {
    if (engine.push_frame(rgb.data(), 64, 48) == 0) engine.add_point(0, 30.f, 20.f);
    engine.step();
  }
  engine.flush();
  std::printf("rows %d\n", rows);
  return rows == 12 && argc == 2 ? 0 : 1;
}
