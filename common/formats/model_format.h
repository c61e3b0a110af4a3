// ModelFormat: what the chunker needs from a model file format, one row of a table per format.
//
// A format names its files (by the end of their path) and reads a file's tensor map: each
// tensor's name, dtype, shape and byte range, every length and offset checked against the file.
// The chunker cuts along that map (common/chunker.h); files of no format in the table are cut by
// content (FastCDC). Adding a format is its parser (a file of its own in this folder), a FileFormat
// value and its row in model_format.cc.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "common/byte_source.h"
#include "common/errc.h"
#include "common/tensor_entry.h"

namespace mei {

// The manifest's `format` of a file: how it was cut.
enum class FileFormat { kSafetensors, kGguf, kOther };

struct ModelFormat {
  FileFormat id;
  std::string_view name;    // the manifest's `format` field
  std::string_view suffix;  // the end of the paths of its files, e.g. ".gguf"
  // The file's tensors, validated against it; the format's own error code (kBadSafetensors,
  // kBadGguf) with a sentence when the file does not parse.
  Result<std::vector<TensorEntry>> (*tensors)(const ByteSource& file);
};

// Every format with a tensor map, in no particular order (FileFormat::kOther is not one).
[[nodiscard]] std::span<const ModelFormat> ModelFormats();

// The row of `id`, or null for kOther.
[[nodiscard]] const ModelFormat* FindModelFormat(FileFormat id);

}  // namespace mei
