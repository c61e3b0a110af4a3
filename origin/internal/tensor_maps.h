// Tensor maps that one file of an ingest gives others.
//
// Some formats keep a file's tensor map in another file: a TF.js model.json (or a weights manifest
// of its own, *-weights_manifest.json) maps its weights onto the shard files beside it
// (group1-shard1of2.bin, ...), and an ONNX model whose initializers are
// external data names, for each, its file, offset and length. Before an ingest cuts its files, it
// reads these givers, so that a shard or data file is cut along its tensors (common/chunker.h
// PlanChunksAlong) although it has no header of its own.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/formats/model_format.h"
#include "common/tensor_entry.h"
#include "origin/ingest.h"

namespace mei::origin {

// The tensors of one file, as another file maps them.
struct BorrowedMap {
  FileFormat format = FileFormat::kOther;  // kTfjs for a shard, kOnnx for external data
  std::string from;                        // the manifest path of the file that gives the map
  std::vector<TensorEntry> tensors;        // offsets within the mapped file
};

// The maps that `files` give one another, by the manifest path of the mapped file; only files of
// the ingest are mapped. A .json file that names weights but maps no tensors onto its shards (one
// whose shards do not fit it, or are missing) gives nothing, and `notes` gets why, one sentence; an
// ONNX file that does not parse gives nothing, silently (its own cutting reports why). When two
// givers map one file, the first (by path) wins and the other is noted.
[[nodiscard]] std::map<std::string, BorrowedMap> ReadTensorMaps(const std::vector<InputFile>& files,
                                                                std::vector<std::string>& notes);

}  // namespace mei::origin
