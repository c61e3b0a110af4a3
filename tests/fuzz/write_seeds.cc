// mei_fuzz_seeds DIR: writes the seed corpus of every fuzz target, DIR/<target>/seed-<what>
// (scripts/fuzz --seeds writes tests/fuzz/corpus). The same bytes on every run: valid inputs made
// from the fuzz model (fuzz_model.h) and near-valid ones that each break one rule, so the fuzzer
// starts next to the checks. Files the fuzzer found (regression-*) are left alone.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/codec.h"
#include "common/formats/gguf.h"
#include "common/manifest.h"
#include "tests/fuzz/fuzz_model.h"
#include "tests/fuzz/seeds/numpy_seeds.h"
#include "tests/fuzz/seeds/onnx_seeds.h"
#include "tests/fuzz/seeds/tfjs_seeds.h"
#include "tests/fuzz/seeds/tflite_seeds.h"
#include "tests/fuzz/seeds/zip_seeds.h"

namespace mei::fuzz {
namespace {

namespace fs = std::filesystem;

class SeedWriter {
 public:
  explicit SeedWriter(fs::path root) : root_(std::move(root)) {}

  void Write(std::string_view target, std::string_view what, std::string_view bytes) {
    const fs::path dir = root_ / target;
    fs::create_directories(dir);
    const fs::path path = dir / ("seed-" + std::string(what));
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + path.string());
    ++written_;
  }
  void Write(std::string_view target, std::string_view what, const Bytes& bytes) {
    Write(target, what,
          std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }
  int written() const { return written_; }

 private:
  fs::path root_;
  int written_ = 0;
};

void AppendLe(std::string& out, std::uint64_t value, std::size_t width) {
  for (std::size_t i = 0; i < width; ++i) out.push_back(static_cast<char>(value >> (8 * i)));
}

std::string Safetensors(std::string_view header, std::size_t data_bytes,
                        std::uint64_t claimed_length = 0) {
  std::string file;
  AppendLe(file, claimed_length != 0 ? claimed_length : header.size(), 8);
  file += header;
  for (std::size_t i = 0; i < data_bytes; ++i) file.push_back(static_cast<char>(i * 7));
  return file;
}

void WriteSafetensorsSeeds(SeedWriter& seeds, const std::vector<ModelFile>& files) {
  constexpr std::string_view kTarget = "safetensors";
  for (const ModelFile& file : files) {
    if (file.path == "model.safetensors") seeds.Write(kTarget, "model", file.bytes);
  }
  const std::string small =
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]},)"
      R"("c":{"dtype":"I8","shape":[],"data_offsets":[24,25]}})";
  seeds.Write(kTarget, "small", Safetensors(small, 25));
  seeds.Write(kTarget, "empty-tensor-at-end",
              Safetensors(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                          R"("z":{"dtype":"F16","shape":[0],"data_offsets":[4,4]}})",
                          4));
  seeds.Write(kTarget, "overlap",
              Safetensors(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                          R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})",
                          6));
  seeds.Write(kTarget, "truncated-data",
              Safetensors(R"({"a":{"dtype":"F64","shape":[4],"data_offsets":[0,32]}})", 20));
  seeds.Write(kTarget, "size-mismatch",
              Safetensors(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8));
  seeds.Write(kTarget, "header-longer-than-file", Safetensors(R"({})", 0, 1000));
  seeds.Write(kTarget, "huge-shape",
              Safetensors(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],)"
                          R"("data_offsets":[0,4]}})",
                          4));
}

