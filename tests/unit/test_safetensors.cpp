// Tests of the safetensors reader/writer: round trips, byte-exact fixtures, broken inputs, and
// loading weights into modules.
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>

#include "strata/core/error.hpp"
#include "strata/core/file.hpp"
#include "strata/nn/safetensors.hpp"
#include "strata/nn/weights.hpp"
#include "testing.hpp"

namespace strata::nn {
namespace {

using Bytes = std::vector<std::uint8_t>;
using TensorMap = std::map<std::string, torch::Tensor>;
using testing::TempDir;

// ---- helpers ---------------------------------------------------------------------------------

Bytes u64_le(std::uint64_t v) {
  Bytes out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  return out;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes text_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

// A file with the given header length field, header text and data section.
Bytes raw_file(std::uint64_t n, const std::string& header, const Bytes& data) {
  return concat({u64_le(n), text_bytes(header), data});
}

// A well-formed frame around `header` (length field = header size) and `data_bytes` zero bytes.
Bytes file_with(const std::string& header, std::size_t data_bytes = 0) {
  return raw_file(header.size(), header, Bytes(data_bytes, 0));
}

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  int begin, int end) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
         ",\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(end) + "]}";
}

Bytes f32_bytes(std::initializer_list<float> values) {
  Bytes out(values.size() * 4);
  std::memcpy(out.data(), values.begin(), out.size());
  return out;
}

void expect_bit_exact(const torch::Tensor& expected, const torch::Tensor& actual,
                      const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_TRUE(actual.defined());
  EXPECT_EQ(actual.device().type(), torch::kCPU);
  ASSERT_EQ(actual.scalar_type(), expected.scalar_type());
  ASSERT_EQ(actual.sizes(), expected.sizes());
  const torch::Tensor a = expected.cpu().contiguous();
  const torch::Tensor b = actual.contiguous();
  ASSERT_EQ(a.nbytes(), b.nbytes());
  if (a.nbytes() > 0) {
    EXPECT_EQ(std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()), 0);
  }
}

// One tensor of each supported dtype, with special values and odd shapes.
TensorMap sample_tensors() {
  torch::manual_seed(7);
  TensorMap m;
  torch::Tensor f32 = torch::randn({3, 5});
  f32[0][0] = std::numeric_limits<float>::quiet_NaN();
  f32[0][1] = -std::numeric_limits<float>::infinity();
  f32[0][2] = -0.0f;
  f32[0][3] = std::numeric_limits<float>::denorm_min();
  m["f32"] = f32;
  m["f16"] = (torch::randn({4, 2}) * 1000).to(torch::kHalf);
  m["bf16"] = (torch::randn({7}) * 1e20).to(torch::kBFloat16);
  m["i64"] = torch::tensor(std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::min(),
                                                     std::numeric_limits<std::int64_t>::max(), -1,
                                                     0, 1234567890123});
  m["f64"] = torch::randn({2, 3}, torch::kDouble);
  m["i32"] = torch::randint(-(1LL << 31), (1LL << 31) - 1, {3, 1, 2}, torch::kInt);
  m["u8"] = torch::randint(0, 256, {2, 3, 4}, torch::kByte);
  m["bool"] = torch::randint(0, 2, {9}).to(torch::kBool);
  m["scalar"] = torch::full({}, 3.5f);
  m["empty"] = torch::empty({0, 3});
  m["transposed"] = torch::randn({4, 6}).t();  // saved contiguous
  return m;
}

// Predicate-formatter: `text` contains `part`.
::testing::AssertionResult Contains(const char* text_expr, const char* /*part_expr*/,
                                    const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << text_expr << " is '" << text << "', which lacks '" << part << "'";
}

// Runs `fn`, expecting strata::Error whose reason contains `part`; returns the error message.
template <class Fn>
std::string expect_error(Fn fn, const std::string& part) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_PRED_FORMAT2(Contains, e.reason(), part);
    return e.what();
  }
  ADD_FAILURE() << "no strata::Error thrown (expected '" << part << "')";
  return "";
}

