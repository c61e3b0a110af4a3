// The step after a model-format parser in ingest: planning the file's blocks. Shared by the fuzz
// targets of the model formats.
#pragma once

#include <cstdint>
#include <string>

#include "common/byte_source.h"
#include "common/chunker.h"
#include "common/manifest.h"
#include "tests/fuzz/fuzz_check.h"

namespace mei::fuzz {

// Any number of planned tensors (a container's members add theirs), for CheckPlanPublishes.
inline constexpr std::size_t kAnyTensorCount = static_cast<std::size_t>(-1);

// REQUIRES: `file` parsed as `format` with `tensor_count` tensors (or kAnyTensorCount). Plans its
// blocks as ingest does (with a small max_block, so that small inputs still make several blocks
// per tensor) and checks
// that the plan succeeds and that a manifest holding it passes ValidateManifest: what ingest would
// publish for this file must be a valid manifest.
inline void CheckPlanPublishes(const ByteSource& file, FileFormat format,
                               std::size_t tensor_count) {
  ChunkOptions options;
  options.max_block = 64;
  const Result<ChunkPlan> plan = PlanChunks(file, format, options);
  FUZZ_CHECK(plan.has_value(), "a file that parses does not chunk: %s",
             plan.error().message.c_str());
  FUZZ_CHECK(tensor_count == kAnyTensorCount || plan->tensors.size() == tensor_count,
             "%zu tensors parsed, %zu planned", tensor_count, plan->tensors.size());
  Manifest manifest;
  manifest.model = "fuzz/model";
  manifest.revision = "main";
  manifest.created = "2026-01-01T00:00:00Z";
  ManifestFile& entry = manifest.files.emplace_back();
  entry.path = std::string("model.") + std::string(NameOf(format));
  entry.size = file.size();
  entry.format = std::string(NameOf(format));
  for (const BlockExtent& block : plan->blocks) {
    // Only the first block (everything before the first tensor) may be longer than max_block.
    FUZZ_CHECK(entry.blocks.empty() || block.size <= options.max_block,
               "block %zu is %llu bytes long", entry.blocks.size(),
               static_cast<unsigned long long>(block.size));
    entry.blocks.push_back({BlockId(), block.offset, block.size});
  }
  entry.tensors = plan->tensors;
  const Result<void> valid = ValidateManifest(manifest);
  FUZZ_CHECK(valid.has_value(), "the planned manifest is invalid: %s",
             valid.error().message.c_str());
}

}  // namespace mei::fuzz
