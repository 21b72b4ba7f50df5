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

// OpenBLAS picks its kernels from the CPU model at load time. OpenBLAS 0.3.21 (Debian 12) does
// not know recent CPUs such as Sapphire Rapids and falls back to its generic "Prescott" (SSE3)
// kernels, which made every matmul of the transformer 3 to 4 times slower on such a machine.
// When the BLAS is OpenBLAS, its kernels are a generic set, OPENBLAS_CORETYPE is unset and the
// CPU has AVX2 and FMA, this sets OPENBLAS_CORETYPE ("SkylakeX" with AVX-512, else "Haswell") and
// re-executes the program (/proc/self/exe, same arguments), since OpenBLAS reads the variable
// only at load time. Call first thing in main(), before any thread starts. Otherwise, or when
// COTRACK_BLAS_AS_IS=1, it does nothing. Returns only when it did not re-execute.
void pick_blas_kernels(char** argv);
// The OpenBLAS kernel set in use ("Haswell", "SkylakeX", ...); "" when the BLAS is not OpenBLAS.
std::string blas_core();
// True for OpenBLAS's generic kernel sets (pre-AVX: "Prescott", "Core2", "Nehalem", ...), the ones
// pick_blas_kernels replaces. Case-insensitive.
bool is_generic_blas_core(const std::string& core);

// The arithmetic of the network's forward pass. kBf16 runs the matrix work (linear layers,
// convolutions, attention) in bfloat16 under autocast, with fp32 weights and fp32 results.
enum class Precision { kFp32, kBf16 };
const char* to_string(Precision precision);  // "fp32" | "bf16"
// True when this CPU has bfloat16 instructions (AVX512-BF16, which AMX-BF16 CPUs have too).
bool cpu_has_bf16();
// The CPU's widest vector instruction set, named as /proc/cpuinfo names it: "avx512_bf16",
// "avx512f", "avx2", or "baseline".
std::string cpu_isa();
// "fp32", "bf16" or "auto" on `device` ("cpu", "cuda", "cuda:N"). bf16 needs CUDA or a CPU with
// bf16 instructions (UsageError otherwise: without them it is emulated and slower than fp32).
// auto: bf16 where it is supported, fp32 elsewhere and for a model with the official semantics
// (Model::official_semantics: the official weights keep their exact numerics unless bf16 is
// asked for).
Precision resolve_precision(const std::string& requested, const std::string& device,
                            bool official_semantics = false);

// A memory figure of this process from /proc/self/status, in MiB: "VmRSS:" (now) or "VmHWM:"
// (peak). 0 when unavailable.
double process_memory_mib(const std::string& field);

}  // namespace cotrack