void expect_parse_error(const Bytes& bytes, const std::string& part) {
  const std::string what = expect_error(
      [&] { parse_safetensors_header(bytes.data(), bytes.size(), "bad.safetensors"); }, part);
  EXPECT_EQ(what.rfind("bad.safetensors: ", 0), 0u) << what;
  expect_error([&] { decode_safetensors(bytes, "bad.safetensors"); }, part);
}

// ---- dtypes ------------------------------------------------------------------------------------

TEST(Safetensors, DTypeNamesAndSizes) {
  const std::vector<std::pair<std::string, std::size_t>> expected = {
      {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
      {"F64", 8}, {"I32", 4}, {"U8", 1},   {"BOOL", 1}};
  for (const auto& [name, size] : expected) {
    const DType t = parse_dtype(name, "x");
    EXPECT_EQ(dtype_name(t), name);
    EXPECT_EQ(dtype_size(t), size) << name;
  }
  expect_error([] { parse_dtype("F8_E4M3", "x"); }, "unknown dtype 'F8_E4M3'");
  expect_error([] { parse_dtype("f32", "x"); }, "unknown dtype 'f32'");
}

// ---- round trips -------------------------------------------------------------------------------

TEST(Safetensors, RoundTripsEveryDTypeBitExact) {
  TempDir dir;
  const TensorMap tensors = sample_tensors();
  save_safetensors(dir.file("w.safetensors"), tensors);
  const Weights w = load_safetensors(dir.file("w.safetensors"));
  ASSERT_EQ(w.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    ASSERT_EQ(w.tensors.count(name), 1u) << name;
    expect_bit_exact(t, w.tensors.at(name), name);
  }
  EXPECT_TRUE(w.metadata.empty());
  EXPECT_EQ(dir.list(), std::vector<std::string>{"w.safetensors"});
}

TEST(Safetensors, LoadedTensorsOwnTheirMemory) {
  Bytes bytes =
      raw_file(54, R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", f32_bytes({1, 2}));
  const Weights w = decode_safetensors(bytes, "mem");
  std::fill(bytes.begin(), bytes.end(), 0xFF);
  EXPECT_TRUE(torch::equal(w.tensors.at("x"), torch::tensor({1.0f, 2.0f})));
}

TEST(Safetensors, MetadataRoundTrips) {
  TempDir dir;
  const std::map<std::string, std::string> metadata = {{"format", "pt"},
                                                       {"empty", ""},
                                                       {"unicode", "h\xc3\xa9llo \xe2\x9c\x93"},
                                                       {"q", "a\"b\\c\n"}};
  save_safetensors(dir.file("m.safetensors"), {{"t", torch::ones({2})}}, metadata);
  const Weights w = load_safetensors(dir.file("m.safetensors"));
  EXPECT_EQ(w.metadata, metadata);
  EXPECT_TRUE(torch::equal(w.tensors.at("t"), torch::ones({2})));
}

TEST(Safetensors, EmptyFileRoundTrips) {
  TempDir dir;
  save_safetensors(dir.file("e.safetensors"), {});
  const Bytes bytes = read_file(dir.file("e.safetensors"));
  EXPECT_EQ(bytes, raw_file(8, "{}      ", {}));
  EXPECT_TRUE(load_safetensors(dir.file("e.safetensors")).tensors.empty());
}

// ---- byte-exact fixtures -----------------------------------------------------------------------

TEST(Safetensors, SerializesByteExact) {
  const Bytes data = f32_bytes({1.5f, -2.0f});
  const std::vector<RawTensorView> views = {{"x", DType::F32, {2}, data.data(), data.size()}};
  // 54 bytes of JSON padded with 2 spaces to 56.
  EXPECT_EQ(serialize_safetensors(views, {}),
            raw_file(56, R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  )", data));
  // __metadata__ first; 79 bytes padded to 80.
  EXPECT_EQ(
      serialize_safetensors(views, {{"k", "v"}}),
      raw_file(
          80, R"({"__metadata__":{"k":"v"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} )",
          data));
}

TEST(Safetensors, SerializesInGivenOrderWithAlignedHeader) {
  const Bytes a = {1, 2, 3};
  const Bytes b = f32_bytes({4.0f});
  const std::vector<RawTensorView> views = {{"zz", DType::U8, {3}, a.data(), a.size()},
                                            {"aa", DType::F32, {}, b.data(), b.size()}};
  const Bytes file = serialize_safetensors(views, {});
  const SafetensorsHeader h = parse_safetensors_header(file.data(), file.size(), "mem");
  EXPECT_EQ(h.data_offset % 8, 0u);
  EXPECT_EQ(file[h.data_offset - 1], ' ');
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.tensors[0].name, "zz");
  EXPECT_EQ(h.tensors[0].begin, 0u);
  EXPECT_EQ(h.tensors[1].name, "aa");
  EXPECT_EQ(h.tensors[1].begin, 3u);
  EXPECT_EQ(h.tensors[1].end, 7u);
  EXPECT_EQ(Bytes(file.end() - 7, file.end()), concat({a, b}));
}

// A hand-written file with the tensors listed out of offset order, read with 0 to 7 trailing
// spaces after the header (0 is how some writers leave it; the data is then unaligned).
TEST(Safetensors, ParsesHandWrittenFixtureWithAnyPadding) {
  const std::string json =
      "{" + entry("b", "I32", "[1]", 8, 12) + "," + entry("a", "F32", "[2,1]", 0, 8) + "," +
      entry("c", "BOOL", "[3]", 12, 15) + "," + R"("__metadata__":{"who":"me"})" + "}";
  const Bytes data = concat({f32_bytes({1.0f, -2.0f}), {7, 0, 0, 0}, {1, 0, 1}});
  for (std::size_t pad = 0; pad < 8; ++pad) {
    SCOPED_TRACE("padding " + std::to_string(pad));
    const std::string header = json + std::string(pad, ' ');
    const Bytes file = raw_file(header.size(), header, data);
    const SafetensorsHeader h = parse_safetensors_header(file.data(), file.size(), "fixture");
    EXPECT_EQ(h.data_offset, 8 + header.size());
    EXPECT_EQ(h.metadata, (std::map<std::string, std::string>{{"who", "me"}}));
    ASSERT_EQ(h.tensors.size(), 3u);
    EXPECT_EQ(h.tensors[0].name, "a");
    EXPECT_EQ(h.tensors[0].dtype, DType::F32);
    EXPECT_EQ(h.tensors[0].shape, (std::vector<std::int64_t>{2, 1}));
    EXPECT_EQ(h.tensors[1].name, "b");
    EXPECT_EQ(h.tensors[1].begin, 8u);
    EXPECT_EQ(h.tensors[1].end, 12u);
    EXPECT_EQ(h.tensors[2].name, "c");
    EXPECT_EQ(h.tensors[2].dtype, DType::BOOL);

    const Weights w = decode_safetensors(file, "fixture");
    EXPECT_TRUE(torch::equal(w.tensors.at("a"), torch::tensor({1.0f, -2.0f}).reshape({2, 1})));
    EXPECT_TRUE(torch::equal(w.tensors.at("b"), torch::tensor({7}, torch::kInt)));
    EXPECT_TRUE(torch::equal(w.tensors.at("c"), torch::tensor({true, false, true})));
  }
}

TEST(Safetensors, AcceptsZeroSizedTensorsAndEmptyHeader) {
  const std::string json =
      "{" + entry("e", "F16", "[0,4]", 0, 0) + "," + entry("s", "F64", "[]", 0, 8) + "}";
  const Bytes file = raw_file(json.size(), json, Bytes(8, 0));
  const Weights w = decode_safetensors(file, "mem");
  EXPECT_EQ(w.tensors.at("e").sizes(), (std::vector<std::int64_t>{0, 4}));
  EXPECT_EQ(w.tensors.at("s").dim(), 0);
  EXPECT_TRUE(decode_safetensors(file_with("{}"), "mem").tensors.empty());
}

// ---- broken inputs -----------------------------------------------------------------------------

struct BrokenCase {
  const char* label;
  Bytes bytes;
  const char* reason;
};

std::vector<BrokenCase> broken_cases() {
  const std::string a8 = entry("a", "F32", "[2]", 0, 8);
  return {
      {"empty file", {}, "too short"},
      {"7 bytes", Bytes(7, 0), "too short"},
      {"zero header length", raw_file(0, "", {}), "header length is 0"},
      {"huge header length", raw_file(std::uint64_t{1} << 62, "{}", {}), "exceeds the limit"},
      {"max header length", raw_file(~std::uint64_t{0}, "{}", {}), "exceeds the limit"},
      {"header beyond file", raw_file(100, "{}", {}), "beyond the end of the file"},
      {"bad JSON", file_with(R"({"a":)"), "invalid JSON header"},
      {"JSON comment", file_with("{}//"), "invalid JSON header"},
      {"invalid UTF-8", file_with("{\"\xff\":1}"), "invalid JSON header"},
      {"array header", file_with("[1,2]"), "not a JSON object"},
      {"string header", file_with(R"("x")"), "not a JSON object"},
      {"entry not object", file_with(R"({"a":[1]})"), "'a': header entry is not a JSON object"},
      {"missing shape", file_with(R"({"a":{"dtype":"F32","data_offsets":[0,0]}})"),
       "'a': missing field 'shape'"},
      {"unknown field",
       file_with(R"({"a":{"dtype":"F32","shape":[],"data_offsets":[0,4],"x":1}})", 4),
       "'a': unknown field 'x'"},
      {"dtype not string", file_with(R"({"a":{"dtype":4,"shape":[],"data_offsets":[0,4]}})", 4),
       "dtype is not a string"},
      {"bad dtype", file_with("{" + entry("a", "F8_E5M2", "[2]", 0, 2) + "}", 2),
       "'a': unknown dtype 'F8_E5M2'"},
      {"negative dim", file_with("{" + entry("a", "F32", "[-2]", 0, 8) + "}", 8),
       "negative dimension"},
      {"fractional dim", file_with("{" + entry("a", "F32", "[2.0]", 0, 8) + "}", 8),
       "non-integer dimension"},
      {"string dim", file_with("{" + entry("a", "F32", "[\"2\"]", 0, 8) + "}", 8),
       "non-integer dimension"},
      {"shape not array", file_with("{" + entry("a", "F32", "2", 0, 8) + "}", 8),
       "shape is not an array"},
      {"dim above int64", file_with("{" + entry("a", "U8", "[9223372036854775808]", 0, 8) + "}", 8),
       "is too large"},
      {"shape overflow",
       file_with("{" + entry("a", "F32", "[4294967296,4294967296,4294967296]", 0, 8) + "}", 8),
       "shape [4294967296,4294967296,4294967296] is too large"},
      {"shape/bytes mismatch", file_with("{" + entry("a", "F32", "[3]", 0, 8) + "}", 8),
       "shape [3] of F32 needs 12 bytes but data_offsets span 8"},
      {"offsets not pair",
       file_with(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}})", 2),
       "data_offsets is not an array of two integers"},
      {"negative offset", file_with(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}})", 1),
       "data_offsets are not non-negative integers"},
      {"end before begin", file_with("{" + entry("a", "U8", "[0]", 4, 2) + "}", 4),
       "end is before begin"},
      {"offsets beyond end", file_with("{" + a8 + "}", 4), "beyond the data section of 4 bytes"},
      {"overlap", file_with("{" + a8 + "," + entry("b", "F32", "[2]", 4, 12) + "}", 12),
       "tensor 'b' overlaps tensor 'a'"},
      {"gap",
       file_with("{" + entry("a", "F32", "[1]", 0, 4) + "," + entry("b", "F32", "[1]", 8, 12) + "}",
                 12),
       "gap in the data section: bytes 4 to 8"},
      {"data not at start", file_with("{" + entry("a", "F32", "[1]", 4, 8) + "}", 8),
       "gap in the data section: bytes 0 to 4"},
      {"trailing bytes", file_with("{" + a8 + "}", 9), "has 9 bytes but the tensors cover only 8"},
      {"duplicate names", file_with("{" + a8 + "," + a8 + "}", 8), "duplicate tensor name 'a'"},
      {"duplicate field",
       file_with(R"({"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1),
       "duplicate key 'dtype'"},
      {"non-string metadata", file_with(R"({"__metadata__":{"k":1}})"),
       "__metadata__ value of 'k' is not a string"},
      {"metadata not object", file_with(R"({"__metadata__":"x"})"),
       "__metadata__ is not a JSON object"},
      {"empty name", file_with("{" + entry("", "U8", "[1]", 0, 1) + "}", 1), "empty tensor name"},
  };
}

