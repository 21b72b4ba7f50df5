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

// Tells glibc's allocator to keep freed memory for reuse instead of handing large blocks back to
// the kernel (no mmap for big blocks, no trimming). The network allocates and frees tensors of
// tens to hundreds of MB per window; with the default settings each one is mapped afresh and every
// page faults on first touch, which on the project's virtual machines made memory-bound stages
// several times slower than their arithmetic. The process then keeps its peak heap: memory stays
// bounded by the largest window, not released between windows. Call once at start-up, before
// other threads allocate. Returns "reuse", or "system" when COTRACK_SYSTEM_MALLOC=1 asks to keep
// the allocator's defaults (to compare) or the settings were refused.
const char* reuse_freed_memory();

// A memory figure of this process from /proc/self/status, in MiB: "VmRSS:" (now) or "VmHWM:"
// (peak). 0 when unavailable.
double process_memory_mib(const std::string& field);

}  // namespace cotrack
