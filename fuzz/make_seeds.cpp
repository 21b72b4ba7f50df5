// Writes the seed corpora of the fuzz targets: make_seeds CORPUS_DIR [CONFIG_DIR]
// (scripts/fuzz.sh --seeds runs it on fuzz/corpus). Each target's folder gets a handful of small,
// valid inputs in that target's framing, made with the project's own writers where it has them
// (write_checkpoint_bytes, write_clip) and by hand otherwise. Existing files with other names
// (regression inputs from findings) are left alone.
#include <ATen/ops/arange.h>
#include <ATen/ops/ones.h>
#include <caffe2/serialize/inline_container.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "checkpoint_framing.hpp"
#include "clip_framing.hpp"
#include "cotrack/synth.hpp"
#include "fuzz_common.hpp"
#include "model/checkpoint/checkpoint.hpp"

namespace fs = std::filesystem;

namespace {

fs::path g_corpus;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  const fs::path dir = g_corpus / target;
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "make_seeds: cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string framed(uint8_t mode, const std::string& payload) {
  return std::string(1, static_cast<char>(mode)) + payload;
}

// A pickle assembler: one method per opcode (pickletools names).
class Pickle {
 public:
  explicit Pickle(int protocol) { op(0x80).byte(protocol); }
  Pickle& op(uint8_t code) { return byte(code); }
  Pickle& byte(int b) {
    out_ += static_cast<char>(b);
    return *this;
  }
  Pickle& le(uint64_t v, int bytes) {
    for (int b = 0; b < bytes; ++b) byte(static_cast<int>((v >> (8 * b)) & 0xff));
    return *this;
  }
  Pickle& raw(const std::string& s) {
    out_ += s;
    return *this;
  }
  // BINUNICODE, SHORT_BINUNICODE
  Pickle& str(const std::string& s) { return op('X').le(s.size(), 4).raw(s); }
  Pickle& short_str(const std::string& s) { return op(0x8c).le(s.size(), 1).raw(s); }
  Pickle& integer(int64_t v) {
    if (v >= 0 && v < 256) return op('K').le(static_cast<uint64_t>(v), 1);    // BININT1
    if (v >= 0 && v < 65536) return op('M').le(static_cast<uint64_t>(v), 2);  // BININT2
    return op('J').le(static_cast<uint32_t>(v), 4);                           // BININT
  }
  Pickle& long1(int64_t v) { return op(0x8a).le(8, 1).le(static_cast<uint64_t>(v), 8); }
  Pickle& binfloat(double v) {
    uint64_t bits = 0;
    std::memcpy(&bits, &v, 8);
    op('G');
    for (int b = 7; b >= 0; --b) byte(static_cast<int>((bits >> (8 * b)) & 0xff));
    return *this;
  }
  Pickle& global(const std::string& module, const std::string& name) {
    return op('c').raw(module + "\n" + name + "\n");
  }
  Pickle& stack_global(const std::string& module, const std::string& name) {
    return short_str(module).short_str(name).op(0x93);
  }
  Pickle& binput(int i) { return op('q').le(static_cast<uint64_t>(i), 1); }
  Pickle& binget(int i) { return op('h').le(static_cast<uint64_t>(i), 1); }
  Pickle& ordered_dict() { return global("collections", "OrderedDict").op(')').op('R'); }
  Pickle& int_tuple(std::initializer_list<int64_t> v) {
    op('(');
    for (int64_t x : v) integer(x);
    return op('t');
  }
  // _rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, size, stride,
  // False, OrderedDict()) as torch.save writes it.
  Pickle& tensor(const std::string& type, const std::string& key, int64_t numel, int64_t offset,
                 std::initializer_list<int64_t> sizes, std::initializer_list<int64_t> strides) {
    global("torch._utils", "_rebuild_tensor_v2").op('(');
    op('(').str("storage").global("torch", type).str(key).str("cpu").integer(numel).op('t');
    op('Q').integer(offset).int_tuple(sizes).int_tuple(strides).op(0x89).ordered_dict();
    return op('t').op('R');
  }
  std::string finish() { return out_ + "."; }

 private:
  std::string out_;
};

// data.pkl of an archive made by cotrack's writer.
std::string pickle_of(const std::string& archive) {
  std::istringstream in(archive);
  caffe2::serialize::PyTorchStreamReader reader(&in);
  auto [data, size] = reader.getRecord("data.pkl");
  return std::string(static_cast<const char*>(data.get()), size);
}

