#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>

#include "cotrack/error.hpp"
#include "cotrack/track.hpp"
#include "model/network.hpp"
#include "model/preprocess.hpp"
#include "engine/reference/online_window.hpp"

namespace cotrack {

std::vector<std::pair<int64_t, int64_t>> official_chunks(int64_t frames, int window, int step) {
  std::vector<std::pair<int64_t, int64_t>> chunks;
  for (int64_t ind = 0; ind < frames - step; ind += step) {
    chunks.emplace_back(ind, std::min<int64_t>(ind + window, frames));
  }
  if (chunks.empty()) chunks.emplace_back(0, frames);
  return chunks;
}

TrackTable track_video(const Model& model, const VideoFrames& video,
                       const std::vector<PointQuery>& queries, const TrackOptions& options) {
  const Network& net = model.network();
  const ModelConfig& cfg = net.config();
  if (video.count < 1 || video.width < 2 || video.height < 2 ||
      video.rgb.size() != video.frame_bytes() * video.count) {
    throw InputError(fmt::format("track: bad video ({} frames of {}x{}, {} bytes)", video.count,
                                 video.width, video.height, video.rgb.size()));
  }
  if (queries.empty()) throw InputError("track: no points to track");
  std::vector<float> q;
  for (size_t i = 0; i < queries.size(); ++i) {
    const auto& p = queries[i];
    if (p.frame < 0 || p.frame >= video.count || !std::isfinite(p.x_px) ||
        !std::isfinite(p.y_px)) {
      throw InputError(fmt::format("track: point {} (frame {}, x {}, y {}) is outside the {} "
                                   "frames of the video",
                                   i, p.frame, p.x_px, p.y_px, video.count));
    }
    q.insert(q.end(), {static_cast<float>(p.frame), p.x_px, p.y_px});
  }
  const int iters = options.iters > 0 ? options.iters : cfg.iters;
  const auto device = net.device();
  const int64_t N = static_cast<int64_t>(queries.size());
  at::Tensor model_queries = scale_queries_to_model(
      at::from_blob(q.data(), {N, 3}, at::kFloat).clone(), video.height, video.width, cfg);
  if (options.support_grid > 0) {
    model_queries =
        at::cat({model_queries, grid_queries(options.support_grid, cfg.model_height,
                                             cfg.model_width)});
  }
  OfficialOnline online(net, model_queries.to(device));
  at::Tensor all = at::from_blob(const_cast<uint8_t*>(video.rgb.data()),
                                 {video.count, video.height, video.width, 3}, at::kByte);
  for (const auto& [a, b] : official_chunks(video.count, cfg.window_len, cfg.step())) {
    at::Tensor chunk = all.slice(0, a, b).permute({0, 3, 1, 2}).to(device).to(at::kFloat);
    online.step(resize_to_model(chunk, cfg), iters);
    if (options.progress) options.progress(static_cast<int>(b), video.count);
  }

  at::Tensor coords = online.coords().narrow(1, 0, N).cpu();
  const at::Tensor back = at::tensor(
      {static_cast<float>((video.width - 1.0) / (cfg.model_width - 1.0)),
       static_cast<float>((video.height - 1.0) / (cfg.model_height - 1.0))},
      coords.options());
  coords = (coords * back).contiguous();
  at::Tensor vis = at::sigmoid(online.vis_logit().narrow(1, 0, N)).cpu().contiguous();
  at::Tensor conf = at::sigmoid(online.conf_logit().narrow(1, 0, N)).cpu().contiguous();
  const at::Tensor weighted =
      options.confidence_weight == 1.0 ? conf : conf.pow(options.confidence_weight);
  at::Tensor visible = (vis * weighted > options.visibility_threshold).to(at::kByte).contiguous();

  TrackTable out;
  out.frames = static_cast<int>(coords.size(0));
  out.points = static_cast<int>(N);
  const size_t n = static_cast<size_t>(out.frames) * N;
  at::Tensor x = coords.select(-1, 0).contiguous(), y = coords.select(-1, 1).contiguous();
  out.x_px.assign(x.data_ptr<float>(), x.data_ptr<float>() + n);
  out.y_px.assign(y.data_ptr<float>(), y.data_ptr<float>() + n);
  out.visibility.assign(vis.data_ptr<float>(), vis.data_ptr<float>() + n);
  out.confidence.assign(conf.data_ptr<float>(), conf.data_ptr<float>() + n);
  out.visible.assign(visible.data_ptr<uint8_t>(), visible.data_ptr<uint8_t>() + n);
  return out;
}

}  // namespace cotrack
