#include "common/formats/model_format.h"

#include <array>
#include <utility>

#include "common/formats/gguf.h"
#include "common/formats/numpy.h"
#include "common/formats/onnx.h"
#include "common/formats/safetensors.h"
#include "common/formats/tflite.h"
#include "common/formats/zip_layout.h"

namespace mei {
namespace {

Result<FileLayout> TensorsOnly(Result<std::vector<TensorEntry>> tensors) {
  if (!tensors) return tensors.error();
  return FileLayout{std::move(*tensors), {}};
}

Result<FileLayout> SafetensorsLayout(const ByteSource& file) {
  auto header = ParseSafetensors(file);
  if (!header) return header.error();
  return TensorsOnly(std::move(header->tensors));
}

Result<FileLayout> GgufLayout(const ByteSource& file) {
  auto gguf = ParseGguf(file);
  if (!gguf) return gguf.error();
  return TensorsOnly(std::move(gguf->tensors));
}

// Initializers kept in other files (external data) are not this file's bytes: the file's layout
// is the initializers it holds.
Result<FileLayout> OnnxLayout(const ByteSource& file) {
  auto model = ParseOnnx(file);
  if (!model) return model.error();
  return TensorsOnly(std::move(model->tensors));
}

Result<FileLayout> TfliteLayout(const ByteSource& file) { return TensorsOnly(ParseTflite(file)); }

Result<FileLayout> NumpyLayout(const ByteSource& file) {
  auto array = ParseNpy(file);
  if (!array) return array.error();
  return TensorsOnly(std::vector<TensorEntry>{std::move(array->tensor)});
}

constexpr std::array<std::string_view, 1> kSafetensorsSuffixes = {".safetensors"};
constexpr std::array<std::string_view, 1> kGgufSuffixes = {".gguf"};
constexpr std::array<std::string_view, 1> kOnnxSuffixes = {".onnx"};
constexpr std::array<std::string_view, 1> kTfliteSuffixes = {".tflite"};
constexpr std::array<std::string_view, 1> kNumpySuffixes = {".npy"};
// pytorch_model.bin and the checkpoints of torch.save; ".bin" is also TF.js shards and anything
// else, hence a guess.
constexpr std::array<std::string_view, 4> kPytorchSuffixes = {".pt", ".pth", ".bin", ".ckpt"};
constexpr std::array<std::string_view, 3> kZipSuffixes = {".zip", ".npz", ".task"};

// TF.js shards are named by model.json (group1-shard1of2.bin): no suffix of their own.
constexpr std::array<std::string_view, 0> kTfjsSuffixes = {};

constexpr std::array kFormats = {
    ModelFormat{FileFormat::kSafetensors, "safetensors", kSafetensorsSuffixes,
                Framing::kWithPrecedingTensor, /*claimed=*/true, &SafetensorsLayout},
    ModelFormat{FileFormat::kGguf, "gguf", kGgufSuffixes, Framing::kWithPrecedingTensor,
                /*claimed=*/true, &GgufLayout},
    ModelFormat{FileFormat::kOnnx, "onnx", kOnnxSuffixes, Framing::kApart, /*claimed=*/false,
                &OnnxLayout},
    ModelFormat{FileFormat::kTflite, "tflite", kTfliteSuffixes, Framing::kApart,
                /*claimed=*/false, &TfliteLayout},
    ModelFormat{FileFormat::kNumpy, "numpy", kNumpySuffixes, Framing::kApart, /*claimed=*/false,
                &NumpyLayout},
    ModelFormat{FileFormat::kPytorch, "pytorch", kPytorchSuffixes, Framing::kApart,
                /*claimed=*/false, &PytorchLayout},
    ModelFormat{FileFormat::kZip, "zip", kZipSuffixes, Framing::kApart, /*claimed=*/false,
                &ZipLayout},
    ModelFormat{FileFormat::kTfjs, "tfjs", kTfjsSuffixes, Framing::kApart, /*claimed=*/false,
                nullptr},
};

}  // namespace

std::span<const ModelFormat> ModelFormats() { return kFormats; }

const ModelFormat* FindModelFormat(FileFormat id) {
  for (const ModelFormat& format : kFormats) {
    if (format.id == id) return &format;
  }
  return nullptr;
}

bool IsFormatName(std::string_view name) {
  if (name == "other") return true;
  for (const ModelFormat& format : kFormats) {
    if (format.name == name) return true;
  }
  return false;
}

}  // namespace mei
