// The framing of fuzz_checkpoint's inputs, shared with make_seeds.cpp.
//
// Byte 0 chooses the mode; the rest is the payload.
//   even: the payload is a whole checkpoint file, read with read_checkpoint(path).
//   odd:  the payload is data.pkl; it is wrapped into a well-formed archive that also holds the
//         storages below and "byteorder" = "little", and read with read_checkpoint_bytes().
//         Every mutation then reaches the pickle interpreter, whereas most mutations of a whole
//         archive break its zip offsets and lengths and stop in the zip checks.
#pragma once

#include <caffe2/serialize/inline_container.h>

#include <array>
#include <cstdint>
#include <string>

namespace cotrack::fuzz {

constexpr uint8_t kModeArchive = 0;
constexpr uint8_t kModePickle = 1;

// Storage records data/0 .. data/3 of the pickle mode: byte sizes 16, 64, 256 and 1024, filled
// with 0/1 bytes (valid for every dtype, bool included). cotrack's writer names tensor i's
// storage "i", so a writer-made state dict whose tensors have these byte sizes fits.
constexpr std::array<size_t, 4> kStorageBytes = {16, 64, 256, 1024};

inline std::string wrap_pickle(const char* pickle, size_t size) {
  std::string out;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t n) {
    out.append(static_cast<const char*>(data), n);
    return n;
  });
  writer.writeRecord("data.pkl", pickle, size);
  writer.writeRecord("byteorder", "little", 6);
  for (size_t k = 0; k < kStorageBytes.size(); ++k) {
    std::string bytes(kStorageBytes[k], '\0');
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 7 + k) % 3 == 0);
    writer.writeRecord("data/" + std::to_string(k), bytes.data(), bytes.size());
  }
  writer.writeEndOfFile();
  return out;
}

}  // namespace cotrack::fuzz
