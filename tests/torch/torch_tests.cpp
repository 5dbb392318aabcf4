// LibTorch tensors and modules (include/safetensors/torch.hpp, docs/torch.md): round trips of
// every dtype this LibTorch has, empty, 0-d, non-contiguous and sliced tensors; zero-copy views
// and their ownership; conversions; load_state_dict's reports; and files written and read by
// Python's torch (tests/torch/compat.py, its own writer and reader, not this library).
//
// Files the tests read are written by the independent test writer (tests/support/test_writer.hpp)
// or by Python, with values given here, never taken from the library's output.
// LibTorch first: its logging header (glog) defines CHECK, CHECK_EQ... which doctest's replace.
// clang-format off
#include <torch/torch.h>
#undef CHECK
#undef CHECK_EQ
#undef CHECK_NE
#undef CHECK_LT
#undef CHECK_LE
#undef CHECK_GT
#undef CHECK_GE
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
// clang-format on

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <safetensors/torch.hpp>
#include <string>
#include <vector>

#include "ci_skip.hpp"
#include "test_writer.hpp"

namespace st = safetensors;
namespace stt = safetensors::libtorch;
namespace fs = std::filesystem;

namespace {

std::vector<std::uint8_t> bytes_le(std::initializer_list<std::uint64_t> values, std::size_t w) {
  std::vector<std::uint8_t> out;
  for (std::uint64_t v : values) {
    for (std::size_t i = 0; i < w; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  return out;
}

// A tensor of every scalar type this LibTorch maps, with values that survive the type:
// 0, 1, 2, ... (alternating for BOOL), imaginary parts for complex.
at::Tensor sample(at::ScalarType t, at::IntArrayRef sizes) {
  const auto n = c10::multiply_integers(sizes);
  at::Tensor base = torch::arange(n, torch::kDouble).reshape(sizes);
  if (t == at::kBool) return (base.fmod(2) == 1).to(at::kBool);
  if (t == at::kComplexFloat)
    return torch::complex(base.to(torch::kFloat), -base.to(torch::kFloat));
  return base.to(t);
}

std::vector<at::ScalarType> supported_types() {
  std::vector<at::ScalarType> out;
  for (std::size_t i = 0; i < st::dtype_count; ++i) {
    if (auto t = stt::to_scalar_type(static_cast<st::dtype>(i))) out.push_back(*t);
  }
  return out;
}

bool same(const at::Tensor& a, const at::Tensor& b) {
  return a.scalar_type() == b.scalar_type() && a.sizes() == b.sizes() &&
         torch::equal(a.cpu(), b.cpu());
}

struct tiny_net : torch::nn::Module {
  tiny_net() {
    seq = register_module("seq",
                          torch::nn::Sequential(torch::nn::Linear(4, 8), torch::nn::BatchNorm1d(8),
                                                torch::nn::ReLU(), torch::nn::Linear(8, 3)));
  }
  at::Tensor forward(const at::Tensor& x) { return seq->forward(x); }
  torch::nn::Sequential seq{nullptr};
};

}  // namespace

TEST_CASE("dtype mapping: the format's dtypes LibTorch has, both ways") {
  CHECK(stt::to_scalar_type(st::dtype::F32) == at::kFloat);
  CHECK(stt::to_scalar_type(st::dtype::BF16) == at::kBFloat16);
  CHECK(stt::to_scalar_type(st::dtype::C64) == at::kComplexFloat);
  CHECK(stt::to_scalar_type(st::dtype::BOOL) == at::kBool);
  CHECK_FALSE(stt::to_scalar_type(st::dtype::F4).has_value());
  CHECK_FALSE(stt::to_scalar_type(st::dtype::F6_E2M3).has_value());
  CHECK_FALSE(stt::to_dtype(at::kComplexDouble).has_value());
  CHECK_FALSE(stt::to_dtype(at::kQInt8).has_value());
  // Eleven in every LibTorch; more from 2.1 (F8), 2.2 (F8 FNUZ), 2.3 (U16 to U64).
  CHECK(supported_types().size() >= 11);
  for (at::ScalarType t : supported_types()) CHECK(stt::to_scalar_type(*stt::to_dtype(t)) == t);
}

TEST_CASE("round trip of every supported dtype, zero-copy and copied, one file and sharded") {
  st_test::temp_dir dir;
  stt::tensor_map in;
  for (at::ScalarType t : supported_types()) {
    in.emplace(std::string("t_") + c10::toString(t), sample(t, {3, 5}));
  }
  REQUIRE(stt::save(dir.file("all.safetensors"), in, st::metadata_map{{"k", "v"}}));

  // The bytes in the file are the tensors' little-endian bytes, with the format's dtype names.
  auto file = st::mapped_file::open(dir.file("all.safetensors"));
  REQUIRE(file.has_value());
  REQUIRE(file->metadata().has_value());
  CHECK(file->metadata()->at("k") == "v");
  for (const auto& [name, t] : in) {
    auto view = file->tensor(name);
    REQUIRE(view.has_value());
    CHECK(view->dtype() == *stt::to_dtype(t.scalar_type()));
    CHECK(view->shape().size() == 2);
    REQUIRE(view->bytes().size() == t.nbytes());
    CHECK(std::memcmp(view->bytes().data(), t.data_ptr(), t.nbytes()) == 0);
  }

  for (bool zero_copy : {true, false}) {
    CAPTURE(zero_copy);
    stt::load_options o;
    o.zero_copy = zero_copy;
    auto out = stt::load(dir.file("all.safetensors"), o);
    REQUIRE(out.has_value());
    REQUIRE(out->size() == in.size());
    for (const auto& [name, t] : in) {
      CAPTURE(name);
      REQUIRE(out->count(name) == 1);
      CHECK(same(out->at(name), t));
      CHECK(stt::is_mapped(out->at(name)) == zero_copy);
    }
  }

  stt::save_options so;
  so.max_shard_size = 100;  // several shards
  REQUIRE(stt::save(dir.file("sharded"), in, std::nullopt, so));
  CHECK(fs::exists(dir.file("sharded") / "model.safetensors.index.json"));
  auto out = stt::load(dir.file("sharded"));
  REQUIRE(out.has_value());
  REQUIRE(out->size() == in.size());
  for (const auto& [name, t] : in) CHECK(same(out->at(name), t));
}

TEST_CASE("values written by the independent writer load as LibTorch reads them") {
  st_test::temp_dir dir;
  st_test::write_file(
      dir.file("w.safetensors"),
      st_test::make_file({{"h", "F16", {2}, bytes_le({0x3C00, 0xC000}, 2)},            // 1, -2
                          {"b", "BF16", {2}, bytes_le({0x3F80, 0x4040}, 2)},           // 1, 3
                          {"i", "I64", {2}, bytes_le({7, 0xFFFFFFFFFFFFFFFFull}, 8)},  // 7, -1
                          {"q", "BOOL", {3}, {0, 1, 1}},
                          {"c", "C64", {1}, bytes_le({0x3F800000, 0xC0000000}, 4)}}));  // 1-2i
  auto out = stt::load(dir.file("w.safetensors"));
  REQUIRE(out.has_value());
  CHECK(same(out->at("h"), torch::tensor({1.0, -2.0}, torch::kHalf)));
  CHECK(same(out->at("b"), torch::tensor({1.0, 3.0}, torch::kBFloat16)));
  CHECK(same(out->at("i"), torch::tensor({std::int64_t{7}, std::int64_t{-1}}, torch::kLong)));
  CHECK(same(out->at("q"), torch::tensor({false, true, true}, torch::kBool)));
  CHECK(same(out->at("c"), torch::complex(torch::tensor({1.0f}), torch::tensor({-2.0f}))));
}

TEST_CASE("empty, 0-d, non-contiguous, sliced and conjugated tensors") {
  st_test::temp_dir dir;
  const at::Tensor base = sample(at::kFloat, {4, 6});
  const at::Tensor cplx = sample(at::kComplexFloat, {3});
  stt::tensor_map in{
      {"empty", torch::empty({0, 3}, torch::kFloat)},
      {"empty_i64", torch::empty({5, 0}, torch::kLong)},
      {"scalar", torch::tensor(2.5, torch::kDouble).reshape({})},
      {"scalar_i8", torch::tensor(-3, torch::kChar).reshape({})},
      {"transposed", base.t()},
      {"stepped", base.slice(1, 1, 6, 2)},
      {"row", base[2]},
      {"column", base.select(1, 3)},
      {"expanded", torch::tensor({1.0f, 2.0f}).expand({3, 2})},
      {"conj", cplx.conj()},
      {"neg", at::imag(cplx.conj())},
  };
  REQUIRE_FALSE(in.at("transposed").is_contiguous());
  REQUIRE(in.at("conj").is_conj());
  REQUIRE(stt::save(dir.file("odd.safetensors"), in));
  auto file = st::mapped_file::open(dir.file("odd.safetensors"));
  REQUIRE(file.has_value());
  CHECK(file->at("scalar")->shape().empty());
  CHECK(file->at("empty")->byte_size() == 0);
  CHECK(file->at("expanded")->byte_size() == 24);
  auto out = stt::load(dir.file("odd.safetensors"));
  REQUIRE(out.has_value());
  for (const auto& [name, t] : in) {
    CAPTURE(name);
    const at::Tensor& got = out->at(name);
    CHECK(got.sizes() == t.sizes());
    CHECK(got.is_contiguous());
    CHECK_FALSE(got.is_conj());
    CHECK(torch::equal(got, t.resolve_conj().resolve_neg().contiguous()));
  }
  CHECK(out->at("scalar").dim() == 0);
  CHECK(out->at("scalar").item<double>() == 2.5);
  // The conjugate's values, not the tensor it views.
  CHECK(out->at("conj")[1].item<c10::complex<float>>() == c10::complex<float>(1.0f, 1.0f));
}

TEST_CASE("zero-copy: views of a private mapping that outlive the call and never write the file") {
  st_test::temp_dir dir;
  const fs::path p = dir.file("z.safetensors");
  const auto before = st_test::make_file(
      {{"w", "F32", {2, 2}, bytes_le({0x3F800000, 0x40000000, 0x40400000, 0x40800000}, 4)},
       {"u", "U8", {3}, {1, 2, 3}}});
  st_test::write_file(p, before);
  at::Tensor w;
  {
    auto out = stt::load(p);
    REQUIRE(out.has_value());
    w = out->at("w");
    CHECK(stt::is_mapped(w));
    CHECK(stt::is_mapped(out->at("u")));
  }  // the map and the checkpoint object are gone; the view keeps the mapping
  CHECK(torch::equal(w, torch::tensor({{1.0f, 2.0f}, {3.0f, 4.0f}})));
  w.mul_(10);  // a private copy of the page
  CHECK(torch::equal(w, torch::tensor({{10.0f, 20.0f}, {30.0f, 40.0f}})));
  CHECK(st_test::read_file(p) == before);
  auto again = stt::load(p);
  REQUIRE(again.has_value());
  CHECK(torch::equal(again->at("w"), torch::tensor({{1.0f, 2.0f}, {3.0f, 4.0f}})));
  at::Tensor slice = w[1];
  w = at::Tensor();
  CHECK(stt::is_mapped(slice));  // a view of the view keeps it too
  CHECK(torch::equal(slice, torch::tensor({30.0f, 40.0f})));

  // A checkpoint you opened read-only gives copies: its pages cannot take a write.
  auto ro = st::checkpoint::open(p);
  REQUIRE(ro.has_value());
  auto copies = stt::load(std::move(*ro));
  REQUIRE(copies.has_value());
  CHECK_FALSE(stt::is_mapped(copies->at("w")));
  CHECK(torch::equal(copies->at("w"), torch::tensor({{1.0f, 2.0f}, {3.0f, 4.0f}})));
}

TEST_CASE("zero-copy only where the bytes are aligned for the dtype") {
  st_test::temp_dir dir;
  // No header padding (align 1) and a 1-byte tensor first: the F32 tensor starts at an odd
  // address in the mapping.
  const auto bytes = st_test::make_file(
      {{"a", "U8", {1}, {9}}, {"f", "F32", {2}, bytes_le({0x3F800000, 0xBF800000}, 4)}},
      std::nullopt, 1);
  const fs::path p = dir.file("odd.safetensors");
  st_test::write_file(p, bytes);
  auto file = st::mapped_file::open(p);
  REQUIRE(file.has_value());
  REQUIRE(reinterpret_cast<std::uintptr_t>(file->tensor("f")->bytes().data()) % 4 != 0);
  auto out = stt::load(p);
  REQUIRE(out.has_value());
  CHECK(stt::is_mapped(out->at("a")));
  CHECK_FALSE(stt::is_mapped(out->at("f")));
  CHECK(reinterpret_cast<std::uintptr_t>(out->at("f").data_ptr()) % 4 == 0);
  CHECK(torch::equal(out->at("f"), torch::tensor({1.0f, -1.0f})));
}

TEST_CASE("dtypes LibTorch lacks: a clear error, or the conversion load's `to` asks for") {
  st_test::temp_dir dir;
  const fs::path p = dir.file("f8.safetensors");
  // F8_E4M3 0x38 = 1.0, 0xC0 = -2.0; F4 (E2M1) nibbles 0x2 = 1.0, 0xB = -1.5; an I32 kept as is.
  st_test::write_file(p, st_test::make_file({{"e4", "F8_E4M3", {2}, {0x38, 0xC0}},
                                             {"f4", "F4", {2}, {0xB2}},
                                             {"n", "I32", {1}, bytes_le({5}, 4)}}));
  const bool has_f8 = stt::to_scalar_type(st::dtype::F8_E4M3).has_value();
  auto plain = stt::load(p);
  REQUIRE_FALSE(plain.has_value());
  CHECK(plain.error().code() == st::errc::invalid_argument);
  const std::string msg = plain.error().message();
  CAPTURE(msg);
  CHECK(msg.find(has_f8 ? "tensor 'f4' is F4" : "tensor 'e4' is F8_E4M3") != std::string::npos);
  CHECK(msg.find("has no such dtype; load it converted with load_options::to") !=
        std::string::npos);

  stt::load_options o;
  o.to = st::dtype::F32;
  auto f32 = stt::load(p, o);
  REQUIRE(f32.has_value());
  CHECK(same(f32->at("e4"), torch::tensor({1.0f, -2.0f})));
  CHECK(same(f32->at("f4"), torch::tensor({1.0f, -1.5f})));
  CHECK(same(f32->at("n"), torch::tensor({5}, torch::kInt)));
  CHECK_FALSE(stt::is_mapped(f32->at("e4")));

  o.to = st::dtype::BF16;
  auto bf16 = stt::load(p, o);
  REQUIRE(bf16.has_value());
  CHECK(same(bf16->at("e4"), torch::tensor({1.0, -2.0}, torch::kBFloat16)));

  o.to = st::dtype::F4;  // no encoder to F4
  auto refused = stt::load(p, o);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().message().find("cannot convert it to F4") != std::string::npos);
}

TEST_CASE("load's `to` converts floats only, on the loader") {
  st_test::temp_dir dir;
  stt::tensor_map in{{"w", torch::tensor({0.5f, 1.0f / 3.0f})},
                     {"n", torch::tensor({std::int64_t{1} << 40})}};
  REQUIRE(stt::save(dir.file("c.safetensors"), in));
  stt::load_options o;
  o.to = st::dtype::F16;
  auto out = stt::load(dir.file("c.safetensors"), o);
  REQUIRE(out.has_value());
  CHECK(same(out->at("w"), in.at("w").to(torch::kHalf)));
  CHECK(same(out->at("n"), in.at("n")));
  CHECK(stt::is_mapped(out->at("n")));
}

TEST_CASE("save refuses what the format cannot hold, and writes nothing") {
  st_test::temp_dir dir;
  const fs::path p = dir.file("bad.safetensors");
  auto undefined = stt::save(p, stt::tensor_map{{"x", at::Tensor()}});
  REQUIRE_FALSE(undefined.has_value());
  CHECK(undefined.error().message().find("tensor 'x' is undefined") != std::string::npos);
  auto cdouble = stt::save(p, stt::tensor_map{{"z", torch::zeros({2}, torch::kComplexDouble)}});
  REQUIRE_FALSE(cdouble.has_value());
  CHECK(cdouble.error().message().find("which the format has no dtype for") != std::string::npos);
  auto sparse = stt::save(p, stt::tensor_map{{"s", torch::eye(3).to_sparse()}});
  REQUIRE_FALSE(sparse.has_value());
  CHECK(sparse.error().message().find("not a strided") != std::string::npos);
  CHECK_FALSE(fs::exists(p));
}

TEST_CASE("state_dict keys are Python's, and a loaded module computes what the saved one did") {
  st_test::temp_dir dir;
  torch::manual_seed(3);
  auto a = std::make_shared<tiny_net>();
  a->train();
  a->forward(torch::randn({16, 4}));  // running statistics that are not the defaults
  a->eval();
  const auto keys = stt::state_dict(*a);
  std::vector<std::string> names;
  for (const auto& kv : keys) names.push_back(kv.first);
  const std::vector<std::string> python_keys{
      "seq.0.bias",         "seq.0.weight",      "seq.1.bias",   "seq.1.num_batches_tracked",
      "seq.1.running_mean", "seq.1.running_var", "seq.1.weight", "seq.3.bias",
      "seq.3.weight"};
  CHECK(names == python_keys);
  REQUIRE(stt::save_state_dict(*a, dir.file("net.safetensors")));
  auto file = st::mapped_file::open(dir.file("net.safetensors"));
  REQUIRE(file.has_value());
  CHECK(file->metadata()->at("format") == "pt");
  CHECK(file->at("seq.1.num_batches_tracked")->dtype() == st::dtype::I64);

  torch::manual_seed(4);
  auto b = std::make_shared<tiny_net>();
  b->eval();
  const at::Tensor x = torch::randn({5, 4});
  REQUIRE_FALSE(torch::equal(a->forward(x), b->forward(x)));
  std::vector<void*> addresses;
  for (const auto& kv : stt::state_dict(*b)) addresses.push_back(kv.second.data_ptr());
  auto report = stt::load_state_dict(*b, dir.file("net.safetensors"));
  REQUIRE(report.has_value());
  CHECK(report->loaded == 9);
  CHECK(report->missing_keys.empty());
  CHECK(report->unexpected_keys.empty());
  CHECK(torch::equal(a->forward(x), b->forward(x)));
  std::vector<void*> after;
  for (const auto& kv : stt::state_dict(*b)) after.push_back(kv.second.data_ptr());
  CHECK(after == addresses);  // copied into the existing tensors
  for (const auto& p : b->parameters()) CHECK(p.requires_grad());

  // An undefined parameter has no key, as Python leaves out a None parameter.
  torch::nn::Linear no_bias(torch::nn::LinearOptions(3, 2).bias(false));
  CHECK(stt::state_dict(*no_bias).size() == 1);
  CHECK(stt::state_dict(*no_bias).count("weight") == 1);

  // A holder (torch::nn::Linear) and a strided target (a transposed parameter is copied via
  // the host, then copy_()).
  torch::nn::Linear lin(3, 2);
  torch::nn::Linear lin2(3, 2);
  REQUIRE(stt::save_state_dict(lin, dir.file("lin.safetensors")));
  REQUIRE(stt::load_state_dict(lin2, dir.file("lin.safetensors")));
  CHECK(torch::equal(lin->weight, lin2->weight));
  CHECK(torch::equal(lin->bias, lin2->bias));
}

TEST_CASE("load_state_dict reports every problem at once, as PyTorch words them") {
  st_test::temp_dir dir;
  torch::nn::Sequential m(torch::nn::Linear(4, 3), torch::nn::Linear(3, 2));
  const at::Tensor w1 = m[0]->as<torch::nn::Linear>()->weight.clone();
  stt::tensor_map sd = stt::state_dict(*m);
  sd.erase("0.bias");                                   // missing
  sd.erase("1.bias");                                   // missing
  sd.emplace("extra", torch::zeros({1}));               // unexpected
  sd["0.weight"] = torch::zeros({3, 5});                // shape
  sd["1.weight"] = torch::zeros({2, 3}, torch::kHalf);  // dtype
  REQUIRE(stt::save(dir.file("bad.safetensors"), sd));
  auto r = stt::load_state_dict(*m, dir.file("bad.safetensors"));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code() == st::errc::invalid_argument);
  const std::string msg = r.error().message();
  CHECK(msg ==
        "Error(s) in loading state_dict for " + m->name() +
            ":"
            "\n\tMissing key(s) in state_dict: \"0.bias\", \"1.bias\"."
            "\n\tUnexpected key(s) in state_dict: \"extra\"."
            "\n\tsize mismatch for 0.weight: copying a param with shape [3,5] from checkpoint, "
            "the shape in current model is [3,4]."
            "\n\tdtype mismatch for 1.weight: copying a param of dtype F16 from checkpoint, "
            "the dtype in current model is Float.");
  CHECK(torch::equal(m[0]->as<torch::nn::Linear>()->weight, w1));  // nothing written