TEST(Safetensors, BrokenInputsGiveCleanErrors) {
  for (const auto& c : broken_cases()) {
    SCOPED_TRACE(c.label);
    expect_parse_error(c.bytes, c.reason);
  }
}

TEST(Safetensors, BoolDataOtherThanZeroOrOneIsAnError) {
  const Bytes file = concat({file_with("{" + entry("a", "BOOL", "[2]", 0, 2) + "}"), {1, 2}});
  ASSERT_NO_THROW(parse_safetensors_header(file.data(), file.size(), "bad"));
  expect_error([&] { decode_safetensors(file, "bad"); },
               "tensor 'a': BOOL data holds bytes other than 0 and 1");
}

TEST(Safetensors, EveryTruncationOfAValidFileIsAnError) {
  const Bytes file = serialize_safetensors(
      {{"a", DType::U8, {3}, "abc", 3}, {"b", DType::U8, {2}, "de", 2}}, {{"k", "v"}});
  ASSERT_NO_THROW(parse_safetensors_header(file.data(), file.size(), "ok"));
  for (std::size_t size = 0; size < file.size(); ++size) {
    SCOPED_TRACE("size " + std::to_string(size));
    EXPECT_THROW(parse_safetensors_header(file.data(), size, "cut"), Error);
  }
  expect_parse_error(Bytes(file.begin(), file.end() - 1), "beyond the data section");
}

