// Writing cotrack's checkpoint format (write_checkpoint): a protocol-2 pickle memoized like
// Python's, the storages as zip records, and an atomic replace of the file; see checkpoint.hpp.
#include "model/checkpoint/checkpoint.hpp"

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>
#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/checkpoint/common.hpp"

namespace cotrack {
namespace checkpoint_detail {
namespace {

using caffe2::serialize::PyTorchStreamWriter;

constexpr size_t kPickleBatch = 1000;  // Python's pickler batches SETITEMS by 1000

// Protocol-2 pickle output that memoizes like Python's pickler does for what torch.save sees:
// every str, non-empty tuple, dict and global gets the next BINPUT index; the constant strings
// 'storage' and 'cpu' and each global are memoized once and fetched with BINGET afterwards.
class PickleWriter {
 public:
  PickleWriter() {
    op(opcode::kProto);
    op(2);
  }
  void op(uint8_t code) { out_ += static_cast<char>(code); }
  void str(std::string_view s) {
    op(opcode::kBinUnicode);
    put_le(s.size(), 4);
    out_ += s;
    memoize();
  }
  void constant(const std::string& s) {
    cached(s, [&] { str(s); });
  }
  void global(const std::string& module, const std::string& name) {
    cached(module + "\n" + name, [&] {
      op(opcode::kGlobal);
      out_ += module + "\n" + name + "\n";
      memoize();
    });
  }
  void integer(int64_t v) {
    if (v >= 0 && v <= 0xff) {
      op(opcode::kBinInt1);
      put_le(static_cast<uint64_t>(v), 1);
    } else if (v >= 0 && v <= 0xffff) {
      op(opcode::kBinInt2);
      put_le(static_cast<uint64_t>(v), 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      op(opcode::kBinInt);
      put_le(static_cast<uint32_t>(v), 4);
    } else {  // LONG1 with the shortest two's complement, as Python's encode_long
      int n = 8;
      const auto u = static_cast<uint64_t>(v);
      while (n > 1 && ((u >> (8 * n - 9)) & 0x1ff) == (v < 0 ? 0x1ffu : 0u)) --n;
      op(opcode::kLong1);
      put_le(static_cast<uint64_t>(n), 1);
      put_le(u, n);
    }
  }
  void floating(double v) {
    uint64_t bits = 0;
    std::memcpy(&bits, &v, 8);
    op(opcode::kBinFloat);
    for (int b = 7; b >= 0; --b) out_ += static_cast<char>(bits >> (8 * b));
  }
  void boolean(bool b) { op(b ? opcode::kNewTrue : opcode::kNewFalse); }
  void int_tuple(c10::IntArrayRef v) {
    if (v.empty()) return op(opcode::kEmptyTuple);
    if (v.size() > 3) op(opcode::kMark);
    for (int64_t x : v) integer(x);
    if (v.size() > 3) {
      op(opcode::kTuple);
    } else {
      op(static_cast<uint8_t>(opcode::kTuple1 + v.size() - 1));
    }
    memoize();
  }
  // Dict items in batches like Python: MARK k v ... SETITEMS, or k v SETITEM for a single item.
  void set_items(size_t count, const std::function<void(size_t)>& item) {
    for (size_t start = 0; start < count; start += kPickleBatch) {
      const size_t n = std::min(kPickleBatch, count - start);
      if (n > 1) op(opcode::kMark);
      for (size_t k = start; k < start + n; ++k) item(k);
      op(n > 1 ? opcode::kSetItems : opcode::kSetItem);
    }
  }
  void memoize() {
    const uint32_t index = next_memo_++;
    op(index < 256 ? opcode::kBinPut : opcode::kLongBinPut);
    put_le(index, index < 256 ? 1 : 4);
  }
  std::string finish() {
    op(opcode::kStop);
    return std::move(out_);
  }

 private:
  void put_le(uint64_t v, int bytes) {
    for (int b = 0; b < bytes; ++b) out_ += static_cast<char>(v >> (8 * b));
  }
  template <class Emit>
  void cached(const std::string& key, Emit emit) {
    const auto it = memo_.find(key);
    if (it == memo_.end()) {
      memo_.emplace(key, next_memo_);
      emit();
      return;
    }
    op(it->second < 256 ? opcode::kBinGet : opcode::kLongBinGet);
    put_le(it->second, it->second < 256 ? 1 : 4);
  }

  std::string out_;
  uint32_t next_memo_ = 0;
  std::unordered_map<std::string, uint32_t> memo_;
};

const char* storage_type_name(c10::ScalarType dtype) {
  for (const StorageType& t : kStorageTypes) {
    if (t.dtype == dtype) return t.name;
  }
  return nullptr;
}

// Streams the archive to `sink` (PyTorchStreamWriter's writer function); `file` names the
// destination in messages.
void write_archive(const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                   const std::map<std::string, MetaValue>& metadata,
                   const std::function<size_t(const void*, size_t)>& sink,
                   const std::string& file) {
  for (const char* reserved : {"cotrack_format", "state_dict"}) {
    if (metadata.count(reserved))
      fail(file, fmt::format("metadata key '{}' is reserved", reserved));
  }
  std::vector<at::Tensor> data;
  std::unordered_map<std::string_view, int> names;
  for (const auto& [name, t] : tensors) {
    if (!t.defined() || !storage_type_name(t.scalar_type()))
      fail(file, "cannot write tensor " + printable(name) + " (undefined or unsupported dtype)");
    if (!names.emplace(name, 0).second) fail(file, "duplicate tensor name " + printable(name));
    data.push_back(t.detach().to(at::kCPU).contiguous());
  }

  PickleWriter p;
  p.op(opcode::kEmptyDict);
  p.memoize();
  const size_t top_count = metadata.size() + 2;
  auto meta_it = metadata.begin();
  p.set_items(top_count, [&](size_t k) {
    if (k == 0) {
      p.str("cotrack_format");
      p.integer(1);
    } else if (k + 1 < top_count) {
      const auto& [key, m] = *meta_it++;
      p.str(key);
      switch (m.kind) {
        case MetaValue::Kind::kString:
          p.str(m.s);
          break;
        case MetaValue::Kind::kInt:
          p.integer(m.i);
          break;
        case MetaValue::Kind::kFloat:
          p.floating(m.f);
          break;
        case MetaValue::Kind::kBool:
          p.boolean(m.b);
          break;
      }
    } else {
      p.str("state_dict");
      p.global("collections", "OrderedDict");
      p.op(opcode::kEmptyTuple);
      p.op(opcode::kReduce);
      p.memoize();
      p.set_items(data.size(), [&](size_t i) {
        const at::Tensor& t = data[i];
        p.str(tensors[i].first);
        p.global("torch._utils", "_rebuild_tensor_v2");
        p.op(opcode::kMark);
        p.op(opcode::kMark);
        p.constant("storage");
        p.global("torch", storage_type_name(t.scalar_type()));
        p.str(std::to_string(i));
        p.constant("cpu");
        p.integer(t.numel());
        p.op(opcode::kTuple);
        p.memoize();
        p.op(opcode::kBinPersId);
        p.integer(0);
        p.int_tuple(t.sizes());
        p.int_tuple(t.strides());
        p.boolean(false);
        p.global("collections", "OrderedDict");
        p.op(opcode::kEmptyTuple);
        p.op(opcode::kReduce);
        p.memoize();
        p.op(opcode::kTuple);
        p.memoize();
        p.op(opcode::kReduce);
        p.memoize();
      });
    }
  });
  const std::string pickle = p.finish();

  std::vector<std::string> keys;  // torch.save writes storages in sorted key order
  for (size_t i = 0; i < data.size(); ++i) keys.push_back(std::to_string(i));
  std::sort(keys.begin(), keys.end());
  try {
    PyTorchStreamWriter writer(sink);
    writer.writeRecord("data.pkl", pickle.data(), pickle.size());
    for (const std::string& key : keys) {
      const at::Tensor& t = data[std::stoul(key)];
      writer.writeRecord("data/" + key, t.data_ptr(), t.numel() * t.element_size());
    }
    writer.writeEndOfFile();  // adds the "version" record
  } catch (const c10::Error& e) {
    fail(file, "cannot write (" + first_line(e) + ")");
  }
}

}  // namespace
}  // namespace checkpoint_detail

using checkpoint_detail::fail;
using checkpoint_detail::write_archive;

std::string write_checkpoint_bytes(const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                                   const std::map<std::string, MetaValue>& metadata) {
  std::string out;
  write_archive(
      tensors, metadata,
      [&](const void* data, size_t n) {
        out.append(static_cast<const char*>(data), n);
        return n;
      },
      "<checkpoint in memory>");
  return out;
}

void write_checkpoint(const std::string& path,
                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, MetaValue>& metadata) {
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0)
    fail(path, fmt::format("cannot create a temporary file next to it ({})", std::strerror(errno)));
  int write_errno = 0;
  // Write errors are reported after the writer finishes, so it never throws mid-archive.
  auto sink = [&](const void* data, size_t n) {
    for (size_t done = 0; done < n && !write_errno;) {
      const ssize_t got = ::write(fd, static_cast<const char*>(data) + done, n - done);
      if (got > 0) {
        done += static_cast<size_t>(got);
      } else if (got == 0 || errno != EINTR) {
        write_errno = got < 0 ? errno : EIO;
      }
    }
    return n;
  };
  try {
    write_archive(tensors, metadata, sink, path);
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (!write_errno && (::fchmod(fd, 0644) != 0 || ::fsync(fd) != 0)) write_errno = errno;
  if (::close(fd) != 0 && !write_errno) write_errno = errno;
  if (!write_errno && ::rename(tmp.c_str(), path.c_str()) != 0) write_errno = errno;
  if (write_errno) {
    ::unlink(tmp.c_str());
    fail(path, fmt::format("cannot write ({})", std::strerror(write_errno)));
  }
}

}  // namespace cotrack
