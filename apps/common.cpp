#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "commands.hpp"
#include "cotrack/error.hpp"
#include "cotrack/runtime.hpp"
#include "cotrack/synth.hpp"

#ifdef COTRACK_HAVE_PIPELINE
#include "video_reader.hpp"
#endif

namespace cotrack::app {

void ModelOptions::add_to(CLI::App* sub) {
  sub->add_option("--model", path,
                  "model file: a cotrack model, or the official scaled_online.pth");
  sub->add_option("--preset", preset,
                  "use this architecture with random weights (timing only): cotrack-small, "
                  "cotracker3-online");
  sub->add_option("--resolution", resolution,
                  own_cpu_resolution.empty()
                      ? std::string("model input resolution HxW (default: the model's)")
                      : fmt::format("model input resolution HxW (default: {} for cotrack's own "
                                    "models on a CPU, else the model's)",
                                    own_cpu_resolution));
  sub->add_option("--device", device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--threads", threads, "CPU threads, 0 = all cores")->capture_default_str();
}

std::string default_model_path() {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("COTRACK_MODEL"); env != nullptr && *env != '\0') return env;
  // Installed: PREFIX/bin/cotrack finds PREFIX/share/cotrack/models/.
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed =
        exe.parent_path().parent_path() / "share/cotrack/models" / kDefaultModelName;
    if (fs::exists(installed)) return installed.string();
  }
  return COTRACK_SOURCE_MODELS "/" + std::string(kDefaultModelName);  // the build tree's
}

Model ModelOptions::load(const char* who) const {
  set_num_threads(threads);
  std::string file = path;
  if (file.empty() && preset.empty()) {
    file = default_model_path();
    if (!std::filesystem::exists(file)) {
      throw UsageError(fmt::format("{}: no --model given and the default model {} is missing",
                                   who, file));
    }
    fmt::print(stderr, "{}: using the default model {}, cotrack's own (docs/evaluation.md: "
               "what it tracks well and where Lucas-Kanade is better); --model selects another\n",
               who, file);
  }
  Model model = file.empty() ? Model::random(ModelConfig::preset_named(preset), 0)
                             : Model::load(file);
  const std::string dev = resolve_device(device);
  const std::string& res =
      !resolution.empty() || model.official_semantics() || dev != "cpu" ? resolution
                                                                        : own_cpu_resolution;
  if (!res.empty()) {
    const auto [h, w] = parse_resolution(res);
    model.set_resolution(h, w);
  }
  model.to_device(dev);
  if (file.empty()) {
    fmt::print(stderr, "{}: WARNING: --preset without --model: random weights, meaningless "
               "tracks\n", who);
  }
  return model;
}

FrameSource open_input(const std::string& path, int64_t& total) {
  namespace fs = std::filesystem;
  if (fs::is_directory(path) && fs::exists(fs::path(path) / "frames" / "000000.ppm")) {
    auto clip = std::make_shared<SynthClip>(read_clip(path));
    total = clip->frames;
    auto next = std::make_shared<int>(0);
    return [clip, next](std::vector<uint8_t>& rgb, int& w, int& h) {
      if (*next >= clip->frames) return false;
      const uint8_t* f = clip->frame((*next)++);
      rgb.assign(f, f + clip->frame_size());
      w = clip->width;
      h = clip->height;
      return true;
    };
  }
#ifdef COTRACK_HAVE_PIPELINE
  auto reader = std::make_shared<VideoReader>(path);
  total = reader->frame_count();
  return [reader](std::vector<uint8_t>& rgb, int& w, int& h) { return reader->next(rgb, w, h); };
#else
  throw InputError(fmt::format("{}: only clip folders are readable in this build (video files "
                               "need the pipeline build with OpenCV)",
                               path));
#endif
}

SynthClip load_clip(const std::string& dir) {
  namespace fs = std::filesystem;
  if (fs::exists(fs::path(dir) / "frames" / "000000.ppm")) return read_clip(dir);
#ifdef COTRACK_HAVE_PIPELINE
  std::string source = dir;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string ext = entry.path().extension().string();
    if (entry.is_regular_file() && (ext == ".mp4" || ext == ".avi" || ext == ".mkv" ||
                                    ext == ".mov" || ext == ".webm")) {
      source = entry.path().string();
      break;
    }
  }
  return read_clip(dir, read_all(source));
#else
  throw InputError(fmt::format("{}: no frames/000000.ppm; PNG frames and videos need the "
                               "pipeline build (OpenCV)",
                               dir));
#endif
}

}  // namespace cotrack::app
