#include "checkpoint.hpp"

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/core/Storage.h>
#include <c10/util/Exception.h>
#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/versions.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string_view>
#include <unordered_map>

#include "cotrack/error.hpp"

namespace cotrack {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "torch.save storages are little-endian");

using caffe2::serialize::PyTorchStreamReader;
using caffe2::serialize::PyTorchStreamWriter;
using caffe2::serialize::ReadAdapterInterface;

constexpr size_t kMaxStackEntries = 100000;      // pickle stack values plus MARKs
constexpr size_t kMaxObjects = size_t{1} << 20;  // also memo entries; the official file: ~5000
constexpr size_t kMaxDims = 8;
constexpr uint64_t kViewSlackBytes = uint64_t{64} << 20;
constexpr size_t kPickleBatch = 1000;  // Python's pickler batches SETITEMS by 1000

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

[[noreturn]] void fail(const std::string& file, const std::string& what) {
  throw ModelError(file + ": " + what);
}

std::string bad_zip(const std::string& why) {
  return "not a readable torch.save zip archive (" + why + ")";
}

// Untrusted text made safe for a one-line message: quoted, control bytes as '?', cut at 100.
std::string printable(std::string_view s) {
  std::string out = "'";
  for (char c : s.substr(0, 100))
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  return out + (s.size() > 100 ? "...'" : "'");
}

