// Reading torch.save checkpoints (read_checkpoint): the byte sources, the state dict found in
// the unpickled object, and its tensors checked against their storages before anything is
// allocated, then materialised; see checkpoint.hpp.
#include "model/checkpoint/checkpoint.hpp"

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/core/Storage.h>
#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/versions.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model/checkpoint/common.hpp"
#include "model/checkpoint/unpickler.hpp"
#include "model/checkpoint/zip.hpp"

namespace cotrack {
namespace checkpoint_detail {
namespace {

using caffe2::serialize::PyTorchStreamReader;

constexpr size_t kMaxDims = 8;
constexpr uint64_t kViewSlackBytes = uint64_t{64} << 20;

// Byte sources for PyTorchStreamReader: reads past the end come back short, never out of bounds.

class MemoryAdapter final : public ReadAdapterInterface {
 public:
  MemoryAdapter(const char* data, size_t size) : data_(data), size_(size) {}
  size_t size() const override { return size_; }
  size_t read(uint64_t pos, void* buf, size_t n, const char* what = "") const override {
    if (pos >= size_) return 0;
    n = static_cast<size_t>(std::min<uint64_t>(n, size_ - pos));
    std::memcpy(buf, data_ + pos, n);
    return n;
  }

 private:
  const char* data_;
  size_t size_;
};

class FileAdapter final : public ReadAdapterInterface {
 public:
  explicit FileAdapter(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_ < 0) fail(path, fmt::format("cannot open ({})", std::strerror(errno)));
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd_);
      fail(path, "not a regular file");
    }
    size_ = static_cast<uint64_t>(st.st_size);
  }
  ~FileAdapter() override { ::close(fd_); }
  size_t size() const override { return size_; }
  size_t read(uint64_t pos, void* buf, size_t n, const char* what = "") const override {
    size_t done = 0;
    while (done < n && pos + done < size_) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(n - done, size_ - pos - done));
      const ssize_t got = ::pread(fd_, static_cast<char*>(buf) + done, want, pos + done);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;
      done += static_cast<size_t>(got);
    }
    return done;
  }

 private:
  int fd_;
  uint64_t size_ = 0;
};

// A dict's entries with Python semantics (a repeated key keeps its first position, last value).
std::vector<std::pair<std::string_view, uint32_t>> dict_entries(const Unpickler& vm, uint32_t id,
                                                                const std::string& file) {
  const auto& items = vm.obj(id).items;
  std::vector<std::pair<std::string_view, uint32_t>> entries;
  std::unordered_map<std::string_view, size_t> position;
  for (size_t k = 0; k < items.size(); k += 2) {
    const Obj& key = vm.obj(items[k]);
    if (key.kind != Kind::kStr)
      fail(file, fmt::format("dict key is {}, not a str", kind_name(key.kind)));
    const auto [it, added] = position.emplace(key.s, entries.size());
    if (added)
      entries.emplace_back(key.s, items[k + 1]);
    else
      entries[it->second].second = items[k + 1];
  }
  return entries;
}

bool has_tensor(const Unpickler& vm,
                const std::vector<std::pair<std::string_view, uint32_t>>& entries) {
  return std::any_of(entries.begin(), entries.end(),
                     [&](const auto& e) { return vm.obj(e.second).kind == Kind::kTensor; });
}

struct View {
  const TensorRef* ref;
  c10::ScalarType dtype;
  uint64_t nbytes;
};

