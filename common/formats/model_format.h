// ModelFormat: what the chunker needs from a model file format, one row of a table per format.
//
// A format names its files (by the ends of their paths) and reads a file's layout: its tensors
// (name, dtype, shape and byte range, every length and offset checked against the file) and, for
// containers (zip archives), the embedded files that are cut by their own formats. The chunker
// cuts along that layout (common/chunker.h); files of no format in the table are cut by content
// (FastCDC). Adding a format is its parser (a file of its own in this folder), a FileFormat value
// and its row in model_format.cc.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_source.h"
#include "common/errc.h"
#include "common/tensor_entry.h"

namespace mei {

// The manifest's `format` of a file: how it was cut.
enum class FileFormat {
  kSafetensors,
  kGguf,
  kOther,
  kOnnx,
  kTflite,
  kNumpy,
  kPytorch,
  kZip,
  kTfjs,  // a TF.js weight shard, cut along the map that its model.json gives
};

// A byte range of a container that is a file of its own (a zip member).
struct EmbeddedFile {
  std::string name;  // its path inside the container; its format is guessed from it
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  // Compressed or encrypted: its bytes in the container are not its content, so they are cut by
  // content, not by its format.
  bool opaque = false;
};

struct FileLayout {
  std::vector<TensorEntry> tensors;    // offsets absolute in the file; first_block unset
  std::vector<EmbeddedFile> embedded;  // not overlapping the tensors or one another
};

// How the bytes of a file that belong to no tensor are cut.
enum class Framing {
  // With the tensor before them (bytes before the first tensor: one header block). For formats
  // whose only bytes between tensors are alignment padding (safetensors, GGUF).
  kWithPrecedingTensor,
  // In blocks of their own, so that a tensor's blocks end at its last byte: protobuf and
  // flatbuffer framing and zip headers differ between two exports of the same tensors.
  kApart,
};

struct ModelFormat {
  FileFormat id;
  std::string_view name;                       // the manifest's `format` field
  std::span<const std::string_view> suffixes;  // the ends of its files' paths, e.g. ".gguf"
  Framing framing;
  // Whether a name with one of the suffixes is a claim: a claimed file that does not parse is an
  // error (kBadSafetensors, kBadGguf); a guessed one (".bin" may be anything) is cut by content
  // instead, and the reason reported.
  bool claimed;
  // The file's layout, validated against it; kBadSafetensors, kBadGguf or kBadModelFile with a
  // sentence when the file does not parse. Null for a format whose files hold no map of their own
  // (TF.js shards: their map is in model.json, see PlanChunksAlong in common/chunker.h).
  Result<FileLayout> (*layout)(const ByteSource& file);
};

// Every format with a layout, in no particular order (FileFormat::kOther is not one).
[[nodiscard]] std::span<const ModelFormat> ModelFormats();

// The row of `id`, or null for kOther.
[[nodiscard]] const ModelFormat* FindModelFormat(FileFormat id);

// Whether `name` is a manifest `format`: a format's name or "other".
[[nodiscard]] bool IsFormatName(std::string_view name);

}  // namespace mei
