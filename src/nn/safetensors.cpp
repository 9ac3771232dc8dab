// LibTorch side of safetensors: tensor maps to and from files, and module weights by name.
#include "strata/nn/weights.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cstring>

#include "strata/core/error.hpp"
#include "strata/core/file.hpp"
#include "strata/nn/safetensors.hpp"

namespace strata::nn {

namespace {

constexpr std::size_t kMaxNamesInMessage = 20;

struct TypePair {
  DType dtype;
  torch::ScalarType scalar;
};

constexpr TypePair kTypePairs[] = {
    {DType::F32, torch::kFloat}, {DType::F16, torch::kHalf},   {DType::BF16, torch::kBFloat16},
    {DType::I64, torch::kLong},  {DType::F64, torch::kDouble}, {DType::I32, torch::kInt},
    {DType::U8, torch::kByte},   {DType::BOOL, torch::kBool},
};

torch::ScalarType scalar_type_of(DType t) {
  for (const auto& pair : kTypePairs)
    if (pair.dtype == t) return pair.scalar;
  throw Error("", std::string("no torch dtype for ") + dtype_name(t));
}

DType dtype_of(const torch::Tensor& t, const std::string& tensor, const std::string& path) {
  for (const auto& pair : kTypePairs)
    if (pair.scalar == t.scalar_type()) return pair.dtype;
  throw Error(path, "tensor '" + tensor + "' has unsupported dtype " +
                        std::string(c10::toString(t.scalar_type())));
}

std::string sizes_text(const torch::Tensor& t) { return shape_to_string(t.sizes().vec()); }

// A CPU tensor owning a copy of the entry's bytes (memcpy: the data may be unaligned).
torch::Tensor decode_tensor(const TensorEntry& e, const std::uint8_t* src,
                            const std::string& name) {
  if (e.dtype == DType::BOOL)
    check(std::all_of(src, src + e.bytes(), [](std::uint8_t b) { return b <= 1; }), name,
          "tensor '" + e.name + "': BOOL data holds bytes other than 0 and 1");
  torch::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(scalar_type_of(e.dtype)));
  if (e.bytes() > 0) std::memcpy(t.data_ptr(), src, e.bytes());
  return t;
}

// "; label (3): a, b, c" appended to `out` when `names` is not empty; long lists are cut short.
void append_problems(std::string& out, const std::string& label,
                     const std::vector<std::string>& names) {
  if (names.empty()) return;
  out += (out.empty() ? "" : "; ") + label + " (" + std::to_string(names.size()) + "): ";
  const std::size_t shown = std::min(names.size(), kMaxNamesInMessage);
  for (std::size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + names[i];
  if (shown < names.size()) out += ", ... and " + std::to_string(names.size() - shown) + " more";
}

// Throws one strata::Error describing every difference between the module and the file.
void check_state_matches(const std::map<std::string, torch::Tensor>& state,
                         const std::map<std::string, torch::Tensor>& file,
                         const std::string& source_name) {
  std::vector<std::string> missing, unexpected, mismatched;
  for (const auto& [name, dst] : state) {
    const auto it = file.find(name);
    if (it == file.end())
      missing.push_back(name);
    else if (!it->second.defined())
      mismatched.push_back(name + ": file tensor is undefined");
    else if (it->second.sizes() != dst.sizes())
      mismatched.push_back(name + ": file has " + sizes_text(it->second) + ", module has " +
                           sizes_text(dst));
  }
  for (const auto& item : file)
    if (state.count(item.first) == 0) unexpected.push_back(item.first);
  std::string reason;
  append_problems(reason, "missing (in module, not in file)", missing);
  append_problems(reason, "unexpected (in file, not in module)", unexpected);
  append_problems(reason, "shape mismatch", mismatched);
  check(reason.empty(), source_name, "weights do not match the module: " + reason);
}

}  // namespace

Weights decode_safetensors(const std::vector<std::uint8_t>& bytes, const std::string& name) {
  const SafetensorsHeader header = parse_safetensors_header(bytes.data(), bytes.size(), name);
  Weights w;
  w.metadata = header.metadata;
  const std::uint8_t* data = bytes.data() + header.data_offset;
  for (const auto& e : header.tensors)
    w.tensors.emplace(e.name, decode_tensor(e, data + e.begin, name));
  return w;
}

Weights load_safetensors(const std::string& path) {
  return decode_safetensors(read_file(path), path);
}

void save_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> cpu;  // keeps the bytes the views point to alive
  std::vector<RawTensorView> views;
  cpu.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    check(tensor.defined(), path, "tensor '" + name + "' is undefined");
    check(tensor.layout() == torch::kStrided, path, "tensor '" + name + "' is not dense");
    const DType dtype = dtype_of(tensor, name, path);
    cpu.push_back(tensor.detach().to(torch::kCPU).contiguous());
    const torch::Tensor& t = cpu.back();
    views.push_back({name, dtype, t.sizes().vec(), t.data_ptr(), t.nbytes()});
  }
  std::vector<std::uint8_t> bytes;
  try {
    bytes = serialize_safetensors(views, metadata);
  } catch (const Error& e) {
    throw Error(path, e.reason());
  }
  write_file_atomic(path, bytes);
}

std::map<std::string, torch::Tensor> module_state(const torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> state;
  const auto add = [&state](const torch::OrderedDict<std::string, torch::Tensor>& named) {
    for (const auto& item : named)
      if (item.value().defined()) state.emplace(item.key(), item.value());
  };
  add(m.named_parameters(/*recurse=*/true));
  add(m.named_buffers(/*recurse=*/true));
  return state;
}

void load_module_weights(torch::nn::Module& m, const Weights& w, const std::string& source_name) {
  std::map<std::string, torch::Tensor> state = module_state(m);
  check_state_matches(state, w.tensors, source_name);
  torch::NoGradGuard no_grad;
  for (auto& [name, dst] : state) {
    try {
      dst.copy_(w.tensors.at(name));
    } catch (const c10::Error& e) {
      throw Error(source_name, "cannot copy tensor '" + name + "': " + e.what_without_backtrace());
    }
  }
}

void save_module_weights(const std::string& path, const torch::nn::Module& m,
                         const std::map<std::string, std::string>& metadata) {
  save_safetensors(path, module_state(m), metadata);
}

}  // namespace strata::nn
