// The network's architecture: everything that a model file fixes (torch-free header).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace cotrack {

// Architecture of a CoTracker3-style online tracker. The preset "cotracker3-online" is exactly
// the released online model; smaller presets (CPU real time, training) use the same code.
struct ModelConfig {
  std::string preset = "cotracker3-online";
  int stride = 4;               // feature map = input / stride
  int latent_dim = 128;         // feature channels of the CNN output (BasicEncoder output_dim)
  int corr_radius = 3;          // (2r+1)^2 support and correlation neighbourhoods
  int corr_levels = 4;          // pyramid levels
  int corr_hidden = 384;        // correlation MLP: (2r+1)^4 -> corr_hidden -> corr_out
  int corr_out = 256;
  int hidden_size = 384;        // transformer width
  int num_heads = 8;
  int time_depth = 3;           // time-attention blocks; each is followed by a space block
  int space_depth = 3;
  int num_virtual_tracks = 64;
  int mlp_ratio = 4;
  int window_len = 16;          // frames per window; the window moves by window_len / 2
  int posenc_degrees = 10;      // sin/cos scales 2^0 .. 2^(degrees-1) of the relative motion
  int model_height = 384;       // model input resolution: frames are resized to it, and it
  int model_width = 512;        // scales the motion encoding
  int iters = 6;                // refinement iterations at inference

  int step() const { return window_len / 2; }
  int corr_window() const { return 2 * corr_radius + 1; }
  int corr_dim() const { return corr_window() * corr_window() * corr_window() * corr_window(); }
  int posenc_dim() const { return 4 + 2 * 4 * posenc_degrees; }
  // Token: [vis logit, conf logit, corr_out per level, posenc] = 1110 for the official model.
  int input_dim() const { return 2 + corr_levels * corr_out + posenc_dim(); }

  // Throws UsageError naming the first inconsistent field.
  void validate() const;
  // One line: "cotracker3-online: 384x512, window 16, latent 128, hidden 384x(3+3), ..."
  std::string summary() const;
  // Key/value pairs (as stored in cotrack model files) and back. Unknown keys are an error.
  std::vector<std::pair<std::string, std::string>> to_pairs() const;
  static ModelConfig from_pairs(const std::vector<std::pair<std::string, std::string>>& pairs);

  // Named presets: "cotracker3-online". Throws UsageError listing the known names.
  static ModelConfig preset_named(const std::string& name);
  static std::vector<std::string> preset_names();
};

}  // namespace cotrack
