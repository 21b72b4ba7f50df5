// The zip index of a torch.save archive: end-of-central-directory (zip64 too), central directory
// and local headers, every record stored, inside the file and not overlapping the file size in
// total; see zip.hpp.
#include "model/checkpoint/zip.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace cotrack {
namespace checkpoint_detail {

ZipIndex::ZipIndex(const ReadAdapterInterface& in, const std::string& file) {
  const uint64_t size = in.size();
  auto read = [&](uint64_t pos, uint64_t n) {  // callers keep n below the file size
    std::string buf(n, '\0');
    if (pos > size || n > size - pos || in.read(pos, buf.data(), n) != n) {
      fail(file,
           bad_zip("cannot read bytes " + std::to_string(pos) + ".." + std::to_string(pos + n)));
    }
    return buf;
  };
  if (size == 0) fail(file, bad_zip("the file is empty"));
  constexpr uint64_t kEocdSize = 22;
  const uint64_t tail_size = std::min<uint64_t>(size, kEocdSize + 0xffff);
  const std::string tail = read(size - tail_size, tail_size);
  size_t eocd = std::string::npos;
  for (size_t p = tail_size >= kEocdSize ? tail_size - kEocdSize + 1 : 0; p-- > 0;) {
    if (std::memcmp(tail.data() + p, "PK\5\6", 4) == 0) {
      eocd = p;
      break;
    }
  }
  if (eocd == std::string::npos) fail(file, bad_zip("no end-of-central-directory record"));
  uint64_t count = load_le(tail.data() + eocd + 10, 2);
  uint64_t cd_size = load_le(tail.data() + eocd + 12, 4);
  uint64_t cd_offset = load_le(tail.data() + eocd + 16, 4);
  const uint64_t eocd_pos = size - tail_size + eocd;
  if (eocd_pos >= 20) {
    const std::string locator = read(eocd_pos - 20, 20);
    if (std::memcmp(locator.data(), "PK\6\7", 4) == 0) {
      const std::string z = read(load_le(locator.data() + 8, 8), 56);
      if (std::memcmp(z.data(), "PK\6\6", 4) != 0)
        fail(file, bad_zip("bad zip64 directory record"));
      count = load_le(z.data() + 32, 8);
      cd_size = load_le(z.data() + 40, 8);
      cd_offset = load_le(z.data() + 48, 8);
    }
  }
  constexpr uint64_t kEntrySize = 46;
  if (cd_size > size || cd_offset > size - cd_size || count > cd_size / kEntrySize) {
    fail(file, bad_zip("central directory out of bounds"));
  }
  const std::string cd = read(cd_offset, cd_size);
  uint64_t total = 0;
  size_t p = 0;
  for (uint64_t i = 0; i < count; ++i) {
    const char* h = cd.data() + p;
    if (cd.size() - p < kEntrySize || std::memcmp(h, "PK\1\2", 4) != 0) {
      fail(file, bad_zip("corrupt central directory"));
    }
    const size_t name_len = load_le(h + 28, 2), extra_len = load_le(h + 30, 2);
    const size_t entry_len = kEntrySize + name_len + extra_len + load_le(h + 32, 2);
    if (cd.size() - p < entry_len) fail(file, bad_zip("corrupt central directory"));
    const std::string name(h + kEntrySize, name_len);
    uint64_t comp = load_le(h + 20, 4), uncomp = load_le(h + 24, 4), local = load_le(h + 42, 4);
    for (size_t x = 0; x + 4 <= extra_len;) {  // zip64 extra field: saturated fields, in order
      const char* f = h + kEntrySize + name_len + x;
      const size_t len = load_le(f + 2, 2);
      if (load_le(f, 2) == 1) {
        size_t q = 4;
        for (uint64_t* v : {&uncomp, &comp, &local}) {
          if (*v == 0xffffffffu && q + 8 <= 4 + len && x + q + 8 <= extra_len) {
            *v = load_le(f + q, 8);
            q += 8;
          }
        }
      }
      x += 4 + len;
    }
    if (i == 0 && name.find('/') != std::string::npos)
      prefix_ = lower(name.substr(0, name.find('/') + 1));
    if (load_le(h + 8, 2) & 0x61) {  // the flags miniz refuses after allocating the record
      fail(file, bad_zip("record " + printable(name) + " is encrypted or a patch"));
    }
    if (load_le(h + 10, 2) != 0 || comp != uncomp) {
      fail(file, bad_zip("record " + printable(name) +
                         " is compressed; torch.save stores records uncompressed"));
    }
    // miniz takes these for folders and hands back their bytes unread (uninitialised memory).
    const bool folder = (!name.empty() && name.back() == '/') || (load_le(h + 38, 4) & 0x10);
    if (folder && uncomp != 0) {
      fail(file, bad_zip("record " + printable(name) + " is marked as a folder but holds data"));
    }
    if (local > size || size - local < 30)
      fail(file, bad_zip("record " + printable(name) + " lies past the end of the file"));
    const std::string lh = read(local, 30);
    if (std::memcmp(lh.data(), "PK\3\4", 4) != 0)
      fail(file, bad_zip("bad local header for " + printable(name)));
    const uint64_t data = local + 30 + load_le(lh.data() + 26, 2) + load_le(lh.data() + 28, 2);
    if (data > size || uncomp > size - data) {
      fail(file, bad_zip(fmt::format("record {} claims {} bytes, past the end of the {}-byte file",
                                     printable(name), uncomp, size)));
    }
    total += uncomp;
    if (total > size) fail(file, bad_zip("records claim more bytes than the file holds"));
    if (!records_.emplace(lower(name), Record{data, uncomp}).second) {
      fail(file, bad_zip("duplicate record " + printable(name)));
    }
    p += entry_len;
  }
}

}  // namespace checkpoint_detail
}  // namespace cotrack