// A GGUF writer for the near-valid seeds.
class Gguf {
 public:
  Gguf& Version(std::uint32_t version) {
    version_ = version;
    return *this;
  }
  Gguf& Kv(std::string_view key, GgufType type, const std::string& value) {
    Str(kv_, key);
    AppendLe(kv_, static_cast<std::uint32_t>(type), 4);
    kv_ += value;
    ++kv_count_;
    return *this;
  }
  Gguf& Tensor(std::string_view name, std::initializer_list<std::uint64_t> dims,
               std::uint32_t ggml_type, std::uint64_t offset) {
    Str(infos_, name);
    AppendLe(infos_, dims.size(), 4);
    for (const std::uint64_t dim : dims) AppendLe(infos_, dim, 8);
    AppendLe(infos_, ggml_type, 4);
    AppendLe(infos_, offset, 8);
    ++tensor_count_;
    return *this;
  }
  Gguf& ClaimTensors(std::uint64_t count) {
    tensor_count_ = count;
    return *this;
  }
  std::string Build(std::uint64_t alignment, std::size_t data_bytes) const {
    std::string out = "GGUF";
    AppendLe(out, version_, 4);
    AppendLe(out, tensor_count_, 8);
    AppendLe(out, kv_count_, 8);
    out += kv_ + infos_;
    out.resize((out.size() + alignment - 1) / alignment * alignment);
    for (std::size_t i = 0; i < data_bytes; ++i) out.push_back(static_cast<char>(i * 13));
    return out;
  }
  static std::string U32(std::uint32_t value) {
    std::string out;
    AppendLe(out, value, 4);
    return out;
  }
  static std::string String(std::string_view text) {
    std::string out;
    Str(out, text);
    return out;
  }

 private:
  static void Str(std::string& out, std::string_view text) {
    AppendLe(out, text.size(), 8);
    out += text;
  }

  std::uint32_t version_ = 3;
  std::string kv_;
  std::string infos_;
  std::uint64_t kv_count_ = 0;
  std::uint64_t tensor_count_ = 0;
};

void WriteGgufSeeds(SeedWriter& seeds, const std::vector<ModelFile>& files) {
  constexpr std::string_view kTarget = "gguf";
  constexpr std::uint32_t kF32 = 0, kF16 = 1, kQ8_0 = 8, kQ4_K = 12;
  for (const ModelFile& file : files) {
    if (file.path == "model.gguf") seeds.Write(kTarget, "model", file.bytes);
  }
  seeds.Write(kTarget, "v2-one-tensor", Gguf().Version(2).Tensor("w", {8}, kF16, 0).Build(32, 16));
  std::string nested;  // an array of two arrays of u32
  AppendLe(nested, static_cast<std::uint32_t>(GgufType::kArray), 4);
  AppendLe(nested, 2, 8);
  for (int i = 0; i < 2; ++i) {
    AppendLe(nested, static_cast<std::uint32_t>(GgufType::kUint32), 4);
    AppendLe(nested, 2, 8);
    AppendLe(nested, 1, 4);
    AppendLe(nested, 2, 4);
  }
  seeds.Write(kTarget, "nested-array-alignment-64",
              Gguf()
                  .Kv("general.alignment", GgufType::kUint32, Gguf::U32(64))
                  .Kv("x.nested", GgufType::kArray, nested)
                  .Kv("general.name", GgufType::kString, Gguf::String("tiny"))
                  .Tensor("a", {32}, kQ8_0, 0)
                  .Tensor("b", {256}, kQ4_K, 64)
                  .Build(64, 64 + 144));
  seeds.Write(kTarget, "huge-tensor-count",
              Gguf().Tensor("w", {4}, kF32, 0).ClaimTensors(std::uint64_t{1} << 60).Build(32, 16));
  seeds.Write(kTarget, "misaligned-offset",
              Gguf().Tensor("a", {4}, kF32, 0).Tensor("b", {4}, kF32, 20).Build(32, 64));
  seeds.Write(kTarget, "alignment-not-power-of-two",
              Gguf()
                  .Kv("general.alignment", GgufType::kUint32, Gguf::U32(48))
                  .Tensor("a", {4}, kF32, 0)
                  .Build(48, 16));
  seeds.Write(kTarget, "overlapping-tensors",
              Gguf().Tensor("a", {16}, kF32, 0).Tensor("b", {16}, kF32, 32).Build(32, 128));
}