TEST(Safetensors, LoadReportsThePath) {
  TempDir dir;
  write_file_atomic(dir.file("bad.st"), Bytes{1, 2, 3});
  try {
    load_safetensors(dir.file("bad.st"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.path(), dir.file("bad.st"));
    EXPECT_NE(e.reason().find("too short"), std::string::npos) << e.reason();
  }
  expect_error([&] { load_safetensors(dir.file("missing.st")); }, "cannot open");
}

// ---- writing errors ----------------------------------------------------------------------------

// The reason serialize_safetensors gives for `views` (8 zero bytes each), or "" if it succeeds.
std::string serialize_error(
    const std::vector<std::tuple<std::string, DType, std::int64_t>>& views) {
  static const Bytes zeros(8, 0);
  std::vector<RawTensorView> raw;
  for (const auto& [name, dtype, dim] : views) raw.push_back({name, dtype, {dim}, zeros.data(), 8});
  try {
    serialize_safetensors(raw, {});
  } catch (const Error& e) {
    return e.reason();
  }
  return "";
}

TEST(Safetensors, SerializeRejectsBadViews) {
  EXPECT_PRED_FORMAT2(Contains, serialize_error({{"", DType::U8, 8}}), "empty name");
  EXPECT_PRED_FORMAT2(Contains, serialize_error({{"x", DType::U8, 8}, {"x", DType::U8, 8}}),
                      "duplicate tensor name 'x'");
  EXPECT_PRED_FORMAT2(Contains, serialize_error({{"x", DType::F32, 3}}),
                      "'x': shape [3] of F32 needs 12 bytes, got 8");
  EXPECT_PRED_FORMAT2(Contains, serialize_error({{"x", DType::U8, -8}}), "invalid shape [-8]");
  EXPECT_PRED_FORMAT2(Contains, serialize_error({{"__metadata__", DType::U8, 8}}),
                      "cannot save a tensor named __metadata__");
  EXPECT_PRED_FORMAT2(Contains, serialize_error({{"\xff", DType::U8, 8}}),
                      "cannot write safetensors header");
  EXPECT_EQ(serialize_error({{"x", DType::F64, 1}}), "");
}

TEST(Safetensors, SaveRejectsUnsupportedDTypesAndWritesNothing) {
  TempDir dir;
  const TensorMap tensors = {{"ok", torch::ones({2})}, {"short", torch::ones({2}, torch::kShort)}};
  const std::string what =
      expect_error([&] { save_safetensors(dir.file("x.safetensors"), tensors); },
                   "'short' has unsupported dtype");
  EXPECT_NE(what.find("x.safetensors"), std::string::npos) << what;
  const auto save_y = [&](const TensorMap& t) { save_safetensors(dir.file("y.safetensors"), t); };
  expect_error([&] { save_y({{"", torch::ones({1})}}); }, "empty name");
  expect_error([&] { save_y({{"u", torch::Tensor()}}); }, "'u' is undefined");
  EXPECT_TRUE(dir.list().empty());
}

// ---- modules -----------------------------------------------------------------------------------

// Conv2d + BatchNorm2d (which has buffers) in a Sequential, plus a 1×1 head.
struct NetImpl : torch::nn::Module {
  explicit NetImpl(int channels) {
    features = register_module(
        "features",
        torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, channels, 3)),
                              torch::nn::BatchNorm2d(channels)));
    head = register_module("head", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, 2, 1)));
  }
  torch::nn::Sequential features{nullptr};
  torch::nn::Conv2d head{nullptr};
};
TORCH_MODULE(Net);

