#include "cotrack/runtime.hpp"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <fstream>
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

}  // namespace cotrack