void WriteRangeSeeds(SeedWriter& seeds) {
  constexpr std::string_view kTarget = "range";
  const std::map<std::string_view, std::string_view> ranges = {
      {"two-ranges", "bytes=0-1,5-"},
      {"suffix", "bytes=-500"},
      {"open", "bytes=9500-"},
      {"list-whitespace", "BYTES=0-1, 3-4 ,,"},
      {"reversed", "bytes=5-1"},
      {"space-after-equals", "bytes= 0-1"},
      {"max-number", "bytes=0-18446744073709551615,18446744073709551615-"},
      {"overflow", "bytes=18446744073709551616-"},
      {"other-unit", "items=0-1"},
      {"overlapping", "bytes=0-999,0-999,-1"},
      {"if-range-match", "bytes=0-0,-1\n\"0123abcd\""},
      {"if-range-weak", "bytes=0-3\nW/\"0123abcd\""},
      {"if-none-match-list", "bytes=2-4\n\n\"x\", W/\"0123abcd\""},
      {"if-none-match-star", "bytes=0-\n\n*"},
  };
  for (const auto& [what, text] : ranges) seeds.Write(kTarget, what, text);
}

void WriteManifestSeeds(SeedWriter& seeds, const Manifest& model) {
  constexpr std::string_view kTarget = "manifest";
  seeds.Write(kTarget, "model", ToJson(model));

  Manifest small;  // one "other" file of one block
  small.model = "org/name";
  small.revision = "refs/pr/1";
  small.created = "2026-11-23T12:00:00Z";
  for (const ManifestFile& file : model.files) {
    if (file.path == "config.json") small.files.push_back(file);
  }
  small.commit = CommitOf(small);
  seeds.Write(kTarget, "one-file", ToJson(small));

  Manifest bad_commit = small;
  bad_commit.commit = Sha256Digest();
  seeds.Write(kTarget, "wrong-commit", ToJson(bad_commit));

  // Each breaks one rule of ValidateManifest, with the commit recomputed so that only that rule
  // fails.
  const auto broken = [&](std::string_view what, auto&& change) {
    Manifest copy = model;
    change(copy);
    copy.commit = CommitOf(copy);
    seeds.Write(kTarget, what, ToJson(copy));
  };
  broken("dot-dot-path", [](Manifest& m) { m.files[0].path = "../config.json"; });
  broken("block-gap", [](Manifest& m) {
    for (ManifestFile& f : m.files) {
      if (f.blocks.size() > 1) {
        f.blocks[1].offset += 1;
        break;
      }
    }
  });
  broken("tensor-outside-blocks", [](Manifest& m) {
    for (ManifestFile& f : m.files) {
      if (!f.tensors.empty()) {
        f.tensors.back().first_block = static_cast<std::uint32_t>(f.blocks.size());
        break;
      }
    }
  });
  broken("unsorted-files", [](Manifest& m) { std::swap(m.files[0], m.files[1]); });
  broken("bad-created", [](Manifest& m) { m.created = "yesterday"; });
}

