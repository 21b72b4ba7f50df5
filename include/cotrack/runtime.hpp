// Process-wide compute settings (torch-free header).
#pragma once

#include <string>

namespace cotrack {

// Sets the number of CPU threads the model uses; 0 = all cores. LibTorch starts with one thread
// on these machines, so every program calls this once at start-up.
void set_num_threads(int threads);
int num_threads();
// True when a CUDA device can be used.
bool cuda_available();
// "cpu" unless `requested` is "auto" and CUDA is available; validates explicit names.
std::string resolve_device(const std::string& requested);

// A memory figure of this process from /proc/self/status, in MiB: "VmRSS:" (now) or "VmHWM:"
// (peak). 0 when unavailable.
double process_memory_mib(const std::string& field);

}  // namespace cotrack
