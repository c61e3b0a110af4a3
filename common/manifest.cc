#include "common/manifest.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <string>

#include "common/formats/model_format.h"

namespace mei {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxPathBytes = 1024;
constexpr std::size_t kMaxModelComponentBytes = 96;
constexpr std::size_t kMaxRevisionBytes = 128;

Error Bad(std::string message) { return Error{Errc::kBadManifest, std::move(message)}; }

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// Objects are built with their keys already in sorted order, so one serializer gives both the
// stored form and the canonical form that the commit id hashes.
json::object ToObject(const ManifestBlock& block) {
  json::object o;
  o["id"] = block.id.Hex();
  o["offset"] = block.offset;
  o["size"] = block.size;
  return o;
}

json::object ToObject(const TensorEntry& tensor) {
  json::object o;
  o["block_count"] = tensor.block_count;
  o["dtype"] = tensor.dtype;
  o["first_block"] = tensor.first_block;
  o["name"] = tensor.name;
  o["offset"] = tensor.offset;
  json::array shape;
  for (std::uint64_t dim : tensor.shape) shape.emplace_back(dim);
  o["shape"] = std::move(shape);
  o["size"] = tensor.size;
  return o;
}

json::object ToObject(const ManifestFile& file) {
  json::object o;
  json::array blocks;
  blocks.reserve(file.blocks.size());
  for (const ManifestBlock& block : file.blocks) blocks.emplace_back(ToObject(block));
  o["blocks"] = std::move(blocks);
  o["format"] = file.format;
  o["path"] = file.path;
  o["sha256"] = file.sha256.Hex();
  o["size"] = file.size;
  json::array tensors;
  tensors.reserve(file.tensors.size());
  for (const TensorEntry& tensor : file.tensors) tensors.emplace_back(ToObject(tensor));
  o["tensors"] = std::move(tensors);
  return o;
}

json::object ToObject(const Manifest& manifest, bool with_identity) {
  json::object o;
  if (with_identity) o["commit"] = manifest.commit.Hex();
  o["created"] = manifest.created;
  json::array files;
  files.reserve(manifest.files.size());
  for (const ManifestFile& file : manifest.files) files.emplace_back(ToObject(file));
  o["files"] = std::move(files);
  o["model"] = manifest.model;
  if (with_identity) o["revision"] = manifest.revision;
  o["schema"] = kManifestSchema;
  return o;
}

// Typed field access that reports the JSON path of the first problem.
class Reader {
 public:
  Reader(const json::object& object, std::string where)
      : object_(object), where_(std::move(where)) {}

  Result<const json::value*> Field(std::string_view key) const {
    const json::value* v = object_.if_contains(key);
    if (v == nullptr) return Bad(fmt::format("{} has no \"{}\"", where_, key));
    return v;
  }
  Result<std::string> String(std::string_view key) const {
    auto v = Field(key);
    if (!v) return v.error();
    if (!(*v)->is_string()) return Bad(fmt::format("{}.{} is not a string", where_, key));
    return std::string((*v)->get_string());
  }
  Result<std::uint64_t> Uint(std::string_view key) const {
    auto v = Field(key);
    if (!v) return v.error();
    return AsUint(**v, fmt::format("{}.{}", where_, key));
  }
  Result<const json::array*> Array(std::string_view key) const {
    auto v = Field(key);
    if (!v) return v.error();
    if (!(*v)->is_array()) return Bad(fmt::format("{}.{} is not an array", where_, key));
    return &(*v)->get_array();
  }
  Result<Sha256Digest> Digest(std::string_view key) const {
    auto s = String(key);
    if (!s) return s.error();
    auto digest = Sha256Digest::FromHex(*s);
    if (!digest) return Bad(fmt::format("{}.{}: {}", where_, key, digest.error().message));
    return *digest;
  }

  static Result<std::uint64_t> AsUint(const json::value& v, const std::string& where) {
    if (v.is_uint64()) return v.get_uint64();
    if (v.is_int64() && v.get_int64() >= 0) return static_cast<std::uint64_t>(v.get_int64());
    return Bad(fmt::format("{} is not a non-negative integer", where));
  }

