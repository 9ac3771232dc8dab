// Torch-free safetensors header parser (validates everything) and serialiser.
#include "strata/nn/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "strata/core/error.hpp"

namespace strata::nn {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "strata assumes a little-endian host");

namespace {

using nlohmann::json;

constexpr const char* kMetadataKey = "__metadata__";
constexpr std::size_t kMaxNameInMessage = 100;

struct DTypeInfo {
  DType type;
  const char* name;
  std::size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::F32, "F32", 4}, {DType::F16, "F16", 2},   {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8}, {DType::F64, "F64", 8},   {DType::I32, "I32", 4},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1},
};

const DTypeInfo& info_of(DType t) {
  for (const auto& info : kDTypes)
    if (info.type == t) return info;
  throw Error("", "invalid DType value " + std::to_string(static_cast<int>(t)));
}

const DTypeInfo* find_dtype(const std::string& text) {
  for (const auto& info : kDTypes)
    if (text == info.name) return &info;
  return nullptr;
}

std::string dtype_list() {
  std::string list;
  for (const auto& info : kDTypes) list += (list.empty() ? "" : ", ") + std::string(info.name);
  return list;
}

// Replaces control characters (and, unless `keep_utf8`, every non-ASCII byte) with '?'.
std::string printable(std::string s, bool keep_utf8) {
  for (char& c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b == 0x7f || (b >= 0x80 && !keep_utf8)) c = '?';
  }
  return s;
}

// Quotes a (possibly hostile, possibly huge) name for an error message. Names come from parsed
// JSON, so they are valid UTF-8 (cutting may split a character at the end).
std::string quote_name(const std::string& s) {
  if (s.size() <= kMaxNameInMessage) return "'" + printable(s, true) + "'";
  return "'" + printable(s.substr(0, kMaxNameInMessage), true) + "...'";
}

// nlohmann's message without its "[json.exception.parse_error.101] " prefix, in ASCII.
std::string json_error_text(const json::exception& e) {
  std::string text = e.what();
  const std::size_t prefix_end = text.find("] ");
  if (text.rfind("[json.exception.", 0) == 0 && prefix_end != std::string::npos)
    text.erase(0, prefix_end + 2);
  return printable(text, false);
}

// Bytes needed by a tensor of `shape` and element size `elem`; false on overflow.
bool checked_bytes(const std::vector<std::int64_t>& shape, std::size_t elem, std::uint64_t& out) {
  std::uint64_t n = elem;
  for (const std::int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, static_cast<std::uint64_t>(d), &n)) return false;
  }
  out = n;
  return true;
}

// Parses JSON text and rejects duplicate keys in any object (nlohmann would keep the last).
json parse_json_unique_keys(const char* begin, const char* end, const std::string& name) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  bool duplicate_is_tensor = false;
  const auto callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end && !open_objects.empty()) {
      open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !open_objects.empty() && duplicate.empty()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second) {
        duplicate = key;
        duplicate_is_tensor = open_objects.size() == 1;
      }
    }
    return true;
  };
  json header;
  try {
    header = json::parse(begin, end, callback);
  } catch (const json::exception& e) {
    throw Error(name, "invalid JSON header: " + json_error_text(e));
  }
  check(duplicate.empty(), name,
        (duplicate_is_tensor ? "duplicate tensor name " : "duplicate key ") +
            quote_name(duplicate) + " in header");
  return header;
}

std::map<std::string, std::string> parse_metadata(const json& value, const std::string& name) {
  check(value.is_object(), name, std::string(kMetadataKey) + " is not a JSON object");
  std::map<std::string, std::string> metadata;
  for (const auto& [key, text] : value.items()) {
    check(text.is_string(), name,
          std::string(kMetadataKey) + " value of " + quote_name(key) + " is not a string");
    metadata.emplace(key, text.get<std::string>());
  }
  return metadata;
}

// Checks that `entry` has exactly the fields dtype, shape and data_offsets.
void check_fields(const json& entry, const std::string& where, const std::string& name) {
  static const char* const kFields[] = {"dtype", "shape", "data_offsets"};
  for (const char* field : kFields)
    check(entry.contains(field), name, where + ": missing field '" + field + "'");
  for (const auto& item : entry.items()) {
    const bool known = std::any_of(std::begin(kFields), std::end(kFields),
                                   [&](const char* f) { return item.key() == f; });
    check(known, name, where + ": unknown field " + quote_name(item.key()));
  }
}