  // Non-strict: the keys are reported, the mismatches are still errors.
  stt::state_dict_options lenient;
  lenient.strict = false;
  auto r2 = stt::load_state_dict(*m, dir.file("bad.safetensors"), lenient);
  REQUIRE_FALSE(r2.has_value());
  CHECK(r2.error().message().find("Missing") == std::string::npos);
  CHECK(r2.error().message().find("size mismatch for 0.weight") != std::string::npos);

  sd.erase("0.weight");
  sd.erase("1.weight");
  REQUIRE(stt::save(dir.file("keys.safetensors"), sd));
  auto r3 = stt::load_state_dict(*m, dir.file("keys.safetensors"), lenient);
  REQUIRE(r3.has_value());
  const std::vector<std::string> missing{"0.bias", "0.weight", "1.bias", "1.weight"};
  const std::vector<std::string> unexpected{"extra"};
  CHECK(r3->missing_keys == missing);
  CHECK(r3->unexpected_keys == unexpected);
  CHECK(r3->loaded == 0);

  // convert: a float tensor of another float dtype is converted instead.
  stt::tensor_map half = stt::state_dict(*m);
  for (auto& kv : half) kv.second = (kv.second * 0 + 0.25).to(torch::kHalf);
  REQUIRE(stt::save(dir.file("half.safetensors"), half));
  stt::state_dict_options conv;
  conv.convert = true;
  auto r4 = stt::load_state_dict(*m, dir.file("half.safetensors"), conv);
  REQUIRE(r4.has_value());
  CHECK(torch::equal(m[1]->as<torch::nn::Linear>()->bias, torch::full({2}, 0.25f)));
}