// Checks a tensor against its storage record before anything is allocated for it.
View check_view(const Unpickler& vm, const TensorRef& t, const ZipIndex& index,
                const std::string& name, const std::string& file) {
  const StorageRef& s = vm.storage(t.storage);
  const std::string what = "tensor " + printable(name);
  if (t.sizes.size() > kMaxDims)
    fail(file, fmt::format("{} has {} dimensions (at most {})", what, t.sizes.size(), kMaxDims));
  if (t.offset < 0) fail(file, what + " has a negative storage offset");
  const auto esize = static_cast<int64_t>(c10::elementSize(s.dtype));
  int64_t numel = 1, last = t.offset, storage_bytes = 0, nbytes = 0;
  for (size_t d = 0; d < t.sizes.size(); ++d) {
    if (t.sizes[d] < 0 || t.strides[d] < 0) fail(file, what + " has a negative size or stride");
    int64_t reach = 0;
    if (__builtin_mul_overflow(numel, t.sizes[d], &numel) ||
        (t.sizes[d] > 0 && (__builtin_mul_overflow(t.sizes[d] - 1, t.strides[d], &reach) ||
                            __builtin_add_overflow(last, reach, &last)))) {
      fail(file, what + ": element count or extent overflows");
    }
  }
  if (__builtin_mul_overflow(numel, esize, &nbytes) ||
      __builtin_mul_overflow(s.numel, esize, &storage_bytes)) {
    fail(file, what + ": byte size overflows");
  }
  const std::string record_name = "data/" + std::string(s.key);
  const Record* record = index.find(record_name);
  if (!record)
    fail(file, fmt::format("{}: storage record {} is missing", what, printable(record_name)));
  if (static_cast<uint64_t>(storage_bytes) > record->size) {
    fail(file, fmt::format("{}: storage {} declares {} bytes but holds only {}", what,
                           printable(record_name), storage_bytes, record->size));
  }
  if ((numel > 0 && last >= s.numel) || t.offset > s.numel) {
    fail(file, fmt::format("{} reaches element {}, beyond its storage of {} elements", what,
                           numel > 0 ? last : t.offset, s.numel));
  }
  return {&t, s.dtype, static_cast<uint64_t>(nbytes)};
}

std::pair<at::DataPtr, size_t> get_record(PyTorchStreamReader& reader, const std::string& name,
                                          const std::string& file) {
  try {
    auto [data, size] = reader.getRecord(name);
    return {std::move(data), size};
  } catch (const std::exception& e) {
    fail(file, bad_zip(first_line(e)));
  }
}

// Materialises the chosen tensors. Storages are read once; a tensor that is exactly its whole
// storage keeps the record's buffer, any other view is copied out. Entries naming the same view
// share one tensor. The distinct views may hold at most twice the file size plus 64 MiB, so a
// small file cannot make the reader allocate much more than its own size.
std::vector<at::Tensor> load_tensors(
    const Unpickler& vm, const std::vector<std::pair<std::string, const TensorRef*>>& chosen,
    const ZipIndex& index, PyTorchStreamReader& reader, uint64_t file_size,
    const std::string& file) {
  using Key = std::tuple<uint32_t, int64_t, std::vector<int64_t>, std::vector<int64_t>>;
  std::map<Key, size_t> view_ids;
  std::vector<View> views;
  std::vector<size_t> view_of;
  std::vector<int> uses(vm.storage_count(), 0);
  uint64_t total = 0;
  for (const auto& [name, ref] : chosen) {
    const auto [it, added] =
        view_ids.emplace(Key{ref->storage, ref->offset, ref->sizes, ref->strides}, views.size());
    if (added) {
      views.push_back(check_view(vm, *ref, index, name, file));
      total += views.back().nbytes;
      ++uses[ref->storage];
      if (total > 2 * file_size + kViewSlackBytes) {
        fail(file, fmt::format(
                       "tensors would take over {} bytes, more than this {}-byte file can justify",
                       total, file_size));
      }
    }
    view_of.push_back(it->second);
  }

  std::vector<at::Tensor> materialised(views.size());
  std::unordered_map<uint32_t, std::pair<c10::Storage, bool>> storages;  // bool: handed over
  for (size_t v = 0; v < views.size(); ++v) {
    const TensorRef& t = *views[v].ref;
    const auto options = at::TensorOptions().dtype(views[v].dtype);
    if (views[v].nbytes == 0) {
      materialised[v] = at::empty(t.sizes, options);
    } else {
      auto it = storages.find(t.storage);
      if (it == storages.end()) {
        const std::string record_name = "data/" + std::string(vm.storage(t.storage).key);
        auto [data, size] = get_record(reader, record_name, file);
        if (views[v].dtype == c10::ScalarType::Bool) {
          const auto* bytes = static_cast<const uint8_t*>(data.get());
          if (std::any_of(bytes, bytes + size, [](uint8_t b) { return b > 1; })) {
            fail(file,
                 "bool storage " + printable(record_name) + " holds values other than 0 and 1");
          }
        }
        c10::Storage storage(c10::Storage::use_byte_size_t(), size, std::move(data), nullptr,
                             false);
        it = storages.emplace(t.storage, std::make_pair(std::move(storage), false)).first;
      }
      auto& [storage, handed_over] = it->second;
      at::Tensor view = at::empty({0}, options).set_(storage, t.offset, t.sizes, t.strides);
      if (!handed_over && t.offset == 0 && view.is_contiguous() &&
          views[v].nbytes == storage.nbytes()) {
        materialised[v] = at::empty({0}, options).set_(storage, 0, t.sizes);
        handed_over = true;
      } else {
        materialised[v] = view.clone(at::MemoryFormat::Contiguous);
      }
    }
    if (--uses[t.storage] == 0) storages.erase(t.storage);
  }
  std::vector<at::Tensor> out;
  out.reserve(view_of.size());
  for (size_t v : view_of) out.push_back(materialised[v]);
  return out;
}

