// The zip layer of a torch.save archive: an index of its records, each checked against the file
// before LibTorch's zip reader (PyTorchStreamReader) is let near it. See zip.cpp.
#pragma once

#include <caffe2/serialize/read_adapter_interface.h>

#include <cctype>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "model/checkpoint/common.hpp"

namespace cotrack {
namespace checkpoint_detail {

using caffe2::serialize::ReadAdapterInterface;

inline std::string bad_zip(const std::string& why) {
  return "not a readable torch.save zip archive (" + why + ")";
}

inline std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Record {
  uint64_t offset = 0;  // of the record's bytes in the file
  uint64_t size = 0;
};

// The records of a torch.save zip, checked before PyTorchStreamReader touches them: in 1.13 it
// allocates whatever size the central directory claims. Every record must be stored (torch.save
// never compresses), lie inside the file, and all records together fit in the file, so reading
// them all allocates at most the file size. Names are matched case-insensitively, like miniz.
class ZipIndex {
 public:
  ZipIndex(const ReadAdapterInterface& in, const std::string& file);
  // `name` is relative to the archive folder, e.g. "data/0".
  const Record* find(const std::string& name) const {
    const auto it = records_.find(prefix_ + lower(name));
    return it == records_.end() ? nullptr : &it->second;
  }
  // "" when the first record is not inside a folder (or there are no records).
  const std::string& folder() const { return prefix_; }

 private:
  std::unordered_map<std::string, Record> records_;
  // Lower-cased "<archive>/", taken from the first entry as PyTorchStreamReader does.
  std::string prefix_;
};

}  // namespace checkpoint_detail
}  // namespace cotrack