TEST_CASE("load_state_dict into tied and strided tensors") {
  st_test::temp_dir dir;
  struct tied : torch::nn::Module {
    tied() {
      a = register_parameter("a", torch::zeros({2, 3}));
      b = register_buffer("b", a);                         // the same memory under two keys
      t = register_buffer("t", torch::zeros({3, 2}).t());  // not contiguous
    }
    at::Tensor a, b, t;
  };
  tied m;
  const at::Tensor va = torch::full({2, 3}, 1.0f);
  const at::Tensor vb = torch::full({2, 3}, 2.0f);
  const at::Tensor vt = torch::arange(6, torch::kFloat).reshape({2, 3});
  REQUIRE(
      stt::save(dir.file("tied.safetensors"), stt::tensor_map{{"a", va}, {"b", vb}, {"t", vt}}));
  auto r = stt::load_state_dict(m, dir.file("tied.safetensors"));
  REQUIRE(r.has_value());
  CHECK(r->loaded == 3);
  CHECK(torch::equal(m.a, vb));  // as PyTorch: the later key's values
  CHECK(torch::equal(m.t, vt));
  CHECK_FALSE(m.t.is_contiguous());
}

#ifdef SAFETENSORS_PYTHON3
namespace {
int run_python(const std::string& args) {
  const std::string cmd = std::string("\"") + SAFETENSORS_PYTHON3 + "\" \"" +
                          SAFETENSORS_TORCH_COMPAT_PY + "\" " + args;
  return std::system(cmd.c_str());
}
}  // namespace