void checkpoint_seeds() {
  using Tensors = std::vector<std::pair<std::string, at::Tensor>>;
  const std::map<std::string, cotrack::MetaValue> meta = [] {
    std::map<std::string, cotrack::MetaValue> m;
    m["arch.name"].s = "cotrack-small";
    m["arch.dim"].kind = cotrack::MetaValue::Kind::kInt;
    m["arch.dim"].i = 64;
    m["arch.scale"].kind = cotrack::MetaValue::Kind::kFloat;
    m["arch.scale"].f = 0.5;
    m["arch.group"].kind = cotrack::MetaValue::Kind::kBool;
    m["arch.group"].b = true;
    return m;
  }();
  // Byte sizes 16, 64, 256, 1024: the pickle mode's storages data/0..3.
  const Tensors fitting = {
      {"head.bias", at::ones({4}, at::kFloat)},
      {"head.weight", at::ones({4, 8}, at::kHalf)},
      {"fnet.conv", at::arange(64, at::kFloat).reshape({8, 8})},
      {"steps", at::arange(128, at::kLong)},
  };
  const std::string writer_archive = cotrack::write_checkpoint_bytes(fitting, meta);
  put("checkpoint", "archive-writer", framed(cotrack::fuzz::kModeArchive, writer_archive));
  put("checkpoint", "archive-metadata-only",
      framed(cotrack::fuzz::kModeArchive, cotrack::write_checkpoint_bytes({}, meta)));
  put("checkpoint", "archive-bf16",
      framed(
          cotrack::fuzz::kModeArchive,
          cotrack::write_checkpoint_bytes(
              {{"module.a", at::ones({2, 3}, at::kBFloat16)}, {"module.b", at::ones({0})}}, {})));
  put("checkpoint", "pickle-writer", framed(cotrack::fuzz::kModePickle, pickle_of(writer_archive)));

  // Protocol 4 opcodes: FRAME, STACK_GLOBAL, MEMOIZE, SHORT_BINUNICODE; an OrderedDict with
  // _metadata (BUILD) and module. prefixes.
  Pickle p4(4);
  p4.op(0x95).le(0, 8);
  p4.stack_global("collections", "OrderedDict").op(0x94).op(')').op('R').op(0x94);
  p4.op('}')
      .short_str("_metadata")
      .op('}')
      .short_str("")
      .op('}')
      .short_str("version")
      .integer(1)
      .op('s')
      .op('s')
      .op('s')
      .op('b');
  p4.op('(');
  p4.short_str("module.w").op(0x94).tensor("FloatStorage", "1", 16, 0, {4, 4}, {4, 1}).op(0x94);
  p4.short_str("module.b").tensor("BoolStorage", "0", 16, 0, {16}, {1});
  p4.op('u');
  const std::string proto4 = p4.finish();
  put("checkpoint", "pickle-proto4", framed(cotrack::fuzz::kModePickle, proto4));
  put("checkpoint", "archive-proto4",
      framed(cotrack::fuzz::kModeArchive,
             cotrack::fuzz::wrap_pickle(proto4.data(), proto4.size())));

  // A training checkpoint: the state dict under "model" next to an optimizer and scalars;
  // _rebuild_parameter, lists, tuples, floats, None, LONG1, DICT and LIST opcodes.
  Pickle nested(2);
  nested.op('}').binput(0).op('(');
  nested.str("epoch").long1(-3);
  nested.str("model").op('}').binput(1).op('(');
  nested.str("module.w").global("torch._utils", "_rebuild_parameter");
  nested.tensor("HalfStorage", "1", 32, 0, {4, 8}, {8, 1}).op(0x88).ordered_dict().op(0x87);
  nested.op('R');
  nested.str("module.steps").tensor("LongStorage", "3", 128, 0, {128}, {1});
  nested.op('u');
  nested.str("optimizer").op('(').str("state").op('}').str("param_groups").op(']');
  nested.op('(').str("lr").binfloat(0.1).str("betas").binfloat(0.9).binfloat(0.999).op(0x86);
  nested.str("params").op('(').integer(0).integer(1).op('l').op('d').op('a').op('d');
  nested.str("name").op('U').le(3, 1).raw("run").str("none").op('N');
  nested.op('u');
  put("checkpoint", "pickle-nested", framed(cotrack::fuzz::kModePickle, nested.finish()));

  // Views: a transposed view with an offset, the whole storage, an alias through the memo,
  // a scalar, an empty tensor; DUP, POP, POP_MARK, LONG_BINPUT/GET, BINSTRING, BINUNICODE8.
  Pickle views(2);
  views.op('}').binput(0).op('(');
  views.str("a").tensor("FloatStorage", "2", 64, 8, {4, 4}, {1, 4}).op('r').le(300, 4);
  views.str("b").tensor("FloatStorage", "2", 64, 0, {64}, {1});
  views.str("c").op('j').le(300, 4);
  views.op(0x8d).le(1, 8).raw("s").tensor("LongStorage", "3", 128, 5, {}, {});
  views.op('T').le(1, 4).raw("e").tensor("FloatStorage", "1", 16, 0, {0, 3}, {3, 1});
  views.op('N').op('2').op('0').op('0').op('(').op('N').op('1');
  views.op('u');
  put("checkpoint", "pickle-views", framed(cotrack::fuzz::kModePickle, views.finish()));
}