// PyTorchStreamReader (1.13) leaks its zip state when its constructor throws after opening the
// zip, so what it checks there is checked here first: the records lie in a folder and "version"
// holds what std::stoull reads as a supported format version.
void check_reader_preconditions(const ReadAdapterInterface& in, const ZipIndex& index,
                                const std::string& file) {
  if (index.folder().empty()) fail(file, bad_zip("the records are not inside a folder"));
  const Record* version = index.find("version");
  if (!version) fail(file, bad_zip("no version record"));
  constexpr uint64_t kMaxVersionBytes = 64;
  std::string text(std::min(version->size, kMaxVersionBytes), '\0');
  if (version->size > kMaxVersionBytes ||
      in.read(version->offset, text.data(), text.size()) != text.size()) {
    fail(file, bad_zip("unreadable version record"));
  }
  size_t p = 0;
  while (p < text.size() && std::isspace(static_cast<unsigned char>(text[p]))) ++p;
  if (p < text.size() && text[p] == '+') ++p;
  uint64_t value = 0;
  size_t digits = 0;
  for (; p < text.size() && std::isdigit(static_cast<unsigned char>(text[p])); ++p, ++digits) {
    value = std::min<uint64_t>(value * 10 + (text[p] - '0'), uint64_t{1} << 32);
  }
  if (digits == 0 || value < caffe2::serialize::kMinSupportedFileFormatVersion ||
      value > caffe2::serialize::kMaxSupportedFileFormatVersion) {
    fail(file, bad_zip("unsupported format version " + printable(text)));
  }
}

