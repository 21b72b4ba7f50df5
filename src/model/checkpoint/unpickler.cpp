// The restricted unpickler's interpreter loop, whitelisted globals, REDUCE calls, tensor rebuilds
// and persistent ids; see unpickler.hpp.
#include "model/checkpoint/unpickler.hpp"

#include <fmt/format.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace cotrack {
namespace checkpoint_detail {

// "a tuple", "an int", ... for messages.
const char* kind_name(Kind k) {
  static constexpr const char* kNames[] = {"None",       "a bool",         "an int",    "a float",
                                           "a str",      "a tuple",        "a list",    "a dict",
                                           "a callable", "a storage type", "a storage", "a tensor"};
  return kNames[static_cast<int>(k)];
}

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

}  // namespace checkpoint_detail
}  // namespace cotrack