void WriteFrameSeeds(SeedWriter& seeds, const EncodedModel& model) {
  constexpr std::string_view kTarget = "frame";
  std::map<Codec, const Bytes*> by_codec;  // the smallest frame of each codec
  for (const auto& [id, frame] : model.frames) {
    const Codec codec = ParseFrame(frame).value().header.codec;
    if (by_codec.count(codec) == 0 || frame.size() < by_codec[codec]->size()) {
      by_codec[codec] = &frame;
    }
  }
  if (by_codec.size() != 4) throw std::runtime_error("the fuzz model lacks a codec");
  for (const auto& [codec, frame] : by_codec) {
    std::string what(NameOf(codec));
    if (what.find('+') != std::string::npos) what.replace(what.find('+'), 1, "-");
    seeds.Write(kTarget, what, *frame);
  }
  seeds.Write(kTarget, "empty-raw", FrameOf(Codec::kRaw, 0, {}));
  Bytes flipped = *by_codec[Codec::kZstd];
  flipped.back() ^= std::byte{0x01};
  seeds.Write(kTarget, "zstd-bad-checksum", flipped);
  const FrameView bg4 = ParseFrame(*by_codec[Codec::kBg4Zstd]).value();
  seeds.Write(kTarget, "bg4-wrong-raw-size",
              FrameOf(Codec::kBg4Zstd, bg4.header.raw_size + 4, bg4.payload));
  seeds.Write(
      kTarget, "bg2-payload-as-bg4",
      FrameOf(Codec::kBg4Zstd, ParseFrame(*by_codec[Codec::kBg2Zstd]).value().header.raw_size,
              ParseFrame(*by_codec[Codec::kBg2Zstd]).value().payload));
}

std::string Request(std::string_view head, std::string_view body = {}) {
  std::string request(head);
  if (!body.empty()) request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return request + "\r\n" + std::string(body);
}

// A chunked body (RFC 9112 section 7.1) of `chunks`.
std::string Chunked(std::initializer_list<std::string_view> chunks) {
  std::string body;
  for (const std::string_view chunk : chunks) {
    char size[32];
    std::snprintf(size, sizeof(size), "%zx\r\n", chunk.size());
    body += size + std::string(chunk) + "\r\n";
  }
  return body + "0\r\n\r\n";
}

