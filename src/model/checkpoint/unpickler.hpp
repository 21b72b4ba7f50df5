// The restricted unpickler: runs a checkpoint's data.pkl with a whitelist of globals and builds
// only dicts, lists, tuples, scalars, strings and tensor references. Security-critical: data.pkl
// is untrusted input, so every opcode checks its operands and every table has a limit.
#pragma once

#include <c10/core/ScalarType.h>
#include <fmt/format.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model/checkpoint/common.hpp"

namespace cotrack {
namespace checkpoint_detail {

constexpr size_t kMaxStackEntries = 100000;      // pickle stack values plus MARKs
constexpr size_t kMaxObjects = size_t{1} << 20;  // also memo entries; the official file: ~5000

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
const char* kind_name(Kind k);

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

}  // namespace checkpoint_detail
}  // namespace cotrack
