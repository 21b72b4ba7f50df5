// Checkpoint reader and writer: the official file format, cotrack's own files, and hostile input.
// Torch headers come first: test_common.hpp then removes their CHECK macros before doctest.
#include <caffe2/serialize/inline_container.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <limits>

#include "model/checkpoint/checkpoint.hpp"
#include "cotrack/error.hpp"
#include "test_common.hpp"

namespace {

using cotrack::Checkpoint;
using cotrack::MetaValue;
using cotrack::ModelError;
using Tensors = std::vector<std::pair<std::string, at::Tensor>>;

// A tiny pickle assembler: each method appends one opcode (pickletools names), so a test pickle
// reads like `pickletools.dis` of what torch.save writes.
class Pickle {
 public:
  explicit Pickle(int protocol = 2) { bytes_ = {'\x80', static_cast<char>(protocol)}; }
  Pickle& raw(std::string_view b) {
    bytes_ += b;
    return *this;
  }
  Pickle& op(char code) { return raw(std::string(1, code)); }
  Pickle& mark() { return op('('); }
  Pickle& tuple() { return op('t'); }
  Pickle& empty_tuple() { return op(')'); }
  Pickle& empty_dict() { return op('}'); }
  Pickle& empty_list() { return op(']'); }
  Pickle& append() { return op('a'); }
  Pickle& appends() { return op('e'); }
  Pickle& setitem() { return op('s'); }
  Pickle& setitems() { return op('u'); }
  Pickle& reduce() { return op('R'); }
  Pickle& build() { return op('b'); }
  Pickle& newtrue() { return op('\x88'); }
  Pickle& newfalse() { return op('\x89'); }
  Pickle& binput(uint8_t i) { return op('q').raw(std::string(1, static_cast<char>(i))); }
  Pickle& binget(uint8_t i) { return op('h').raw(std::string(1, static_cast<char>(i))); }
  Pickle& str(std::string_view s) { return op('X').le(s.size(), 4).raw(s); }
  Pickle& integer(int64_t v) {  // BININT, or an 8-byte LONG1
    if (v >= INT32_MIN && v <= INT32_MAX) return op('J').le(static_cast<uint32_t>(v), 4);
    return op('\x8a').le(8, 1).le(static_cast<uint64_t>(v), 8);
  }
  Pickle& binfloat(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    op('G');
    for (int b = 7; b >= 0; --b) bytes_ += static_cast<char>(bits >> (8 * b));
    return *this;
  }
  Pickle& global(std::string_view module, std::string_view name) {
    return op('c').raw(module).raw("\n").raw(name).raw("\n");
  }
  Pickle& ordered_dict() { return global("collections", "OrderedDict").empty_tuple().reduce(); }
  Pickle& int_tuple(const std::vector<int64_t>& v) {
    mark();
    for (int64_t x : v) integer(x);
    return tuple();
  }
  // torch._utils._rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, size,
  // stride, False, OrderedDict()) exactly as torch.save writes it, less the memo opcodes.
  Pickle& tensor(const std::string& type, const std::string& key, int64_t numel,
                 const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides,
                 int64_t offset = 0) {
    global("torch._utils", "_rebuild_tensor_v2").mark();
    mark().str("storage").global("torch", type).str(key).str("cpu").integer(numel).tuple();
    op('Q').integer(offset).int_tuple(sizes).int_tuple(strides).newfalse().ordered_dict();
    return tuple().reduce();
  }
  std::string bytes() const { return bytes_; }
  std::string stop() const { return bytes_ + "."; }

 private:
  Pickle& le(uint64_t v, int n) {
    for (int b = 0; b < n; ++b) bytes_ += static_cast<char>(v >> (8 * b));
    return *this;
  }
  std::string bytes_;
};

std::string bytes_of(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.nbytes());
}

// Wraps a pickle and storage records ("data/<key>") into a zip the way torch.save does.
std::string archive(const std::string& pickle,
                    const std::vector<std::pair<std::string, std::string>>& records = {},
                    bool compress = false) {
  std::string out;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t n) {
    out.append(static_cast<const char*>(data), n);
    return n;
  });
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  for (const auto& [key, bytes] : records) {
    writer.writeRecord("data/" + key, bytes.data(), bytes.size(), compress);
  }
  writer.writeEndOfFile();
  return out;
}