void csv_seeds() {
  put("points_csv", "valid", "point_id,frame,x,y\n0,0,10.5,20.25\n1,3,0,0\n7,12,-1.5,1e2\n");
  put("points_csv", "comments-crlf",
      "# queries\n\npoint_id, frame, x ,y\r\n 0 , 0 , 1 , 2 \r\n# end\r\n2,1,3.0,4.0\r\n");
  put("points_csv", "header-only", "point_id,frame,x,y\n");
  put("points_csv", "trailing-comma", "point_id,frame,x,y\n0,0,1,2,\n");

  // tracks_csv: byte 0 = frames, byte 1 = points (>= 128: ids 7, 14, ...), then the file.
  auto tracks = [](int frames, int points, const std::string& text) {
    return std::string{static_cast<char>(frames), static_cast<char>(points)} + text;
  };
  put("tracks_csv", "confidence",
      tracks(2, 2,
             "point_id,frame,x,y,visible,confidence\n0,0,1.000,2.000,1,0.9000\n"
             "0,1,1.500,2.500,0,0.1000\n1,0,5.000,6.000,1,1.0000\n1,1,5.250,6.250,1,0.7500\n"));
  put("tracks_csv", "no-confidence",
      tracks(3, 1, "point_id,frame,x,y,visible\n0,2,1,1,1\n0,0,1,1,0\n0,1,1,1,1\n"));
  put("tracks_csv", "ids",
      tracks(1, 128 + 2, "# ids 7 and 14\npoint_id,frame,x,y,visible\n14,0,3,4,1\n7,0,1,2,0\n"));
  put("tracks_csv", "empty-table", tracks(0, 0, "point_id,frame,x,y,visible,confidence\n"));
}

void clip_seeds() {
  const fs::path dir = cotrack::fuzz::scratch_dir("seeds");
  cotrack::write_clip(
      cotrack::generate_clip(cotrack::fuzz::tiny_clip_params(), cotrack::fuzz::kClipSeed),
      dir.string());
  for (size_t k = 0; k < cotrack::fuzz::kClipFiles.size(); ++k) {
    put("clip", fs::path(cotrack::fuzz::kClipFiles[k]).filename().string(),
        std::string(1, static_cast<char>(k)) + slurp(dir / cotrack::fuzz::kClipFiles[k]));
  }
}

void config_seeds(const fs::path& repo_config) {
  put("config", "all-keys",
      "# every kind of option\n"
      "source = \"rtsp://camera.local/stream\"\n"
      "width = 1280\n"
      "fps = 25\n"
      "max-points = 64\n"
      "duration = 12.5\n"
      "threshold = 0.75\n"
      "drop = \"newest\"\n"
      "no-window = true\n"
      "refine = false\n"
      "point = [10.5, 20]\n"
      "sizes = [1, 2, 3]\n");
  put("config", "errors",
      "widht = 640  # a typo: 'did you mean'\n"
      "fps = \"fast\"\n");
  put("config", "toml-syntax",
      "'source' = '''lit\\eral'''\n"
      "\"fps\" = 0x1E\n"
      "duration = 1e3\n"
      "threshold = +inf\n"
      "[table]\n"
      "when = 1979-05-27T07:32:00Z\n"
      "text = \"\"\"multi\nline \\u00e9\"\"\"\n"
      "nested = { a = [1, [2, 3]], b.c = true }\n");
  const std::string live = slurp(repo_config);
  if (!live.empty()) put("config", "repo-" + repo_config.filename().string(), live);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: make_seeds CORPUS_DIR [REPO_CONFIG_TOML]\n");
    return 2;
  }
  g_corpus = argv[1];
  checkpoint_seeds();
  csv_seeds();
  clip_seeds();
  config_seeds(argc == 3 ? fs::path(argv[2]) : fs::path());
  return 0;
}
