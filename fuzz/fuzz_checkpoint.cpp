// Fuzzes the checkpoint reader (src/model/checkpoint/): the zip index, LibTorch's zip reader behind
// it and the whitelisting pickle interpreter. See checkpoint_framing.hpp for the two input modes.
// ModelError is the documented refusal; anything else (another exception, a sanitizer report, a
// hang, an allocation beyond -rss_limit_mb) is a finding. Accepted files must keep the
// Checkpoint contract: defined, contiguous CPU tensors whose bytes can all be read.
#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "checkpoint_framing.hpp"
#include "cotrack/error.hpp"
#include "fuzz_common.hpp"
#include "model/checkpoint/checkpoint.hpp"

namespace {

void check_contract(const cotrack::Checkpoint& ckpt) {
  volatile uint8_t sink = 0;
  for (const auto& [name, t] : ckpt.tensors) {
    if (!t.defined() || !t.device().is_cpu() || !t.is_contiguous()) __builtin_trap();
    const auto* p = static_cast<const uint8_t*>(t.data_ptr());
    const size_t n = t.nbytes();
    uint8_t x = 0;
    for (size_t i = 0; i < n; ++i) x ^= p[i];  // ASan sees any read past the buffer
    sink = sink ^ x;
  }
  (void)sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static cotrack::fuzz::MemFile file;
  if (size < 1) return -1;
  const char* payload = reinterpret_cast<const char*>(data + 1);
  try {
    cotrack::Checkpoint ckpt;
    if (data[0] % 2 == cotrack::fuzz::kModeArchive) {
      ckpt = cotrack::read_checkpoint(file.write(payload, size - 1));
    } else {
      ckpt = cotrack::read_checkpoint_bytes(cotrack::fuzz::wrap_pickle(payload, size - 1),
                                            "<fuzz input>");
    }
    check_contract(ckpt);
  } catch (const cotrack::Error& e) {
    cotrack::fuzz::refused(e);
  }
  return 0;
}