// An archive holding `pickle` and one storage "0" of six floats 0..5.
std::string with_six_floats(const std::string& pickle) {
  return archive(pickle, {{"0", bytes_of(at::arange(6, at::kFloat))}});
}

// {"w": tensor} whose tensor views storage "0" (six floats) with the given geometry.
std::string one_tensor(const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides,
                       int64_t offset = 0, int64_t numel = 6) {
  Pickle p;
  p.empty_dict().str("w").tensor("FloatStorage", "0", numel, sizes, strides, offset).setitem();
  return with_six_floats(p.stop());
}

bool same_bits(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  return a.numel() == 0 || bytes_of(a) == bytes_of(b);
}

bool same_meta(const MetaValue& a, const MetaValue& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case MetaValue::Kind::kString:
      return a.s == b.s;
    case MetaValue::Kind::kInt:
      return a.i == b.i;
    case MetaValue::Kind::kFloat:
      return std::memcmp(&a.f, &b.f, sizeof a.f) == 0;
    case MetaValue::Kind::kBool:
      return a.b == b.b;
  }
  return false;
}

MetaValue meta_int(int64_t v) {
  MetaValue m;
  m.kind = MetaValue::Kind::kInt;
  m.i = v;
  return m;
}
MetaValue meta_float(double v) {
  MetaValue m;
  m.kind = MetaValue::Kind::kFloat;
  m.f = v;
  return m;
}
MetaValue meta_bool(bool v) {
  MetaValue m;
  m.kind = MetaValue::Kind::kBool;
  m.b = v;
  return m;
}
MetaValue meta_string(const std::string& v) {
  MetaValue m;
  m.s = v;
  return m;
}

const at::Tensor& tensor_named(const Checkpoint& c, const std::string& name) {
  for (const auto& [n, t] : c.tensors) {
    if (n == name) return t;
  }
  FAIL("no tensor named " << name);
  static const at::Tensor kNone;
  return kNone;
}

std::vector<std::string> names_of(const Checkpoint& c) {
  std::vector<std::string> names;
  for (const auto& [n, t] : c.tensors) names.push_back(n);
  return names;
}

// The ModelError message for reading `bytes`, or a marker when it is accepted or throws another
// type.
std::string refusal(const std::string& bytes) {
  try {
    cotrack::read_checkpoint_bytes(bytes, "evil.pth");
  } catch (const ModelError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("(not a ModelError) ") + e.what();
  }
  return "(accepted)";
}

// The reader must refuse `bytes` with a one-line ModelError that names the file and contains
// `word`.
#define CHECK_REFUSED(bytes, word)                                                          \
  do {                                                                                      \
    const std::string refused_bytes = (bytes);                                              \
    CHECK_THROWS_AS(cotrack::read_checkpoint_bytes(refused_bytes, "evil.pth"), ModelError); \
    const std::string message = refusal(refused_bytes);                                     \
    CHECK_MESSAGE(message.find(word) != std::string::npos, message);                        \
    CHECK_MESSAGE(message.rfind("evil.pth: ", 0) == 0, message);                            \
    CHECK_MESSAGE(message.find('\n') == std::string::npos, message);                        \
  } while (false)

// Offset of a zip entry's local header and central directory header ("archive/<name>").
size_t local_header(const std::string& zip, const std::string& name) {
  const size_t at = zip.find("archive/" + name);
  REQUIRE(at != std::string::npos);
  return at - 30;
}
size_t central_header(const std::string& zip, const std::string& name) {
  const size_t at = zip.rfind("archive/" + name);
  REQUIRE(at != std::string::npos);
  return at - 46;
}
void put_le32(std::string& s, size_t at, uint32_t v) {
  for (int b = 0; b < 4; ++b) s[at + b] = static_cast<char>(v >> (8 * b));
}

