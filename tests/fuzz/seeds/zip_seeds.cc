#include "tests/fuzz/seeds/zip_seeds.h"

#include <cstdint>
#include <functional>
#include <string_view>

#include "tests/common/formats/zip_examples.h"
#include "tools/synth/npy_writer.h"
#include "tools/synth/pytorch_writer.h"
#include "tools/synth/zip_writer.h"

namespace mei::fuzz {
namespace {

using tools::AppendTo;
using tools::ZipBytes;
using tools::ZipMethod;
using tools::ZipWriter;
using tools::ZipWriterOptions;

using mei::testing::Patched;

// See TwoMemberZip.
std::string TwoMembers(ZipWriterOptions options = {}) {
  return mei::testing::TwoMemberZip(std::move(options));
}

std::vector<tools::TensorSpec> SmallTensors() {
  std::vector<tools::TensorSpec> tensors(2);
  tensors[0].name = "model.embed_tokens.weight";
  tensors[0].shape = {4, 4};
  tensors[0].stream.seed = 1;
  tensors[1].name = "model.norm.weight";
  tensors[1].shape = {4};
  tensors[1].stream.seed = 2;
  return tensors;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> ZipSeeds() {
  const std::vector<tools::TensorSpec> tensors = SmallTensors();
  ZipWriterOptions all_zip64;
  all_zip64.zip64_from = 0;
  ZipWriterOptions offsets_zip64;
  offsets_zip64.zip64_from = 60;
  ZipWriterOptions commented;
  commented.comment = std::string("PK\x05\x06", 4) + "comment";
  const std::string two = TwoMembers();
  const std::string two_zip64 = TwoMembers(all_zip64);
  const std::size_t zip64_locator = two_zip64.size() - 22 - 20;
  return {
      {"pytorch-checkpoint",
       tools::PytorchCheckpointBytes("archive", tensors, tools::StoredDtype::kBf16)},
      {"npz", tools::NpzBytes(tensors, tools::StoredDtype::kF16)},
      {"methods", ZipBytes([](ZipWriter& zip) {
         zip.AddMember("stored.txt", "stored").value();
         zip.AddMember("deflated.txt", "deflated", ZipMethod::kDeflated).value();
         zip.BeginMember("streamed.bin", 8).value();
         zip.Append("streamed").value();
         zip.EndMember().value();
         zip.AddMember("folder/", "").value();
       })},
      {"zip64-everything", two_zip64},
      {"zip64-offsets", TwoMembers(offsets_zip64)},
      {"comment", TwoMembers(commented)},
      {"empty", ZipBytes([](ZipWriter&) {})},
      {"two-members", two},
      {"overlapping", Patched(two, 90 + 20, 20, 4)},
      {"data-into-directory", Patched(two, 141 + 20, 11, 4)},
      {"local-name-differs", Patched(two, 30, 'A', 1)},
      {"multi-disk", Patched(two, two.size() - 22 + 4, 1, 2)},
      {"saturated-without-zip64", Patched(two, 90 + 24, 0xFFFFFFFF, 4)},
      {"zip64-no-locator", Patched(two_zip64, zip64_locator, 0, 4)},
      {"zip64-record-size", Patched(two_zip64, zip64_locator - 56 + 4, 45, 8)},
      {"duplicate-name", ZipBytes([](ZipWriter& zip) {
         zip.AddMember("x", "1").value();
         zip.AddMember("x", "2").value();
       })},
      {"name-not-utf8", ZipBytes([](ZipWriter& zip) { zip.AddMember("caf\xe9", "1").value(); })},
      {"truncated", two.substr(0, two.size() - 1)},
  };
}

}  // namespace mei::fuzz
