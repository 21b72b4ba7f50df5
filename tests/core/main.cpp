#define DOCTEST_CONFIG_IMPLEMENT
#include "test_common.hpp"

#include <ATen/Parallel.h>

#include "cotrack/runtime.hpp"

int main(int argc, char** argv) {
  // As every cotrack program: OpenBLAS's fast kernels also where it does not know the CPU.
  cotrack::pick_blas_kernels(argv);
  // The fixtures were produced with one thread; parity tests rely on the same kernels.
  at::set_num_threads(1);
  doctest::Context context;
  context.applyCommandLine(argc, argv);
  return context.run();
}