std::vector<std::int64_t> parse_shape(const json& value, const std::string& where,
                                      const std::string& name) {
  check(value.is_array(), name, where + ": shape is not an array");
  std::vector<std::int64_t> shape;
  shape.reserve(value.size());
  for (const json& dim : value) {
    check(dim.is_number_integer(), name, where + ": shape has a non-integer dimension");
    check(dim.is_number_unsigned(), name, where + ": shape has a negative dimension");
    const auto d = dim.get<std::uint64_t>();
    check(d <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()), name,
          where + ": shape dimension " + std::to_string(d) + " is too large");
    shape.push_back(static_cast<std::int64_t>(d));
  }
  return shape;
}

std::pair<std::uint64_t, std::uint64_t> parse_offsets(const json& value, const std::string& where,
                                                      const std::string& name) {
  check(value.is_array() && value.size() == 2, name,
        where + ": data_offsets is not an array of two integers");
  check(value[0].is_number_unsigned() && value[1].is_number_unsigned(), name,
        where + ": data_offsets are not non-negative integers");
  return {value[0].get<std::uint64_t>(), value[1].get<std::uint64_t>()};
}

TensorEntry parse_entry(const std::string& tensor, const json& value, std::uint64_t data_size,
                        const std::string& name) {
  check(!tensor.empty(), name, "empty tensor name in header");
  const std::string where = "tensor " + quote_name(tensor);
  check(value.is_object(), name, where + ": header entry is not a JSON object");
  check_fields(value, where, name);

  TensorEntry entry;
  entry.name = tensor;
  const json& dtype = value.at("dtype");
  check(dtype.is_string(), name, where + ": dtype is not a string");
  const DTypeInfo* info = find_dtype(dtype.get_ref<const std::string&>());
  check(info != nullptr, name,
        where + ": unknown dtype " + quote_name(dtype.get<std::string>()) +
            " (supported: " + dtype_list() + ")");
  entry.dtype = info->type;
  entry.shape = parse_shape(value.at("shape"), where, name);
  std::tie(entry.begin, entry.end) = parse_offsets(value.at("data_offsets"), where, name);

  check(entry.begin <= entry.end, name, where + ": data_offsets end is before begin");
  check(entry.end <= data_size, name,
        where + ": data ends at " + std::to_string(entry.end) + ", beyond the data section of " +
            std::to_string(data_size) + " bytes (truncated file?)");
  std::uint64_t expected = 0;
  check(checked_bytes(entry.shape, info->size, expected), name,
        where + ": shape " + shape_to_string(entry.shape) + " is too large");
  check(expected == entry.bytes(), name,
        where + ": shape " + shape_to_string(entry.shape) + " of " + info->name + " needs " +
            std::to_string(expected) + " bytes but data_offsets span " +
            std::to_string(entry.bytes()));
  return entry;
}

// Checks that the sorted tensors cover [0, data_size) exactly, without gaps or overlaps.
void check_coverage(const std::vector<TensorEntry>& tensors, std::uint64_t data_size,
                    const std::string& name) {
  std::uint64_t covered = 0;
  const TensorEntry* previous = nullptr;
  for (const auto& t : tensors) {
    check(t.begin >= covered, name,
          "tensor " + quote_name(t.name) + " overlaps tensor " +
              quote_name(previous ? previous->name : ""));
    check(t.begin == covered, name,
          "gap in the data section: bytes " + std::to_string(covered) + " to " +
              std::to_string(t.begin) + " belong to no tensor");
    covered = t.end;
    previous = &t;
  }
  check(covered == data_size, name,
        "data section has " + std::to_string(data_size) + " bytes but the tensors cover only " +
            std::to_string(covered) + " (trailing bytes)");
}

