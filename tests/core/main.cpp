#define DOCTEST_CONFIG_IMPLEMENT
#include "test_common.hpp"

#include <ATen/Parallel.h>

int main(int argc, char** argv) {
  // The fixtures were produced with one thread; parity tests rely on the same kernels.
  at::set_num_threads(1);
  doctest::Context context;
  context.applyCommandLine(argc, argv);
  return context.run();
}