TEST_CASE("compatibility with Python's torch, both ways") {
  if (run_python("probe") != 0) {
    st_test::skip_or_fail_in_ci("python3 cannot import torch (Debian: python3-torch)");
    return;
  }
  st_test::temp_dir dir;
  const std::string d = "\"" + dir.path().string() + "\"";
  // Python -> C++: Python's model, written with the script's own writer.
  REQUIRE(run_python("write " + d) == 0);
  auto io = stt::load(dir.file("py_io.safetensors"));
  REQUIRE(io.has_value());
  torch::manual_seed(11);
  auto net = std::make_shared<tiny_net>();
  auto seq = net->seq;  // Python's nn.Sequential has the same keys without "seq."
  REQUIRE(stt::load_state_dict(*seq, dir.file("py_model.safetensors")));
  seq->eval();
  const at::Tensor y = seq->forward(io->at("input"));
  CHECK(torch::allclose(y, io->at("output"), 1e-6, 1e-6));
  MESSAGE("Python -> C++: max abs difference "
          << (y - io->at("output")).abs().max().item<double>());

  // C++ -> Python: the script reads our files with its own reader and checks the output.
  torch::manual_seed(12);
  torch::nn::Sequential mine(torch::nn::Linear(4, 8), torch::nn::BatchNorm1d(8), torch::nn::ReLU(),
                             torch::nn::Linear(8, 3));
  mine->train();
  mine->forward(torch::randn({16, 4}));
  mine->eval();
  const at::Tensor x = torch::randn({5, 4});
  REQUIRE(stt::save_state_dict(mine, dir.file("cpp_model.safetensors")));
  REQUIRE(stt::save(dir.file("cpp_io.safetensors"),
                    stt::tensor_map{{"input", x}, {"output", mine->forward(x)}}));
  CHECK(run_python("check " + d) == 0);
}
#endif