// The first line of an exception's message (c10::Error appends a multi-line backtrace).
std::string first_line(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  std::string s = c10_error ? c10_error->what_without_backtrace() : e.what();
  return s.substr(0, s.find('\n'));
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

uint64_t load_le(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

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

enum class Kind : uint8_t {
  kNone,
  kBool,
  kInt,
  kFloat,
  kStr,
  kTuple,
  kList,
  kDict,
  kCallable,
  kStorageType,
  kStorage,
  kTensor
};
enum class Callable : int64_t { kOrderedDict, kRebuildTensorV2, kRebuildParameter };

// "a tuple", "an int", ... for messages.
const char* kind_name(Kind k) {
  static constexpr const char* kNames[] = {"None",       "a bool",         "an int",    "a float",
                                           "a str",      "a tuple",        "a list",    "a dict",
                                           "a callable", "a storage type", "a storage", "a tensor"};
  return kNames[static_cast<int>(k)];
}

// One unpickled object. Containers hold arena indices, so nesting or cycles in a hostile pickle
// cost no recursion, and the arena is freed flat.
struct Obj {
  explicit Obj(Kind kind = Kind::kNone, int64_t i = 0, std::vector<uint32_t> items = {})
      : kind(kind), i(i), items(std::move(items)) {}

  Kind kind;
  // kBool, kInt: the value; kCallable: a Callable; kStorageType: a c10::ScalarType;
  // kStorage, kTensor: an index into the Unpickler's storage or tensor table.
  int64_t i = 0;
  double f = 0.0;               // kFloat
  std::string_view s;           // kStr: bytes inside data.pkl
  std::vector<uint32_t> items;  // kTuple, kList; kDict: key, value, key, value, ...
};

struct StorageRef {
  std::string_view key;
  c10::ScalarType dtype;
  int64_t numel;
};

struct TensorRef {
  uint32_t storage;  // index into the storage table
  int64_t offset;
  std::vector<int64_t> sizes, strides;
};

// Runs data.pkl with a whitelist: only dicts, lists, tuples, scalars, strings, OrderedDict and
// tensor rebuilds. Storages are recorded as references; nothing is read from the archive here.
// `data` must outlive the Unpickler (strings point into it).
class Unpickler {
 public:
  Unpickler(const char* data, size_t size, const std::string& file)
      : data_(reinterpret_cast<const uint8_t*>(data)), size_(size), file_(file) {
    arena_.resize(3);  // shared None, True, False
    arena_[1] = Obj(Kind::kBool, 1);
    arena_[2] = Obj(Kind::kBool, 0);
  }

  // Returns the arena index of the unpickled object.
  uint32_t run();
  const Obj& obj(uint32_t id) const { return arena_[id]; }
  const TensorRef& tensor(const Obj& o) const { return tensors_[o.i]; }
  const StorageRef& storage(uint32_t index) const { return storages_[index]; }
  size_t storage_count() const { return storages_.size(); }

 private:
  [[noreturn]] void fail_here(const std::string& what) const {
    fail(file_, fmt::format("{} (data.pkl byte {})", what, op_pos_));
  }
  const char* take(uint64_t n) {
    if (n > size_ - pos_)
      fail_here(fmt::format("argument of {} bytes runs past the end of data.pkl", n));
    pos_ += n;
    return reinterpret_cast<const char*>(data_ + pos_ - n);
  }
  uint64_t le(int bytes) { return load_le(take(bytes), bytes); }
  std::string_view line() {
    const auto* end = static_cast<const uint8_t*>(std::memchr(data_ + pos_, '\n', size_ - pos_));
    if (!end) fail_here("GLOBAL name runs past the end of data.pkl");
    std::string_view s(reinterpret_cast<const char*>(data_ + pos_), end - data_ - pos_);
    pos_ += s.size() + 1;
    return s;
  }

  uint32_t make(Obj o) {
    if (arena_.size() >= kMaxObjects) fail_here("pickle builds too many objects");
    arena_.push_back(std::move(o));
    return static_cast<uint32_t>(arena_.size() - 1);
  }
  uint32_t make_int(int64_t v) { return make(Obj(Kind::kInt, v)); }
  size_t base() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(uint32_t id) {
    if (stack_.size() + marks_.size() >= kMaxStackEntries)
      fail_here("pickle stack deeper than 100000 entries");
    stack_.push_back(id);
  }
  uint32_t& top() {
    if (stack_.size() <= base()) fail_here("pickle stack underflow");
    return stack_.back();
  }
  uint32_t pop() {
    const uint32_t id = top();
    stack_.pop_back();
    return id;
  }
  std::vector<uint32_t> pop_mark() {
    if (marks_.empty()) fail_here("no MARK on the pickle stack");
    std::vector<uint32_t> items(stack_.begin() + marks_.back(), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  uint32_t pop_items(size_t n) {  // TUPLE1/2/3
    if (stack_.size() < base() + n) fail_here("pickle stack underflow");
    std::vector<uint32_t> items(stack_.end() - n, stack_.end());
    stack_.resize(stack_.size() - n);
    return make(Obj(Kind::kTuple, 0, std::move(items)));
  }
  Obj& top_as(Kind kind, const char* op) {
    Obj& o = arena_[top()];
    if (o.kind != kind) fail_here(fmt::format("{} on {}", op, kind_name(o.kind)));
    return o;
  }
  void set_items(const std::vector<uint32_t>& items) {
    if (items.size() % 2) fail_here("SETITEMS with an odd number of items");
    auto& dict = top_as(Kind::kDict, "SETITEMS").items;
    dict.insert(dict.end(), items.begin(), items.end());
  }
  void memo_put(uint64_t index) {
    const uint32_t id = top();
    if (memo_.size() >= kMaxObjects) fail_here("pickle memo holds too many entries");
    memo_[index] = id;
  }
  uint32_t memo_get(uint64_t index) {
    const auto it = memo_.find(index);
    if (it == memo_.end()) fail_here(fmt::format("BINGET of unset memo index {}", index));
    return it->second;
  }
  uint32_t string(uint64_t n) {
    Obj o(Kind::kStr);
    o.s = std::string_view(take(n), n);
    return make(std::move(o));
  }
  std::string_view str_of(uint32_t id, const char* what) {
    if (arena_[id].kind != Kind::kStr)
      fail_here(fmt::format("{} is {}, not a str", what, kind_name(arena_[id].kind)));
    return arena_[id].s;
  }
  uint32_t global(std::string_view module, std::string_view name);
  uint32_t reduce(uint32_t fn, uint32_t args);
  uint32_t rebuild_tensor(std::vector<uint32_t> args);
  uint32_t persistent_load(uint32_t pid);
  std::vector<int64_t> int_tuple(uint32_t id, const char* what);

  const uint8_t* data_;
  size_t size_;
  const std::string& file_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  std::vector<Obj> arena_;
  std::vector<uint32_t> stack_;
  std::vector<size_t> marks_;  // stack sizes at each MARK
  std::unordered_map<uint64_t, uint32_t> memo_;
  std::vector<StorageRef> storages_;
  std::unordered_map<std::string_view, uint32_t> storage_ids_;
  std::vector<TensorRef> tensors_;
};

uint32_t Unpickler::run() {
  using namespace opcode;
  constexpr uint32_t kNoneId = 0, kTrueId = 1, kFalseId = 2;
  while (pos_ < size_) {
    op_pos_ = pos_;
    const uint8_t code = data_[pos_++];
    switch (code) {
      case kProto: {
        const uint64_t version = le(1);
        if (version < 2 || version > 5) {
          fail_here(fmt::format("unsupported pickle protocol {}", version));
        }
        break;
      }
      case kFrame:
        take(8);
        break;
      case kStop:
        if (stack_.size() != 1 || !marks_.empty()) fail_here("STOP with a malformed pickle stack");
        return stack_.back();
      case kMark:
        if (stack_.size() + marks_.size() >= kMaxStackEntries) {
          fail_here("pickle stack deeper than 100000 entries");
        }
        marks_.push_back(stack_.size());
        break;
      case kPop:
        if (stack_.size() > base()) {
          stack_.pop_back();
        } else {
          pop_mark();
        }
        break;
      case kPopMark:
        pop_mark();
        break;
      case kDup:
        push(top());
        break;
      case kEmptyDict:
        push(make(Obj(Kind::kDict)));
        break;
      case kEmptyList:
        push(make(Obj(Kind::kList)));
        break;
      case kEmptyTuple:
        push(make(Obj(Kind::kTuple)));
        break;
      case kTuple:
        push(make(Obj(Kind::kTuple, 0, pop_mark())));
        break;
      case kTuple1:
      case kTuple2:
      case kTuple3:
        push(pop_items(code - kTuple1 + 1));
        break;
      case kList:
        push(make(Obj(Kind::kList, 0, pop_mark())));
        break;
      case kAppend: {
        const uint32_t v = pop();
        top_as(Kind::kList, "APPEND").items.push_back(v);
        break;
      }
      case kAppends: {
        const auto items = pop_mark();
        auto& list = top_as(Kind::kList, "APPENDS").items;
        list.insert(list.end(), items.begin(), items.end());
        break;
      }
      case kDict: {
        auto items = pop_mark();
        if (items.size() % 2) fail_here("DICT with an odd number of items");
        push(make(Obj(Kind::kDict, 0, std::move(items))));
        break;
      }
      case kSetItem: {
        const uint32_t v = pop(), k = pop();
        set_items({k, v});
        break;
      }
      case kSetItems:
        set_items(pop_mark());
        break;
      case kNone:
        push(kNoneId);
        break;
      case kNewTrue:
        push(kTrueId);
        break;
      case kNewFalse:
        push(kFalseId);
        break;
      case kBinInt:
        push(make_int(static_cast<int32_t>(le(4))));
        break;
      case kBinInt1:
        push(make_int(static_cast<int64_t>(le(1))));
        break;
      case kBinInt2:
        push(make_int(static_cast<int64_t>(le(2))));
        break;
      case kLong1: {  // little-endian two's complement
        const uint64_t n = le(1);
        if (n > 8) fail_here("integer wider than 64 bits");
        uint64_t v = n ? load_le(take(n), static_cast<int>(n)) : 0;
        if (n && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);
        push(make_int(static_cast<int64_t>(v)));
        break;
      }
      case kBinFloat: {  // big-endian double
        const char* p = take(8);
        uint64_t bits = 0;
        for (int b = 0; b < 8; ++b) bits = (bits << 8) | static_cast<unsigned char>(p[b]);
        Obj o(Kind::kFloat);
        std::memcpy(&o.f, &bits, 8);
        push(make(std::move(o)));
        break;
      }
      case kBinUnicode:
        push(string(le(4)));
        break;
      case kShortBinUnicode:
      case kShortBinString:
        push(string(le(1)));
        break;
      case kBinUnicode8:
        push(string(le(8)));
        break;
      case kBinString: {
        const auto n = static_cast<int32_t>(le(4));
        if (n < 0) fail_here("negative string length");
        push(string(static_cast<uint64_t>(n)));
        break;
      }
      case kBinPut:
        memo_put(le(1));
        break;
      case kLongBinPut:
        memo_put(le(4));
        break;
      case kMemoize:
        memo_put(memo_.size());
        break;
      case kBinGet:
        push(memo_get(le(1)));
        break;
      case kLongBinGet:
        push(memo_get(le(4)));
        break;
      case kGlobal: {
        const std::string_view module = line();
        push(global(module, line()));
        break;
      }
      case kStackGlobal: {
        const std::string_view name = str_of(pop(), "STACK_GLOBAL name");
        push(global(str_of(pop(), "STACK_GLOBAL module"), name));
        break;
      }
      case kReduce: {
        const uint32_t args = pop(), fn = pop();
        push(reduce(fn, args));
        break;
      }
      case kBuild:  // only OrderedDict state ({'_metadata': ...}), which is dropped
        pop();
        top_as(Kind::kDict, "BUILD");
        break;
      case kBinPersId:
        push(persistent_load(pop()));
        break;
      default:
        fail_here(fmt::format("unsupported pickle opcode 0x{:02x}", code));
    }
  }
  op_pos_ = pos_;
  fail_here("data.pkl ends without a STOP opcode");
}

uint32_t Unpickler::global(std::string_view module, std::string_view name) {
  if (module == "collections" && name == "OrderedDict") {
    return make(Obj(Kind::kCallable, static_cast<int64_t>(Callable::kOrderedDict)));
  }
  if (module == "torch._utils" && name == "_rebuild_tensor_v2") {
    return make(Obj(Kind::kCallable, static_cast<int64_t>(Callable::kRebuildTensorV2)));
  }
  if (module == "torch._utils" && name == "_rebuild_parameter") {
    return make(Obj(Kind::kCallable, static_cast<int64_t>(Callable::kRebuildParameter)));
  }
  if (module == "torch") {
    for (const StorageType& t : kStorageTypes) {
      if (name == t.name) return make(Obj(Kind::kStorageType, static_cast<int64_t>(t.dtype)));
    }
  }
  fail_here("refusing pickle global " + printable(std::string(module) + "." + std::string(name)));
}

uint32_t Unpickler::reduce(uint32_t fn, uint32_t args) {
  const Obj& f = arena_[fn];
  const Obj& a = arena_[args];
  if (f.kind != Kind::kCallable) fail_here(fmt::format("REDUCE calls {}", kind_name(f.kind)));
  if (a.kind != Kind::kTuple) fail_here("REDUCE arguments are not a tuple");
  switch (static_cast<Callable>(f.i)) {
    case Callable::kOrderedDict:
      if (!a.items.empty()) fail_here("OrderedDict called with arguments");
      return make(Obj(Kind::kDict));
    case Callable::kRebuildParameter:
      if (a.items.size() != 3 || arena_[a.items[0]].kind != Kind::kTensor) {
        fail_here("_rebuild_parameter expects (tensor, requires_grad, hooks)");
      }
      return a.items[0];
    case Callable::kRebuildTensorV2:
      return rebuild_tensor(a.items);
  }
  fail_here("REDUCE of an unknown callable");
}

std::vector<int64_t> Unpickler::int_tuple(uint32_t id, const char* what) {
  const Obj& t = arena_[id];
  if (t.kind != Kind::kTuple)
    fail_here(fmt::format("tensor {} is {}, not a tuple", what, kind_name(t.kind)));
  std::vector<int64_t> v;
  for (uint32_t item : t.items) {
    if (arena_[item].kind != Kind::kInt) fail_here(fmt::format("tensor {} holds a non-int", what));
    v.push_back(arena_[item].i);
  }
  return v;
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks
// [, metadata]). Only structure is checked here; bounds are checked when the tensor is used.
uint32_t Unpickler::rebuild_tensor(std::vector<uint32_t> args) {
  auto kind = [&](size_t i) { return arena_[args[i]].kind; };
  if (args.size() != 6 && args.size() != 7) {
    fail_here(fmt::format("_rebuild_tensor_v2 with {} arguments (expected 6 or 7)", args.size()));
  }
  if (kind(0) != Kind::kStorage || kind(1) != Kind::kInt || kind(4) != Kind::kBool ||
      kind(5) != Kind::kDict || (args.size() == 7 && kind(6) != Kind::kDict)) {
    fail_here("unexpected _rebuild_tensor_v2 arguments");
  }
  if (!arena_[args[5]].items.empty()) fail_here("tensor with backward hooks");
  TensorRef t{static_cast<uint32_t>(arena_[args[0]].i), arena_[args[1]].i,
              int_tuple(args[2], "size"), int_tuple(args[3], "stride")};
  if (t.sizes.size() != t.strides.size()) fail_here("tensor size and stride differ in length");
  tensors_.push_back(std::move(t));
  return make(Obj(Kind::kTensor, static_cast<int64_t>(tensors_.size() - 1)));
}

// ('storage', torch.<Type>Storage, key, location, numel) -> a storage reference. The location
// ("cpu", "cuda:0", ...) is ignored: everything loads to the CPU.
uint32_t Unpickler::persistent_load(uint32_t pid) {
  const Obj& t = arena_[pid];
  auto kind = [&](size_t i) { return arena_[t.items[i]].kind; };
  if (t.kind != Kind::kTuple || t.items.size() != 5 || kind(0) != Kind::kStr ||
      arena_[t.items[0]].s != "storage" || kind(1) != Kind::kStorageType || kind(2) != Kind::kStr ||
      kind(3) != Kind::kStr || kind(4) != Kind::kInt) {
    fail_here("unsupported persistent id (expected ('storage', type, key, location, numel))");
  }
  const StorageRef ref{arena_[t.items[2]].s, static_cast<c10::ScalarType>(arena_[t.items[1]].i),
                       arena_[t.items[4]].i};
  if (ref.numel < 0) fail_here("negative storage size");
  const auto [it, added] = storage_ids_.emplace(ref.key, static_cast<uint32_t>(storages_.size()));
  if (added) {
    storages_.push_back(ref);
  } else if (storages_[it->second].dtype != ref.dtype || storages_[it->second].numel != ref.numel) {
    fail_here("storage " + printable(ref.key) + " declared twice with different types or sizes");
  }
  return make(Obj(Kind::kStorage, it->second));
}

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

Checkpoint read_checkpoint(const std::string& path) {
  return read_archive(std::make_shared<FileAdapter>(path), path);
}

Checkpoint read_checkpoint_bytes(const std::string& bytes, const std::string& name) {
  return read_archive(std::make_shared<MemoryAdapter>(bytes.data(), bytes.size()), name);
}

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