 private:
  const json::object& object_;
  std::string where_;
};

Result<const json::object*> AsObject(const json::value& v, const std::string& where) {
  if (!v.is_object()) return Bad(fmt::format("{} is not an object", where));
  return &v.get_object();
}

Result<ManifestBlock> ParseBlock(const json::value& v, const std::string& where) {
  auto o = AsObject(v, where);
  if (!o) return o.error();
  Reader r(**o, where);
  ManifestBlock block;
  auto id = r.Digest("id");
  auto offset = r.Uint("offset");
  auto size = r.Uint("size");
  if (!id) return id.error();
  if (!offset) return offset.error();
  if (!size) return size.error();
  block.id = *id;
  block.offset = *offset;
  block.size = *size;
  return block;
}

Result<std::uint32_t> Uint32(const Reader& r, std::string_view key, const std::string& where) {
  auto v = r.Uint(key);
  if (!v) return v.error();
  if (*v > UINT32_MAX) return Bad(fmt::format("{}.{} is out of range", where, key));
  return static_cast<std::uint32_t>(*v);
}

Result<TensorEntry> ParseTensor(const json::value& v, const std::string& where) {
  auto o = AsObject(v, where);
  if (!o) return o.error();
  Reader r(**o, where);
  TensorEntry t;
  auto name = r.String("name");
  if (!name) return name.error();
  auto dtype = r.String("dtype");
  if (!dtype) return dtype.error();
  auto shape = r.Array("shape");
  if (!shape) return shape.error();
  for (std::size_t i = 0; i < (*shape)->size(); ++i) {
    auto dim = Reader::AsUint((**shape)[i], fmt::format("{}.shape[{}]", where, i));
    if (!dim) return dim.error();
    t.shape.push_back(*dim);
  }
  auto offset = r.Uint("offset");
  if (!offset) return offset.error();
  auto size = r.Uint("size");
  if (!size) return size.error();
  auto first = Uint32(r, "first_block", where);
  if (!first) return first.error();
  auto count = Uint32(r, "block_count", where);
  if (!count) return count.error();
  t.name = std::move(*name);
  t.dtype = std::move(*dtype);
  t.offset = *offset;
  t.size = *size;
  t.first_block = *first;
  t.block_count = *count;
  return t;
}

Result<ManifestFile> ParseFile(const json::value& v, const std::string& where) {
  auto o = AsObject(v, where);
  if (!o) return o.error();
  Reader r(**o, where);
  ManifestFile file;
  auto path = r.String("path");
  if (!path) return path.error();
  auto size = r.Uint("size");
  if (!size) return size.error();
  auto sha = r.Digest("sha256");
  if (!sha) return sha.error();
  auto format = r.String("format");
  if (!format) return format.error();
  file.path = std::move(*path);
  file.size = *size;
  file.sha256 = *sha;
  file.format = std::move(*format);
  auto blocks = r.Array("blocks");
  if (!blocks) return blocks.error();
  file.blocks.reserve((*blocks)->size());
  for (std::size_t i = 0; i < (*blocks)->size(); ++i) {
    auto block = ParseBlock((**blocks)[i], fmt::format("{}.blocks[{}]", where, i));
    if (!block) return block.error();
    file.blocks.push_back(*block);
  }
  auto tensors = r.Array("tensors");
  if (!tensors) return tensors.error();
  file.tensors.reserve((*tensors)->size());
  for (std::size_t i = 0; i < (*tensors)->size(); ++i) {
    auto tensor = ParseTensor((**tensors)[i], fmt::format("{}.tensors[{}]", where, i));
    if (!tensor) return tensor.error();
    file.tensors.push_back(std::move(*tensor));
  }
  return file;
}

bool LooksLikeRfc3339Utc(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.fraction]Z
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd";
  if (s.size() < kShape.size() + 1 || s.back() != 'Z') return false;
  for (std::size_t i = 0; i < kShape.size(); ++i) {
    const bool digit = s[i] >= '0' && s[i] <= '9';
    if (kShape[i] == 'd' ? !digit : s[i] != kShape[i]) return false;
  }
  const std::string_view rest = s.substr(kShape.size(), s.size() - kShape.size() - 1);
  if (rest.empty()) return true;
  return rest.size() >= 2 && rest[0] == '.' &&
         std::all_of(rest.begin() + 1, rest.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Result<void> ValidateFile(const ManifestFile& file) {
  if (auto path = ValidateFilePath(file.path); !path) return Bad(path.error().message);
  if (!IsFormatName(file.format)) {
    return Bad(fmt::format("file {} has unknown format \"{}\"", file.path, file.format));
  }
  std::uint64_t end = 0;
  for (std::size_t i = 0; i < file.blocks.size(); ++i) {
    const ManifestBlock& block = file.blocks[i];
    if (block.offset != end) {
      return Bad(fmt::format("file {}: block {} starts at {} but the previous one ends at {}",
                             file.path, i, block.offset, end));
    }
    if (block.size == 0 || block.size > file.size - end) {
      return Bad(fmt::format("file {}: block {} of {} bytes does not fit the file's {} bytes",
                             file.path, i, block.size, file.size));
    }
    end += block.size;
  }
  if (end != file.size) {
    return Bad(fmt::format("file {}: blocks cover {} of its {} bytes", file.path, end, file.size));
  }
  for (const TensorEntry& t : file.tensors) {
    if (t.offset > file.size || t.size > file.size - t.offset) {
      return Bad(fmt::format("file {}: tensor {} lies outside the file", file.path, t.name));
    }
    if (t.size == 0) continue;
    if (t.block_count == 0 || t.first_block >= file.blocks.size() ||
        t.block_count > file.blocks.size() - t.first_block) {
      return Bad(
          fmt::format("file {}: tensor {} names blocks that do not exist", file.path, t.name));
    }
    const ManifestBlock& first = file.blocks[t.first_block];
    const ManifestBlock& last = file.blocks[t.first_block + t.block_count - 1];
    if (first.offset > t.offset || last.offset + last.size < t.offset + t.size) {
      return Bad(fmt::format("file {}: tensor {} is not inside its blocks", file.path, t.name));
    }
  }
  return {};
}

}  // namespace

Sha256Digest CommitOf(const Manifest& manifest) {
  const std::string canonical = json::serialize(ToObject(manifest, /*with_identity=*/false));
  return Sha256Of(std::as_bytes(std::span(canonical)));
}

std::string ToJson(const Manifest& manifest) {
  return json::serialize(ToObject(manifest, /*with_identity=*/true));
}

Result<Manifest> ParseManifest(std::string_view text) {
  boost::system::error_code ec;
  json::value root = json::parse(text, ec);
  if (ec) return Bad(fmt::format("manifest is not valid JSON: {}", ec.message()));
  auto object = AsObject(root, "manifest");
  if (!object) return object.error();
  Reader r(**object, "manifest");
  auto schema = r.String("schema");
  if (!schema) return schema.error();
  if (*schema != kManifestSchema) {
    return Bad(fmt::format("manifest schema \"{}\" is not {}", *schema, kManifestSchema));
  }
  Manifest manifest;
  auto model = r.String("model");
  if (!model) return model.error();
  auto revision = r.String("revision");
  if (!revision) return revision.error();
  auto commit = r.Digest("commit");
  if (!commit) return commit.error();
  auto created = r.String("created");
  if (!created) return created.error();
  auto files = r.Array("files");
  if (!files) return files.error();
  manifest.model = std::move(*model);
  manifest.revision = std::move(*revision);
  manifest.commit = *commit;
  manifest.created = std::move(*created);
  manifest.files.reserve((*files)->size());
  for (std::size_t i = 0; i < (*files)->size(); ++i) {
    auto file = ParseFile((**files)[i], fmt::format("manifest.files[{}]", i));
    if (!file) return file.error();
    manifest.files.push_back(std::move(*file));
  }
  if (auto valid = ValidateManifest(manifest); !valid) return valid.error();
  if (CommitOf(manifest) != manifest.commit) {
    return Bad("manifest commit does not match its content");
  }
  return manifest;
}

Result<void> ValidateManifest(const Manifest& manifest) {
  if (auto model = ValidateModelName(manifest.model); !model) return Bad(model.error().message);
  if (auto rev = ValidateRevisionName(manifest.revision); !rev) return Bad(rev.error().message);
  if (!LooksLikeRfc3339Utc(manifest.created)) {
    return Bad(fmt::format("manifest created time \"{}\" is not RFC 3339 UTC", manifest.created));
  }
  for (std::size_t i = 0; i < manifest.files.size(); ++i) {
    if (auto file = ValidateFile(manifest.files[i]); !file) return file.error();
    if (i > 0 && !(manifest.files[i - 1].path < manifest.files[i].path)) {
      return Bad(
          fmt::format("manifest files are not sorted and unique at {}", manifest.files[i].path));
    }
  }
  return {};
}

Result<void> ValidateFilePath(std::string_view path) {
  auto bad = [&](std::string_view why) {
    return Error{Errc::kBadPath, fmt::format("file path \"{}\" {}", path.substr(0, 200), why)};
  };
  if (path.empty()) return bad("is empty");
  if (path.size() > kMaxPathBytes) return bad("is longer than 1024 bytes");
  if (path.front() == '/') return bad("is absolute");
  for (char c : path) {
    if (c == '\\') return bad("contains a backslash");
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return bad("contains a control character");
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t slash = std::min(path.find('/', start), path.size());
    const std::string_view component = path.substr(start, slash - start);
    if (component.empty()) return bad("has an empty component");
    if (component == "." || component == "..") return bad("has a '.' or '..' component");
    start = slash + 1;
  }
  return {};
}

Result<void> ValidateModelName(std::string_view model) {
  auto bad = [&] {
    return Error{Errc::kBadModelName,
                 fmt::format("model id \"{}\" is not of the form org/name with letters, digits, "
                             "'.', '_' or '-'",
                             model.substr(0, 200))};
  };
  const std::size_t slash = model.find('/');
  if (slash == std::string_view::npos) return bad();
  for (std::string_view part : {model.substr(0, slash), model.substr(slash + 1)}) {
    if (part.empty() || part.size() > kMaxModelComponentBytes || part.front() == '.' ||
        part.front() == '-' || !std::all_of(part.begin(), part.end(), IsNameChar) ||
        part.find("..") != std::string_view::npos) {
      return bad();
    }
  }
  return {};
}

Result<void> ValidateRevisionName(std::string_view revision) {
  const bool ok = !revision.empty() && revision.size() <= kMaxRevisionBytes &&
                  revision.front() != '/' && revision.front() != '.' && revision.back() != '/' &&
                  revision.find("..") == std::string_view::npos &&
                  revision.find("//") == std::string_view::npos &&
                  std::all_of(revision.begin(), revision.end(),
                              [](char c) { return IsNameChar(c) || c == '/'; });
  if (!ok) {
    return Error{Errc::kBadRequest,
                 fmt::format("revision \"{}\" is not a valid name (1-128 of letters, digits, "
                             "'.', '_', '-', '/')",
                             revision.substr(0, 200))};
  }
  return {};
}

bool IsCommitHex(std::string_view revision) {
  return revision.size() == 64 &&
         revision.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

Result<ModelRef> ParseModelRef(std::string_view text) {
  ModelRef ref;
  const std::size_t at = text.find('@');
  ref.model = std::string(text.substr(0, at));
  if (at != std::string_view::npos) {
    ref.revision = std::string(text.substr(at + 1));
    if (ref.revision.empty()) {
      return Error{Errc::kBadRequest,
                   fmt::format("\"{}\" has an '@' but no revision after it", text.substr(0, 200))};
    }
  }
  if (auto valid = ValidateModelName(ref.model); !valid) return valid.error();
  if (auto valid = ValidateRevisionName(ref.revision); !valid) return valid.error();
  return ref;
}

}  // namespace mei
