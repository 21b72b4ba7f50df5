// bf16 autocast for a scope: the engine's windows and the trainer's forward pass (internal).
#pragma once

#include <ATen/autocast_mode.h>
#include <c10/core/DeviceType.h>
#include <torch/version.h>

namespace cotrack {

// Autocast to bf16 on `device` for the lifetime of the scope (the previous state comes back).
class Bf16Autocast {
 public:
  Bf16Autocast(bool on, at::DeviceType device) : on_(on), device_(device) {
    if (on_) set(true);
  }
  ~Bf16Autocast() {
    if (!on_) return;
    set(false);
    at::autocast::clear_cache();
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  void set(bool enabled) const {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_dtype(device_, at::kBFloat16);
    at::autocast::set_autocast_enabled(device_, enabled);
#else
    if (device_ == at::kCPU) {
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::set_cpu_enabled(enabled);
    } else {
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
      at::autocast::set_enabled(enabled);
    }
#endif
  }
  bool on_;
  at::DeviceType device_;
};

// Whether CPU autocast is on with bf16 as its type.
inline bool cpu_autocast_bf16() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  return at::autocast::is_autocast_enabled(at::kCPU) &&
         at::autocast::get_autocast_dtype(at::kCPU) == at::kBFloat16;
#else
  return at::autocast::is_cpu_enabled() && at::autocast::get_autocast_cpu_dtype() == at::kBFloat16;
#endif
}

// Turns CPU autocast off for the lifetime of the scope when it was on (the previous state comes
// back): for layers that run faster in fp32 than with autocast's casts to bf16 and back.
class CpuAutocastOff {
 public:
  CpuAutocastOff() : was_on_(at::autocast::is_cpu_enabled()) {
    if (was_on_) at::autocast::set_cpu_enabled(false);
  }
  ~CpuAutocastOff() {
    if (was_on_) at::autocast::set_cpu_enabled(true);
  }
  CpuAutocastOff(const CpuAutocastOff&) = delete;
  CpuAutocastOff& operator=(const CpuAutocastOff&) = delete;
  bool was_on() const { return was_on_; }

 private:
  bool was_on_;
};

}  // namespace cotrack