Checkpoint read_archive(const std::shared_ptr<ReadAdapterInterface>& in, const std::string& file) {
  const ZipIndex index(*in, file);
  check_reader_preconditions(*in, index, file);
  std::unique_ptr<PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<PyTorchStreamReader>(in);
  } catch (const std::exception& e) {
    fail(file, bad_zip(first_line(e)));
  }
  if (index.find("byteorder")) {
    const auto [data, size] = get_record(*reader, "byteorder", file);
    if (std::string_view(static_cast<const char*>(data.get()), size) != "little") {
      fail(file, "storages are not little-endian");
    }
  }
  if (!index.find("data.pkl")) fail(file, bad_zip("no data.pkl record"));
  const auto [pickle, pickle_size] = get_record(*reader, "data.pkl", file);
  Unpickler vm(static_cast<const char*>(pickle.get()), pickle_size, file);
  const uint32_t root = vm.run();
  if (vm.obj(root).kind != Kind::kDict) {
    fail(file, fmt::format("top-level object is {}, not a dict", kind_name(vm.obj(root).kind)));
  }

  Checkpoint ckpt;
  const auto top = dict_entries(vm, root, file);
  auto state = top;
  if (!has_tensor(vm, top)) {
    for (const char* key : {"model", "state_dict"}) {
      const auto it =
          std::find_if(top.begin(), top.end(), [&](const auto& e) { return e.first == key; });
      if (it != top.end() && vm.obj(it->second).kind == Kind::kDict) {
        state = dict_entries(vm, it->second, file);
        ckpt.state_dict_key = key;
        break;
      }
    }
  }
  for (const auto& [key, id] : top) {
    const Obj& o = vm.obj(id);
    MetaValue m;
    switch (o.kind) {
      case Kind::kStr:
        m.kind = MetaValue::Kind::kString;
        m.s = std::string(o.s);
        break;
      case Kind::kInt:
        m.kind = MetaValue::Kind::kInt;
        m.i = o.i;
        break;
      case Kind::kFloat:
        m.kind = MetaValue::Kind::kFloat;
        m.f = o.f;
        break;
      case Kind::kBool:
        m.kind = MetaValue::Kind::kBool;
        m.b = o.i != 0;
        break;
      default:
        continue;
    }
    ckpt.metadata[std::string(key)] = std::move(m);
  }

  constexpr std::string_view kPrefix = "module.";
  std::vector<std::pair<std::string, const TensorRef*>> chosen;
  std::unordered_map<std::string, size_t> seen;
  for (const auto& [key, id] : state) {
    if (vm.obj(id).kind != Kind::kTensor) continue;
    std::string name(key.substr(0, kPrefix.size()) == kPrefix ? key.substr(kPrefix.size()) : key);
    if (!seen.emplace(name, chosen.size()).second) {
      fail(file, "duplicate tensor name " + printable(name) + " after removing 'module.' prefixes");
    }
    chosen.emplace_back(std::move(name), &vm.tensor(vm.obj(id)));
  }
  std::vector<at::Tensor> tensors = load_tensors(vm, chosen, index, *reader, in->size(), file);
  ckpt.tensors.reserve(chosen.size());
  for (size_t k = 0; k < chosen.size(); ++k)
    ckpt.tensors.emplace_back(std::move(chosen[k].first), std::move(tensors[k]));
  return ckpt;
}

}  // namespace
}  // namespace checkpoint_detail

using checkpoint_detail::FileAdapter;
using checkpoint_detail::MemoryAdapter;
using checkpoint_detail::read_archive;

Checkpoint read_checkpoint(const std::string& path) {
  return read_archive(std::make_shared<FileAdapter>(path), path);
}

Checkpoint read_checkpoint_bytes(const std::string& bytes, const std::string& name) {
  return read_archive(std::make_shared<MemoryAdapter>(bytes.data(), bytes.size()), name);
}

namespace {

double parse_unit_interval(const char* key, const std::string& value, const std::string& source) {
  char* end = nullptr;
  const double v = std::strtod(value.c_str(), &end);
  if (end == value.c_str() || *end != '\0' || !(v >= 0.0 && v <= 1.0)) {
    throw ModelError(fmt::format("{}: metadata {} '{}' is not in [0, 1]", source, key, value));
  }
  return v;
}

}  // namespace

double parse_visibility_threshold(const std::string& value, const std::string& source) {
  return parse_unit_interval("visibility_threshold", value, source);
}

double parse_confidence_weight(const std::string& value, const std::string& source) {
  return parse_unit_interval("confidence_weight", value, source);
}

}  // namespace cotrack