// Fills every parameter and buffer of `m` from seed `seed`.
void randomize(torch::nn::Module& m, int seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : module_state(m)) {
    if (t.is_floating_point())
      t.copy_(torch::rand(t.sizes()) + 0.5);
    else
      t.fill_(seed * 100 + static_cast<int>(name.size()));
  }
}

// Deep copies of a module's state, to compare against later.
TensorMap snapshot(const torch::nn::Module& m) {
  TensorMap copy;
  for (const auto& [name, t] : module_state(m)) copy[name] = t.detach().clone();
  return copy;
}

void expect_state_equals(const torch::nn::Module& m, const TensorMap& expected) {
  const TensorMap state = module_state(m);
  ASSERT_EQ(state.size(), expected.size());
  for (const auto& [name, t] : expected) {
    ASSERT_EQ(state.count(name), 1u) << name;
    expect_bit_exact(t, state.at(name).cpu(), name);
  }
}

TEST(ModuleWeights, StateHasDottedParameterAndBufferNames) {
  Net net(4);
  std::vector<std::string> names;
  for (const auto& item : module_state(*net)) names.push_back(item.first);
  EXPECT_EQ(names, (std::vector<std::string>{"features.0.bias", "features.0.weight",
                                             "features.1.bias", "features.1.num_batches_tracked",
                                             "features.1.running_mean", "features.1.running_var",
                                             "features.1.weight", "head.bias", "head.weight"}));
}

