#include "cotrack/runtime.hpp"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <dlfcn.h>
#include <malloc.h>
#include <strings.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <thread>

#include "cotrack/error.hpp"

namespace cotrack {

void set_num_threads(int threads) {
  if (threads < 0) throw UsageError(fmt::format("threads must be >= 0, got {}", threads));
  const int n = threads == 0 ? static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))
                             : threads;
  at::set_num_threads(n);
}

int num_threads() { return at::get_num_threads(); }

bool cuda_available() { return at::hasCUDA(); }

std::string resolve_device(const std::string& requested) {
  if (requested == "auto") return cuda_available() ? "cuda" : "cpu";
  if (requested == "cpu") return requested;
  if (requested.rfind("cuda", 0) == 0) {
    if (!cuda_available()) {
      throw UsageError(fmt::format("device '{}': no CUDA device is available", requested));
    }
    return requested;
  }
  throw UsageError(fmt::format("device '{}': expected auto, cpu, cuda or cuda:N", requested));
}

const char* reuse_freed_memory() {
  if (const char* env = std::getenv("COTRACK_SYSTEM_MALLOC"); env && std::strcmp(env, "1") == 0) {
    return "system";
  }
  // M_MMAP_MAX = 0: big blocks come from the heap too; a huge trim threshold: freed memory at
  // the top of the heap stays there for the next window.
  const bool ok = mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 &&
                  mallopt(M_TOP_PAD, 64 << 20) == 1;
  return ok ? "reuse" : "system";
}

std::string blas_core() {
  using CoreName = char* (*)();
  auto fn = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (fn == nullptr) return "";
  const char* name = fn();
  return name != nullptr ? name : "";
}

bool is_generic_blas_core(const std::string& core) {
  for (const char* g : {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Katmai",
                        "Coppermine", "Northwood", "Banias", "Atom", "Unknown"}) {
    if (strcasecmp(core.c_str(), g) == 0) return true;
  }
  return false;
}

void pick_blas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
  if (const char* env = std::getenv("COTRACK_BLAS_AS_IS"); env && std::strcmp(env, "1") == 0) {
    return;
  }
  if (!is_generic_blas_core(blas_core())) return;
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return;
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  if (setenv("OPENBLAS_CORETYPE", avx512 ? "SkylakeX" : "Haswell", 1) != 0) return;
  execv("/proc/self/exe", argv);
  // exec failed: go on with the generic kernels, and leave the variable as it was.
  unsetenv("OPENBLAS_CORETYPE");
}

double process_memory_mib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == field) {
      double kb = 0;
      in >> kb;
      return kb / 1024.0;
    }
    std::getline(in, key);
  }
  return 0;
}

const char* to_string(Precision precision) {
  return precision == Precision::kBf16 ? "bf16" : "fp32";
}

// The same CPUID checks as pick_blas_kernels. CPUs with AMX-BF16 have AVX512-BF16 too.
bool cpu_has_bf16() { return __builtin_cpu_supports("avx512bf16"); }

std::string cpu_isa() {
  if (__builtin_cpu_supports("avx512bf16")) return "avx512_bf16";
  if (__builtin_cpu_supports("avx512f")) return "avx512f";
  if (__builtin_cpu_supports("avx2")) return "avx2";
  return "baseline";
}

Precision resolve_precision(const std::string& requested, const std::string& device,
                            bool official_semantics) {
  const bool cuda = device.rfind("cuda", 0) == 0;
  const bool supported = cuda || cpu_has_bf16();
  if (requested == "fp32") return Precision::kFp32;
  if (requested == "auto") {
    return supported && !official_semantics ? Precision::kBf16 : Precision::kFp32;
  }
  if (requested == "bf16") {
    if (!supported) {
      throw UsageError("precision bf16: this CPU has no bfloat16 instructions (avx512_bf16); "
                       "use fp32");
    }
    return Precision::kBf16;
  }
  throw UsageError(fmt::format("precision '{}': expected fp32, bf16 or auto", requested));
}

}  // namespace cotrack