void WriteHttpSeeds(SeedWriter& seeds, const EncodedModel& model) {
  constexpr std::string_view kTarget = "http_server";
  std::map<Codec, std::string> block_of;
  for (const auto& [id, frame] : model.frames) {
    block_of.emplace(ParseFrame(frame).value().header.codec, id.Hex());
  }
  const std::string commit = model.manifest.commit.Hex();
  std::string safetensors_sha;
  for (const ManifestFile& file : model.manifest.files) {
    if (file.path == "model.safetensors") safetensors_sha = file.sha256.Hex();
  }
  const std::string host = "Host: edge\r\n";
  seeds.Write(kTarget, "get-block-stored-bg2",
              Request("GET /v1/blocks/" + block_of[Codec::kBg2Zstd] + " HTTP/1.1\r\n" + host +
                      "Accept-Encoding: gzip, x-mei-bg2-zstd\r\n"));
  seeds.Write(kTarget, "get-block-ranges",
              Request("GET /v1/blocks/" + block_of[Codec::kZstd] + " HTTP/1.1\r\n" + host +
                      "Range: bytes=0-1,5-\r\nAccept-Encoding: zstd\r\n"));
  seeds.Write(kTarget, "get-block-only-if-cached",
              Request("GET /v1/blocks/" + block_of[Codec::kRaw] + " HTTP/1.1\r\n" + host +
                      "Cache-Control: max-age=0, only-if-cached\r\nIf-None-Match: \"" +
                      block_of[Codec::kRaw] + "\"\r\n"));
  seeds.Write(kTarget, "head-file-range",
              Request("HEAD /acme/tiny/resolve/main/model.safetensors HTTP/1.1\r\n" + host +
                      "Range: bytes=100-200\r\nIf-Range: \"" + safetensors_sha + "\"\r\n"));
  seeds.Write(kTarget, "get-file-by-commit-ranges",
              Request("GET /acme/tiny/resolve/" + commit + "/model.gguf HTTP/1.1\r\n" + host +
                      "Range: bytes=0-10,-20,600-\r\n"));
  seeds.Write(kTarget, "get-file-http10",
              Request("GET /acme/tiny/resolve/v1.0/tokenizer/vocab.txt HTTP/1.0\r\n"));
  seeds.Write(kTarget, "get-manifest-if-none-match",
              Request("GET /v1/models/acme/tiny/revisions/main/manifest HTTP/1.1\r\n" + host +
                      "If-None-Match: W/\"x\", \"" + commit + "\"\r\n"));
  seeds.Write(kTarget, "get-models", Request("GET /v1/models HTTP/1.1\r\n" + host));
  seeds.Write(kTarget, "get-hub-model-info",
              Request("GET /api/models/acme/tiny/revision/HEAD HTTP/1.1\r\n" + host));
  seeds.Write(
      kTarget, "get-hub-tree",
      Request("GET /api/models/acme/tiny/tree/main/tokenizer?recursive=true HTTP/1.1\r\n" + host));
  seeds.Write(kTarget, "post-paths-info-json",
              Request("POST /api/models/acme/tiny/paths-info/main HTTP/1.1\r\n" + host +
                          "Content-Type: application/json\r\n",
                      R"({"paths":["config.json","tokenizer/vocab.txt"],"expand":true})"));
  seeds.Write(kTarget, "post-paths-info-form-expect-continue",
              Request("POST /api/models/acme/tiny/paths-info/main HTTP/1.1\r\n" + host +
                          "Content-Type: application/x-www-form-urlencoded\r\n"
                          "Expect: 100-continue\r\n",
                      "paths=config.json&paths=model.gguf&expand=true"));
  seeds.Write(kTarget, "post-chunked",
              "POST /api/models/acme/tiny/paths-info/main HTTP/1.1\r\n" + host +
                  "Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n" +
                  Chunked({R"({"paths":[)", R"("config.json"]})"}));
  seeds.Write(kTarget, "header-too-large",
              Request("GET /v1/models HTTP/1.1\r\n" + host +
                      "X-Padding: " + std::string(kFuzzHeaderLimitBytes, 'p') + "\r\n"));
  seeds.Write(kTarget, "body-too-large",
              "POST /api/models/acme/tiny/paths-info/main HTTP/1.1\r\n" + host +
                  "Content-Type: application/json\r\nContent-Length: " +
                  std::to_string(kFuzzBodyLimitBytes + 1) + "\r\n\r\n{\"paths\":[]}");
  seeds.Write(kTarget, "pipelined-health-metrics",
              Request("GET /healthz HTTP/1.1\r\n" + host) +
                  Request("HEAD /readyz HTTP/1.1\r\n" + host) +
                  Request("GET /metrics HTTP/1.1\r\n" + host + "Connection: close\r\n"));
  seeds.Write(
      kTarget, "encoded-traversal",
      Request("GET /acme/tiny/resolve/main/tokenizer%2F..%2Fconfig.json HTTP/1.1\r\n" + host));
  seeds.Write(kTarget, "wrong-method", Request("DELETE /v1/models HTTP/1.1\r\n" + host));
}

int Main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  SeedWriter seeds(argv[1]);
  const std::vector<ModelFile> files = FuzzModelFiles();
  const EncodedModel model = EncodeFuzzModel();
  WriteSafetensorsSeeds(seeds, files);
  WriteGgufSeeds(seeds, files);
  WriteRangeSeeds(seeds);
  WriteManifestSeeds(seeds, model.manifest);
  WriteFrameSeeds(seeds, model);
  WriteHttpSeeds(seeds, model);
  const std::pair<const char*, std::vector<std::pair<std::string, std::string>> (*)()>
      format_seeds[] = {{"onnx", &OnnxSeeds},
                        {"tflite", &TfliteSeeds},
                        {"numpy", &NumpySeeds},
                        {"zip", &ZipSeeds},
                        {"tfjs", &TfjsSeeds}};
  for (const auto& [target, make] : format_seeds) {
    for (const auto& [what, bytes] : make()) seeds.Write(target, what, bytes);
  }
  std::printf("wrote %d seeds under %s\n", seeds.written(), argv[1]);
  return 0;
}

}  // namespace
}  // namespace mei::fuzz

int main(int argc, char** argv) {
  try {
    return mei::fuzz::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mei_fuzz_seeds: %s\n", e.what());
    return 1;
  }
}