TEST(ModuleWeights, SaveThenLoadIntoFreshModuleRestoresEverything) {
  TempDir dir;
  Net source(4);
  randomize(*source, 1);
  save_module_weights(dir.file("net.safetensors"), *source, {{"arch", "net4"}});

  Net target(4);
  randomize(*target, 2);
  const TensorMap expected = snapshot(*source);
  ASSERT_FALSE(torch::equal(module_state(*target).at("features.1.running_var"),
                            expected.at("features.1.running_var")));
  const Weights w = load_safetensors(dir.file("net.safetensors"));
  EXPECT_EQ(w.metadata.at("arch"), "net4");
  load_module_weights(*target, w, "net.safetensors");
  expect_state_equals(*target, expected);
  EXPECT_TRUE(target->features[0]->as<torch::nn::Conv2d>()->weight.requires_grad());
}

TEST(ModuleWeights, MismatchesAreListedAndModuleIsUnchanged) {
  Net net(4);
  randomize(*net, 3);
  const TensorMap before = snapshot(*net);
  Weights w{snapshot(*net), {}};
  for (auto& item : w.tensors) item.second.add_(1);  // would change everything if applied
  w.tensors.erase("head.bias");
  w.tensors["extra.weight"] = torch::zeros({1});
  w.tensors["features.0.weight"] = torch::zeros({16, 3, 3, 3});

  const std::string what = expect_error([&] { load_module_weights(*net, w, "w.safetensors"); },
                                        "weights do not match the module");
  EXPECT_NE(what.find("w.safetensors: "), std::string::npos) << what;
  EXPECT_NE(what.find("missing (in module, not in file) (1): head.bias"), std::string::npos)
      << what;
  EXPECT_NE(what.find("unexpected (in file, not in module) (1): extra.weight"), std::string::npos)
      << what;
  EXPECT_NE(what.find("features.0.weight: file has [16,3,3,3], module has [4,3,3,3]"),
            std::string::npos)
      << what;
  expect_state_equals(*net, before);
}

