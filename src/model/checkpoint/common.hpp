// Shared by every part of the checkpoint code: error messages, little-endian loads and the pickle
// vocabulary (the opcodes the reader accepts and the writer emits, the storage types).
//
// Internal to src/model/checkpoint/; the rest of the project includes checkpoint.hpp.
#pragma once

#include <c10/core/ScalarType.h>
#include <c10/util/Exception.h>

#include <array>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

#include "cotrack/error.hpp"

namespace cotrack {
namespace checkpoint_detail {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "torch.save storages are little-endian");

struct StorageType {
  const char* name;
  c10::ScalarType dtype;
};
constexpr std::array<StorageType, 10> kStorageTypes = {{
    {"FloatStorage", c10::ScalarType::Float},
    {"DoubleStorage", c10::ScalarType::Double},
    {"HalfStorage", c10::ScalarType::Half},
    {"BFloat16Storage", c10::ScalarType::BFloat16},
    {"LongStorage", c10::ScalarType::Long},
    {"IntStorage", c10::ScalarType::Int},
    {"ShortStorage", c10::ScalarType::Short},
    {"CharStorage", c10::ScalarType::Char},
    {"ByteStorage", c10::ScalarType::Byte},
    {"BoolStorage", c10::ScalarType::Bool},
}};

[[noreturn]] inline void fail(const std::string& file, const std::string& what) {
  throw ModelError(file + ": " + what);
}

// Untrusted text made safe for a one-line message: quoted, control bytes as '?', cut at 100.
inline std::string printable(std::string_view s) {
  std::string out = "'";
  for (char c : s.substr(0, 100))
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  return out + (s.size() > 100 ? "...'" : "'");
}

// The first line of an exception's message (c10::Error appends a multi-line backtrace).
inline std::string first_line(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  std::string s = c10_error ? c10_error->what_without_backtrace() : e.what();
  return s.substr(0, s.find('\n'));
}

inline uint64_t load_le(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Pickle opcodes (pickletools names) that the reader accepts and the writer emits.
namespace opcode {
// clang-format off
enum : uint8_t {
  kProto = 0x80, kFrame = 0x95, kStop = '.', kMark = '(', kPop = '0', kPopMark = '1', kDup = '2',
  kEmptyDict = '}', kEmptyList = ']', kEmptyTuple = ')', kTuple = 't', kTuple1 = 0x85,
  kTuple2 = 0x86, kTuple3 = 0x87, kList = 'l', kAppend = 'a', kAppends = 'e', kDict = 'd',
  kSetItem = 's', kSetItems = 'u', kNone = 'N', kNewTrue = 0x88, kNewFalse = 0x89, kBinInt = 'J',
  kBinInt1 = 'K', kBinInt2 = 'M', kLong1 = 0x8a, kBinFloat = 'G', kBinUnicode = 'X',
  kShortBinUnicode = 0x8c, kBinUnicode8 = 0x8d, kShortBinString = 'U', kBinString = 'T',
  kBinPut = 'q', kLongBinPut = 'r', kMemoize = 0x94, kBinGet = 'h', kLongBinGet = 'j',
  kGlobal = 'c', kStackGlobal = 0x93, kReduce = 'R', kBuild = 'b', kBinPersId = 'Q'
};
// clang-format on
}  // namespace opcode

}  // namespace checkpoint_detail
}  // namespace cotrack