std::uint64_t read_u64_le(const std::uint8_t* p) {
  std::uint64_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Validates one tensor to serialise and records its name in `seen`.
void check_view(const RawTensorView& t, std::set<std::string>& seen) {
  check(!t.name.empty(), "", "cannot save a tensor with an empty name");
  check(t.name != kMetadataKey, "", std::string("cannot save a tensor named ") + kMetadataKey);
  check(seen.insert(t.name).second, "", "duplicate tensor name " + quote_name(t.name));
  const std::string where = "tensor " + quote_name(t.name);
  std::uint64_t expected = 0;
  check(checked_bytes(t.shape, dtype_size(t.dtype), expected), "",
        where + ": invalid shape " + shape_to_string(t.shape));
  check(expected == t.bytes, "",
        where + ": shape " + shape_to_string(t.shape) + " of " + dtype_name(t.dtype) + " needs " +
            std::to_string(expected) + " bytes, got " + std::to_string(t.bytes));
  check(t.bytes == 0 || t.data != nullptr, "", where + ": data pointer is null");
}

std::string header_text(const std::vector<RawTensorView>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  std::set<std::string> seen;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    check_view(t, seen);
    header[t.name] = {{"dtype", dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", nlohmann::ordered_json::array({offset, offset + t.bytes})}};
    offset += t.bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {
    throw Error("", "cannot write safetensors header: " + json_error_text(e));
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace

const char* dtype_name(DType t) { return info_of(t).name; }

std::size_t dtype_size(DType t) { return info_of(t).size; }

std::string shape_to_string(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? "," : "") + std::to_string(shape[i]);
  return text + "]";
}

DType parse_dtype(const std::string& text, const std::string& name_for_errors) {
  const DTypeInfo* info = find_dtype(text);
  check(info != nullptr, name_for_errors,
        "unknown dtype " + quote_name(text) + " (supported: " + dtype_list() + ")");
  return info->type;
}

SafetensorsHeader parse_safetensors_header(const std::uint8_t* data, std::size_t size,
                                           const std::string& name_for_errors) {
  const std::string& name = name_for_errors;
  check(size >= 8, name,
        "too short for a safetensors file (" + std::to_string(size) + " bytes, need at least 8)");
  const std::uint64_t n = read_u64_le(data);
  check(n > 0, name, "safetensors header length is 0");
  check(n <= kMaxSafetensorsHeaderBytes, name,
        "safetensors header length " + std::to_string(n) + " exceeds the limit of " +
            std::to_string(kMaxSafetensorsHeaderBytes) + " bytes");
  check(n <= size - 8, name,
        "safetensors header length " + std::to_string(n) + " goes beyond the end of the file (" +
            std::to_string(size) + " bytes)");

  SafetensorsHeader header;
  header.data_offset = 8 + n;
  const std::uint64_t data_size = size - header.data_offset;
  const auto* text = reinterpret_cast<const char*>(data + 8);
  const json root = parse_json_unique_keys(text, text + n, name);
  check(root.is_object(), name, "safetensors header is not a JSON object");
  for (const auto& [key, value] : root.items()) {
    if (key == kMetadataKey)
      header.metadata = parse_metadata(value, name);
    else
      header.tensors.push_back(parse_entry(key, value, data_size, name));
  }
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const TensorEntry& a, const TensorEntry& b) {
              return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
            });
  check_coverage(header.tensors, data_size, name);
  return header;
}

std::vector<std::uint8_t> serialize_safetensors(
    const std::vector<RawTensorView>& tensors, const std::map<std::string, std::string>& metadata) {
  const std::string header = header_text(tensors, metadata);
  std::size_t total = 8 + header.size();
  for (const auto& t : tensors) total += t.bytes;

  std::vector<std::uint8_t> out;
  out.reserve(total);
  const std::uint64_t n = header.size();
  const auto* n_bytes = reinterpret_cast<const std::uint8_t*>(&n);
  out.insert(out.end(), n_bytes, n_bytes + sizeof n);
  out.insert(out.end(), header.begin(), header.end());
  for (const auto& t : tensors) {
    const auto* p = static_cast<const std::uint8_t*>(t.data);
    if (t.bytes > 0) out.insert(out.end(), p, p + t.bytes);
  }
  return out;
}

}  // namespace strata::nn