TEST(ModuleWeights, WrongWidthFileNamesEveryMisshapedTensor) {
  TempDir dir;
  Net wide(8);
  save_module_weights(dir.file("wide.safetensors"), *wide);
  Net narrow(4);
  randomize(*narrow, 4);
  const TensorMap before = snapshot(*narrow);
  const std::string what = expect_error(
      [&] { load_module_weights(*narrow, load_safetensors(dir.file("wide.safetensors")), "wide"); },
      "shape mismatch (7): ");
  EXPECT_NE(what.find("features.1.running_mean: file has [8], module has [4]"), std::string::npos)
      << what;
  EXPECT_NE(what.find("head.weight: file has [2,8,1,1], module has [2,4,1,1]"), std::string::npos)
      << what;
  EXPECT_EQ(what.find("missing"), std::string::npos) << what;
  expect_state_equals(*narrow, before);
}

TEST(ModuleWeights, ConvertsHalfFileToFloatModule) {
  Net source(4);
  randomize(*source, 5);
  const TensorMap original = snapshot(*source);
  TempDir dir;
  TensorMap half;
  for (const auto& [name, t] : original)
    half[name] = t.is_floating_point() ? t.to(torch::kHalf) : t;
  save_safetensors(dir.file("half.safetensors"), half);

  Net target(4);
  load_module_weights(*target, load_safetensors(dir.file("half.safetensors")), "half");
  const TensorMap state = module_state(*target);
  for (const auto& [name, t] : half) {
    SCOPED_TRACE(name);
    const auto dtype = original.at(name).scalar_type();
    EXPECT_EQ(state.at(name).scalar_type(), dtype);
    EXPECT_TRUE(torch::equal(state.at(name), t.to(dtype)));
  }
  EXPECT_EQ(state.at("head.weight").scalar_type(), torch::kFloat);
}

TEST(ModuleWeights, LoadsIntoCudaModule) {
  STRATA_REQUIRE_CUDA();
  TempDir dir;
  Net source(4);
  randomize(*source, 6);
  source->to(torch::kCUDA);
  save_module_weights(dir.file("cuda.safetensors"), *source);  // saved from CUDA tensors
  const Weights w = load_safetensors(dir.file("cuda.safetensors"));
  for (const auto& item : w.tensors) EXPECT_TRUE(item.second.device().is_cpu()) << item.first;

  Net target(4);
  target->to(torch::kCUDA);
  load_module_weights(*target, w, "cuda.safetensors");
  for (const auto& [name, t] : module_state(*target)) {
    EXPECT_TRUE(t.is_cuda()) << name;
    EXPECT_TRUE(torch::equal(t.cpu(), module_state(*source).at(name).cpu())) << name;
  }
}

}  // namespace
}  // namespace strata::nn