std::filesystem::path fresh_temp_dir(const std::string& tag) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("cotrack_test_" + tag + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("checkpoint: reads the official-format random checkpoint") {
    const std::string path = cotrack::test::fixture_or_skip("cotracker3/random_online.pth");
    if (path.empty()) return;
    const auto start = std::chrono::steady_clock::now();
    const Checkpoint c = cotrack::read_checkpoint(path);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    MESSAGE("read random_online.pth in " << seconds << " s");

    REQUIRE(c.tensors.size() == 188);
    CHECK(c.state_dict_key.empty());
    CHECK(c.metadata.empty());
    CHECK(c.tensors.front().first == "time_emb");
    CHECK(c.tensors.front().second.sizes() == at::IntArrayRef({1, 16, 1110}));
    CHECK(c.tensors.back().first == "corr_mlp.fc2.bias");
    double sum = 0.0;
    int64_t elements = 0;
    for (const auto& [name, t] : c.tensors) {
      CHECK_MESSAGE((t.scalar_type() == at::kFloat), name);
      CHECK_MESSAGE(t.is_contiguous(), name);
      CHECK_MESSAGE(t.storage().nbytes() == t.nbytes(), name);  // owns exactly its own data
      sum += t.to(at::kDouble).sum().item<double>();
      elements += t.numel();
    }
    CHECK(elements == 25403460);
    // Python: sum(float(t.double().sum()) for t in torch.load(path).values())
    CHECK(sum == doctest::Approx(10573.123981926314).epsilon(1e-6));
    const std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
        {"fnet.conv1.weight", {64, 3, 7, 7}},
        {"fnet.conv2.weight", {256, 416, 3, 3}},
        {"updateformer.virual_tracks", {1, 64, 1, 384}},
        {"updateformer.input_transform.weight", {384, 1110}},
        {"updateformer.vis_conf_head.weight", {2, 384}},
        {"updateformer.time_blocks.0.attn.to_kv.weight", {768, 384}},
        {"updateformer.space_virtual2point_blocks.2.mlp.fc2.bias", {384}},
        {"corr_mlp.fc1.weight", {384, 2401}},
    };
    for (const auto& [name, shape] : shapes) {
      CHECK_MESSAGE(tensor_named(c, name).sizes() == at::IntArrayRef(shape), name);
    }
    CHECK(tensor_named(c, "fnet.conv1.weight").to(at::kDouble).sum().item<double>() ==
          doctest::Approx(-2.3681140253320336).epsilon(1e-9));
  }

  TEST_CASE("checkpoint: writer round trip is bit-exact, ordered, with metadata") {
    at::manual_seed(7);
    at::Tensor f32 = at::randn({3, 4});
    f32[0][0] = std::numeric_limits<float>::quiet_NaN();
    f32[0][1] = -0.0f;
    f32[0][2] = -std::numeric_limits<float>::infinity();
    const Tensors tensors = {
        {"z.last_name_first", f32},
        {"f16", at::randn({5}).to(at::kHalf)},
        {"bf16", at::randn({2, 3}).to(at::kBFloat16)},
        {"f64", at::randn({2, 2}, at::kDouble)},
        {"i64", at::arange(-3, 3, at::kLong) * (int64_t{1} << 40)},
        {"i32", at::arange(7, at::kInt)},
        {"u8", at::arange(256, at::kLong).to(at::kByte)},
        {"i8", at::arange(-5, 5, at::kLong).to(at::kChar)},
        {"i16", at::arange(-5, 5, at::kLong).to(at::kShort)},
        {"bool", at::arange(5, at::kLong).remainder(2).to(at::kBool)},
        {"scalar", at::full({}, 2.5)},
        {"empty", at::empty({0, 3})},
        {"transposed", at::arange(6, at::kFloat).reshape({2, 3}).t()},
    };
    const std::map<std::string, MetaValue> metadata = {
        {"arch.name", meta_string("cotracker3-online \xc3\xbc")},
        {"arch.empty", meta_string("")},
        {"arch.min", meta_int(std::numeric_limits<int64_t>::min())},
        {"arch.max", meta_int(std::numeric_limits<int64_t>::max())},
        {"arch.neg", meta_int(-2147483649LL)},
        {"arch.small", meta_int(255)},
        {"arch.mid", meta_int(65536)},
        {"arch.scale", meta_float(-1.5e300)},
        {"arch.tenth", meta_float(0.1)},
        {"arch.on", meta_bool(true)},
        {"arch.off", meta_bool(false)},
    };
    const std::string bytes = cotrack::write_checkpoint_bytes(tensors, metadata);
    const Checkpoint c = cotrack::read_checkpoint_bytes(bytes, "roundtrip.pth");

    CHECK(c.state_dict_key == "state_dict");
    REQUIRE(c.tensors.size() == tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      CHECK(c.tensors[i].first == tensors[i].first);
      CHECK_MESSAGE(same_bits(c.tensors[i].second, tensors[i].second), tensors[i].first);
      CHECK(c.tensors[i].second.is_contiguous());
    }
    REQUIRE(c.metadata.size() == metadata.size() + 1);
    CHECK(same_meta(c.metadata.at("cotrack_format"), meta_int(1)));
    for (const auto& [key, value] : metadata) {
      REQUIRE(c.metadata.count(key));
      CHECK_MESSAGE(same_meta(c.metadata.at(key), value), key);
    }

    // The container is torch.save's: <archive>/data.pkl, data/<key> and version "3\n".
    std::istringstream stream(bytes);
    caffe2::serialize::PyTorchStreamReader reader(&stream);
    CHECK(reader.getAllRecords().size() == tensors.size() + 2);
    const auto [version, size] = reader.getRecord("version");
    CHECK(std::string(static_cast<const char*>(version.get()), size) == "3\n");
    CHECK(reader.hasRecord("data/12"));
  }

  TEST_CASE("checkpoint: many entries use SETITEMS batches and long memo indices") {
    Tensors tensors;
    for (int i = 0; i < 1001; ++i) {
      tensors.emplace_back("layer." + std::to_string(i), at::full({1, 2}, static_cast<float>(i)));
    }
    const Checkpoint c =
        cotrack::read_checkpoint_bytes(cotrack::write_checkpoint_bytes(tensors, {}), "many.pth");
    REQUIRE(c.tensors.size() == tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      CHECK(c.tensors[i].first == tensors[i].first);
      CHECK(same_bits(c.tensors[i].second, tensors[i].second));
    }
  }

  TEST_CASE("checkpoint: write_checkpoint replaces the file whole") {
    const auto dir = fresh_temp_dir("write");
    const std::string path = (dir / "model.pth").string();
    cotrack::write_checkpoint(path, {{"a", at::ones({2})}}, {});
    cotrack::write_checkpoint(path, {{"b", at::zeros({3})}}, {{"arch.x", meta_int(4)}});
    const Checkpoint c = cotrack::read_checkpoint(path);
    REQUIRE(names_of(c) == std::vector<std::string>{"b"});
    CHECK(same_bits(c.tensors[0].second, at::zeros({3})));
    CHECK(c.metadata.at("arch.x").i == 4);
    CHECK(std::distance(std::filesystem::directory_iterator(dir),
                        std::filesystem::directory_iterator()) == 1);
    CHECK_THROWS_AS(cotrack::write_checkpoint((dir / "no" / "x.pth").string(), {}, {}), ModelError);
    std::filesystem::remove_all(dir);
  }

  TEST_CASE("checkpoint: writer refuses reserved keys, duplicates and odd dtypes") {
    CHECK_THROWS_AS(cotrack::write_checkpoint_bytes({}, {{"state_dict", meta_int(1)}}), ModelError);
    CHECK_THROWS_AS(
        cotrack::write_checkpoint_bytes({{"a", at::ones({1})}, {"a", at::ones({1})}}, {}),
        ModelError);
    CHECK_THROWS_AS(cotrack::write_checkpoint_bytes({{"c", at::ones({1}, at::kComplexFloat)}}, {}),
                    ModelError);
  }

  TEST_CASE("checkpoint: OrderedDict with _metadata, module. prefixes, parameters, dtypes") {
    at::manual_seed(3);
    const Tensors sources = {
        {"a", at::randn({2, 2})},
        {"b", at::randn({3}).to(at::kHalf)},
        {"c", at::randn({2}).to(at::kBFloat16)},
        {"d", at::arange(4, at::kLong) - 2},
        {"e", at::randn({1}, at::kDouble)},
        {"f", at::arange(3, at::kLong).remainder(2).to(at::kBool)},
    };
    const char* types[] = {"FloatStorage", "HalfStorage",   "BFloat16Storage",
                           "LongStorage",  "DoubleStorage", "BoolStorage"};
    Pickle p;
    p.ordered_dict().binput(0).mark();
    std::vector<std::pair<std::string, std::string>> records;
    for (size_t i = 0; i < sources.size(); ++i) {
      const at::Tensor& t = sources[i].second;
      const std::string key = std::to_string(i);
      p.str(i % 2 ? "module." + sources[i].first : sources[i].first);
      const bool parameter = i == 1;
      if (parameter) p.global("torch._utils", "_rebuild_parameter").mark();
      p.tensor(types[i], key, t.numel(), t.sizes().vec(), t.strides().vec());
      if (parameter) p.newtrue().ordered_dict().tuple().reduce();
      records.emplace_back(key, bytes_of(t));
    }
    p.setitems();
    // BUILD with the state {'_metadata': OrderedDict({'': {'version': 1}})}
    p.empty_dict().str("_metadata").ordered_dict().str("").empty_dict().str("version").integer(1);
    p.setitem().setitem().setitem().build();
    const Checkpoint c = cotrack::read_checkpoint_bytes(archive(p.stop(), records), "sd.pth");

    CHECK(c.state_dict_key.empty());
    CHECK(c.metadata.empty());
    REQUIRE(names_of(c) == std::vector<std::string>{"a", "b", "c", "d", "e", "f"});
    for (size_t i = 0; i < sources.size(); ++i) {
      CHECK_MESSAGE(same_bits(c.tensors[i].second, sources[i].second), sources[i].first);
    }
  }

  TEST_CASE("checkpoint: state dict under \"model\" next to an optimizer and scalars") {
    Pickle p;
    p.empty_dict().mark();
    p.str("model").ordered_dict().mark();
    p.str("module.w").tensor("FloatStorage", "0", 6, {2, 3}, {3, 1});
    p.str("module.b").tensor("FloatStorage", "1", 2, {2}, {1});
    p.setitems();
    // {"state": {0: {"step": 3, "exp_avg": <tensor whose record is absent>}},
    //  "param_groups": [{"lr": 0.1, "params": [0, 1]}]}: never materialised, so never read.
    p.str("optimizer").empty_dict().mark();
    p.str("state").empty_dict().integer(0).empty_dict().mark();
    p.str("step").integer(3).str("exp_avg").tensor("FloatStorage", "99", 1000, {1000}, {1});
    p.setitems().setitem();
    p.str("param_groups").empty_list().empty_dict().str("lr").binfloat(0.1).setitem();
    p.str("params").empty_list().mark().integer(0).integer(1).appends().setitem().append();
    p.setitems();
    p.str("total_steps").integer(7).str("run").str("r1").str("lr").binfloat(0.5);
    p.str("ema").newtrue().str("nothing").op('N');
    p.setitems();
    const std::string bytes = archive(
        p.stop(), {{"0", bytes_of(at::arange(6, at::kFloat))}, {"1", bytes_of(at::ones({2}))}});
    const Checkpoint c = cotrack::read_checkpoint_bytes(bytes, "train.pth");

    CHECK(c.state_dict_key == "model");
    REQUIRE(names_of(c) == std::vector<std::string>{"w", "b"});
    CHECK(same_bits(c.tensors[0].second, at::arange(6, at::kFloat).reshape({2, 3})));
    CHECK(same_bits(c.tensors[1].second, at::ones({2})));
    REQUIRE(c.metadata.size() == 4);
    CHECK(same_meta(c.metadata.at("total_steps"), meta_int(7)));
    CHECK(same_meta(c.metadata.at("run"), meta_string("r1")));
    CHECK(same_meta(c.metadata.at("lr"), meta_float(0.5)));
    CHECK(same_meta(c.metadata.at("ema"), meta_bool(true)));
  }

  TEST_CASE("checkpoint: plain dict under \"state_dict\"") {
    Pickle p;
    p.empty_dict().mark().str("state_dict").empty_dict().mark();
    p.str("x").tensor("FloatStorage", "0", 6, {6}, {1});
    p.str("y").tensor("FloatStorage", "0", 6, {3}, {2});
    p.setitems().str("epoch").integer(2).setitems();
    const Checkpoint c = cotrack::read_checkpoint_bytes(with_six_floats(p.stop()), "plain.pth");
    CHECK(c.state_dict_key == "state_dict");
    REQUIRE(names_of(c) == std::vector<std::string>{"x", "y"});
    CHECK(same_bits(c.tensors[1].second, at::tensor({0.0f, 2.0f, 4.0f})));
    CHECK(c.metadata.at("epoch").i == 2);
  }

  TEST_CASE("checkpoint: strided views, shared storages and aliases come back as copies") {
    const at::Tensor base = at::arange(12, at::kFloat);
    Pickle p;
    p.ordered_dict().mark();
    p.str("full").tensor("FloatStorage", "0", 12, {3, 4}, {4, 1});
    p.str("transposed").tensor("FloatStorage", "0", 12, {4, 3}, {1, 4});
    p.str("part").tensor("FloatStorage", "0", 12, {2}, {3}, 5).binput(9);
    p.str("broadcast").tensor("FloatStorage", "0", 12, {3}, {0}, 11);
    p.str("alias").binget(9);
    p.setitems();
    const Checkpoint c =
        cotrack::read_checkpoint_bytes(archive(p.stop(), {{"0", bytes_of(base)}}), "views.pth");
    REQUIRE(names_of(c) ==
            std::vector<std::string>{"full", "transposed", "part", "broadcast", "alias"});
    const at::Tensor full = base.reshape({3, 4});
    CHECK(same_bits(tensor_named(c, "full"), full));
    CHECK(same_bits(tensor_named(c, "transposed"), full.t().contiguous()));
    CHECK(same_bits(tensor_named(c, "part"), at::tensor({5.0f, 8.0f})));
    CHECK(same_bits(tensor_named(c, "broadcast"), at::full({3}, 11.0f)));
    CHECK(same_bits(tensor_named(c, "alias"), at::tensor({5.0f, 8.0f})));
    for (const auto& [name, t] : c.tensors) CHECK_MESSAGE(t.is_contiguous(), name);
    tensor_named(c, "full").fill_(-1.0f);  // the copies do not share memory with it
    CHECK(same_bits(tensor_named(c, "transposed"), full.t().contiguous()));
    CHECK(same_bits(tensor_named(c, "part"), at::tensor({5.0f, 8.0f})));
  }

  TEST_CASE("checkpoint: protocol 4 opcodes (FRAME, STACK_GLOBAL, MEMOIZE, SHORT_BINUNICODE)") {
    auto short_str = [](const std::string& s) {
      return std::string("\x8c") + static_cast<char>(s.size()) + s;
    };
    Pickle p(4);
    p.raw(std::string("\x95\x10\0\0\0\0\0\0\0", 9));
    p.raw(short_str("collections") + "\x94" + short_str("OrderedDict") + "\x94\x93\x94");
    p.empty_tuple().reduce().raw("\x94").raw(short_str("w") + "\x94");
    p.tensor("FloatStorage", "0", 6, {2}, {1}, 4).setitem();
    const Checkpoint c = cotrack::read_checkpoint_bytes(with_six_floats(p.stop()), "p4.pth");
    REQUIRE(names_of(c) == std::vector<std::string>{"w"});
    CHECK(same_bits(c.tensors[0].second, at::tensor({4.0f, 5.0f})));
  }

  TEST_CASE("checkpoint: the top-level object must be a dict") {
    CHECK_REFUSED(with_six_floats(Pickle().empty_list().stop()), "top-level object is a list");
    CHECK_REFUSED(with_six_floats(Pickle().tensor("FloatStorage", "0", 6, {6}, {1}).stop()),
                  "not a dict");
    // 200000 nested tuples: no recursion anywhere, just a refusal.
    Pickle deep;
    deep.empty_tuple();
    for (int i = 0; i < 200000; ++i) deep.op('\x85');
    CHECK_REFUSED(with_six_floats(deep.stop()), "top-level object is a tuple");
  }

  TEST_CASE("checkpoint: broken archives are refused") {
    const std::string good = one_tensor({6}, {1});
    REQUIRE(cotrack::read_checkpoint_bytes(good, "good.pth").tensors.size() == 1);
    CHECK_REFUSED("", "file is empty");
    std::string noise(4096, '\0');
    uint32_t state = 12345;
    for (char& ch : noise) ch = static_cast<char>((state = state * 1664525u + 1013904223u) >> 24);
    CHECK_REFUSED(noise, "not a readable torch.save zip archive");
    CHECK_REFUSED(good.substr(0, good.size() / 2), "zip archive");
    CHECK_REFUSED(good.substr(0, good.size() - 100), "zip archive");
    CHECK_REFUSED(good.substr(0, good.size() - 1), "zip archive");
    CHECK_REFUSED(with_six_floats("\x80\x02}"), "without a STOP");

    std::string claims_more = good;  // data/0 claims ~2 GB in the central directory
    put_le32(claims_more, central_header(good, "data/0") + 20, 0x7fff0000);
    put_le32(claims_more, central_header(good, "data/0") + 24, 0x7fff0000);
    CHECK_REFUSED(claims_more, "past the end");

    // The version record is checked before PyTorchStreamReader sees it: its constructor leaks
    // the zip state when it throws (found by fuzz/fuzz_checkpoint).
    std::string bad_version = good;
    const size_t version_header = local_header(good, "version");
    const size_t extra_len = static_cast<uint8_t>(good[version_header + 28]) +
                             256 * static_cast<uint8_t>(good[version_header + 29]);
    bad_version[version_header + 30 + std::strlen("archive/version") + extra_len] = '0';
    CHECK_REFUSED(bad_version, "unsupported format version");
    std::string no_version = good;
    const size_t name_at = std::strlen("archive/versio");
    no_version[local_header(good, "version") + 30 + name_at] = 'x';
    no_version[central_header(good, "version") + 46 + name_at] = 'x';
    CHECK_REFUSED(no_version, "no version record");
    std::string folder_flag = good;  // miniz would return the record's bytes unread
    put_le32(folder_flag, central_header(good, "data.pkl") + 38, 0x10);
    CHECK_REFUSED(folder_flag, "marked as a folder");

    Pickle p;
    p.empty_dict().str("w").tensor("FloatStorage", "0", 6, {6}, {1}).setitem();
    CHECK_REFUSED(archive(p.stop(), {{"0", bytes_of(at::arange(6, at::kFloat))}}, true),
                  "compressed");
    CHECK_REFUSED(archive(p.stop()), "missing");
  }

  TEST_CASE("checkpoint: pickles that would run code are refused by name") {
    const auto marker =
        std::filesystem::temp_directory_path() / ("cotrack_pwned_" + std::to_string(::getpid()));
    std::filesystem::remove(marker);
    const std::string command = "touch " + marker.string();
    CHECK_REFUSED(
        with_six_floats(Pickle().global("posix", "system").str(command).op('\x85').reduce().stop()),
        "refusing pickle global 'posix.system'");
    CHECK_REFUSED(
        with_six_floats(Pickle().global("os", "system").str(command).op('\x85').reduce().stop()),
        "'os.system'");
    CHECK_REFUSED(with_six_floats(Pickle()
                                      .str("builtins")
                                      .str("eval")
                                      .op('\x93')
                                      .str("__import__('os').system('" + command + "')")
                                      .op('\x85')
                                      .reduce()
                                      .stop()),
                  "'builtins.eval'");
    CHECK_REFUSED(with_six_floats(Pickle().global("torch", "load").stop()), "'torch.load'");
    CHECK_REFUSED(with_six_floats(Pickle().global("torch", "ComplexFloatStorage").stop()),
                  "ComplexFloatStorage");
    CHECK_FALSE(std::filesystem::exists(marker));
  }

  TEST_CASE("checkpoint: malformed pickles are refused") {
    CHECK_REFUSED(with_six_floats(Pickle().op('i').stop()), "opcode 0x69");
    CHECK_REFUSED(with_six_floats(Pickle().empty_dict().op('\x81').stop()), "opcode 0x81");
    CHECK_REFUSED(with_six_floats(Pickle().binget(7).stop()), "memo");
    CHECK_REFUSED(with_six_floats(Pickle()
                                      .op('X')
                                      .raw("\xff\xff\xff\x7f"
                                           "abc")
                                      .stop()),
                  "past the end");
    CHECK_REFUSED(with_six_floats(Pickle().raw("\x8a\x09").raw(std::string(9, '\1')).stop()),
                  "64 bits");
    CHECK_REFUSED(with_six_floats(Pickle().op('t').stop()), "MARK");
    CHECK_REFUSED(with_six_floats(Pickle().empty_dict().op('s').stop()), "underflow");
    CHECK_REFUSED(with_six_floats(Pickle().raw(std::string(200000, '(')).stop()), "stack deeper");
    CHECK_REFUSED(with_six_floats(Pickle().raw(std::string(200000, 'N')).stop()), "stack deeper");
    Pickle objects;  // over a million small objects in one list
    objects.empty_list();
    for (int i = 0; i < 1100000; ++i) objects.raw("K\1a");
    CHECK_REFUSED(with_six_floats(objects.stop()), "too many objects");
    Pickle memo;  // over a million memo entries for one object
    memo.empty_list();
    for (uint32_t i = 0; i < 1100000; ++i) {
      memo.raw("r").raw(std::string{static_cast<char>(i), static_cast<char>(i >> 8),
                                    static_cast<char>(i >> 16), '\0'});
    }
    CHECK_REFUSED(with_six_floats(memo.stop()), "too many entries");
    CHECK_REFUSED(with_six_floats(Pickle().empty_dict().integer(1).integer(2).setitem().stop()),
                  "key is an int, not a str");
    Pickle arity;
    arity.global("torch._utils", "_rebuild_tensor_v2").mark().integer(1).tuple().reduce();
    CHECK_REFUSED(with_six_floats(arity.stop()), "6 or 7");
  }

  TEST_CASE("checkpoint: tensors that do not fit their storage are refused") {
    CHECK_REFUSED(one_tensor({1000000, 1000000}, {1000000, 1}), "beyond its storage");
    CHECK_REFUSED(one_tensor({int64_t{1} << 62, 4}, {1, 0}), "overflows");
    CHECK_REFUSED(one_tensor({1, 1, 1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 1, 1, 1}),
                  "9 dimensions");
    CHECK_REFUSED(one_tensor({3}, {-1}, 5), "negative");
    CHECK_REFUSED(one_tensor({-3}, {1}), "negative");
    CHECK_REFUSED(one_tensor({1}, {1}, 7), "beyond its storage");
    CHECK_REFUSED(one_tensor({2}, {1}, -1), "negative storage offset");
    CHECK_REFUSED(one_tensor({6}, {1}, 0, 1000), "holds only 24");
    CHECK_REFUSED(one_tensor({6}, {1}, 0, int64_t{1} << 62), "overflows");

    Pickle twice;
    twice.empty_dict().mark();
    twice.str("a").tensor("FloatStorage", "0", 6, {6}, {1});
    twice.str("b").tensor("HalfStorage", "0", 6, {6}, {1});
    CHECK_REFUSED(with_six_floats(twice.setitems().stop()), "declared twice");

    Pickle dup;
    dup.empty_dict().mark();
    dup.str("module.a").tensor("FloatStorage", "0", 6, {6}, {1});
    dup.str("a").tensor("FloatStorage", "0", 6, {6}, {1});
    CHECK_REFUSED(with_six_floats(dup.setitems().stop()), "duplicate tensor name 'a'");

    Pickle flag;
    flag.empty_dict().str("f").tensor("BoolStorage", "0", 3, {3}, {1}).setitem();
    CHECK_REFUSED(archive(flag.stop(), {{"0", std::string("\1\2\0", 3)}}), "other than 0 and 1");

    // 100 overlapping views of one 4 MB storage would need 400 MB: refused before any copy.
    constexpr int64_t kNumel = 1000000;
    Pickle views;
    views.empty_dict().mark();
    for (int i = 0; i < 100; ++i) {
      views.str("v" + std::to_string(i));
      views.tensor("FloatStorage", "0", kNumel, {kNumel - 100}, {1}, i);
    }
    CHECK_REFUSED(archive(views.setitems().stop(), {{"0", bytes_of(at::zeros({kNumel}))}}),
                  "can justify");
  }

  TEST_CASE("checkpoint: unreadable paths") {
    const auto dir = fresh_temp_dir("paths");
    CHECK_THROWS_AS(cotrack::read_checkpoint((dir / "absent.pth").string()), ModelError);
    CHECK_THROWS_AS(cotrack::read_checkpoint(dir.string()), ModelError);
    const std::string junk = (dir / "junk.pth").string();
    std::ofstream(junk, std::ios::binary) << "not a zip at all";
    try {
      cotrack::read_checkpoint(junk);
      FAIL("junk accepted");
    } catch (const ModelError& e) {
      CHECK(std::string(e.what()).rfind(junk + ": not a readable torch.save zip archive", 0) == 0);
    }
    std::filesystem::remove_all(dir);
  }
}
