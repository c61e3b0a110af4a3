#include "origin/ingest.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <ctime>
#include <map>
#include <set>
#include <system_error>
#include <thread>

#include "common/byte_source.h"
#include "common/digest.h"
#include "origin/internal/block_pipeline.h"
#include "origin/internal/tensor_maps.h"

namespace mei::origin {
namespace {

namespace fs = std::filesystem;

std::string NowRfc3339Utc() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

Result<void> AddInput(const fs::path& source, std::string path, std::vector<InputFile>& out) {
  if (auto valid = ValidateFilePath(path); !valid) return valid.error();
  out.push_back({source, std::move(path)});
  return {};
}

Result<void> AddDirectory(const fs::path& dir, std::vector<InputFile>& out) {
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code entry_ec;  // an entry that vanished meanwhile is skipped, not an error
    if (it->is_directory(entry_ec) && it->path().filename() == ".git") {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(entry_ec)) continue;
    if (auto added = AddInput(it->path(), it->path().lexically_relative(dir).generic_string(), out);
        !added) {
      return added.error();
    }
  }
  if (ec) return Error{Errc::kIo, fmt::format("cannot list {}: {}", dir.string(), ec.message())};
  return {};
}

// Reads every block of one file in order, feeding the file hash here and the block hashing,
// encoding and storing to the pipeline. `file` must stay in place until the pipeline drains.
// The pipeline's group of a file's blocks: its format.
std::size_t GroupOf(FileFormat format) { return static_cast<std::size_t>(format); }

// The plan of `source`: along the tensors another file maps onto it when one does (and they fit
// it), else by the format its name suggests.
Result<ChunkPlan> PlanFile(const ByteSource& source, const BorrowedMap* map,
                           const ChunkOptions& chunking) {
  if (map != nullptr) {
    auto plan = PlanChunksAlong(source, map->format, map->tensors, chunking);
    if (plan || plan.error().code != Errc::kBadModelFile) return plan;
    auto by_content = PlanChunks(source, FileFormat::kOther, chunking);
    if (by_content) {
      by_content->fallbacks.push_back(
          fmt::format("{} was cut by content, not along the tensors {} names: {}", source.name(),
                      map->from, plan.error().message));
    }
    return by_content;
  }
  return PlanChunks(source, FormatForPath(source.name()), chunking);
}

Result<void> ReadFile(const InputFile& input, const BorrowedMap* map, const ChunkOptions& chunking,
                      BlockPipeline& pipeline, ManifestFile& file,
                      std::vector<std::string>& notes) {
  auto opened = FileByteSource::Open(input.source);
  if (!opened) return opened.error();
  // Named by its path in the manifest, so that the plan's notes name the file as the operator's
  // report shows it.
  const SliceByteSource source(*opened, 0, opened->size(), input.path);
  auto plan = PlanFile(source, map, chunking);
  if (!plan) {
    // Parsers name the file (by its manifest path): named here by its source instead.
    Error error = plan.error();  // a copy: boost::system::result::error() returns by value
    if (error.message.starts_with(input.path + ": ")) {
      error.message.erase(0, input.path.size() + 2);
    }
    error.message = fmt::format("{}: {}", input.source.string(), error.message);
    return error;
  }
  const FileFormat format = plan->format;
  for (std::string& reason : plan->fallbacks) notes.push_back(std::move(reason));
  file.path = input.path;
  file.size = source.size();
  file.format = std::string(NameOf(format));
  file.tensors = std::move(plan->tensors);
  file.blocks.resize(plan->blocks.size());
  Sha256Hasher file_hash;
  for (std::size_t i = 0; i < plan->blocks.size(); ++i) {
    const BlockExtent& extent = plan->blocks[i];
    auto buffer = pipeline.TakeBuffer(static_cast<std::size_t>(extent.size));
    if (!buffer) return {};  // a worker failed; Drain() reports why
    if (auto read = source.ReadAt(extent.offset, *buffer); !read) return read.error();
    file_hash.Update(*buffer);
    file.blocks[i].offset = extent.offset;
    file.blocks[i].size = extent.size;
    pipeline.Submit(std::move(*buffer), extent.element_width, &file.blocks[i], GroupOf(format));
  }
  file.sha256 = file_hash.Finish();
  return {};
}

}  // namespace

Result<std::vector<InputFile>> CollectInputs(const std::vector<fs::path>& inputs) {
  std::vector<InputFile> files;
  for (const fs::path& input : inputs) {
    std::error_code ec;
    const fs::file_status status = fs::status(input, ec);
    if (ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory ||
        (!ec && !fs::exists(status))) {
      return Error{Errc::kFileNotFound, fmt::format("input {} does not exist", input.string())};
    }
    if (ec) {
      return Error{Errc::kIo, fmt::format("cannot examine {}: {}", input.string(), ec.message())};
    }
    if (!fs::is_directory(status) && !fs::is_regular_file(status)) {
      return Error{
          Errc::kBadRequest,
          fmt::format("input {} is neither a regular file nor a directory", input.string())};
    }
    Result<void> added = fs::is_directory(status)
                             ? AddDirectory(input, files)
                             : AddInput(input, input.filename().generic_string(), files);
    if (!added) return added.error();
  }
  if (files.empty()) return Error{Errc::kBadRequest, "the inputs hold no files to ingest"};
  std::sort(files.begin(), files.end(),
            [](const InputFile& a, const InputFile& b) { return a.path < b.path; });
  for (std::size_t i = 1; i < files.size(); ++i) {
    if (files[i].path == files[i - 1].path) {
      return Error{Errc::kBadRequest,
                   fmt::format("{} and {} would both be stored as {}", files[i - 1].source.string(),
                               files[i].source.string(), files[i].path)};
    }
  }
  return files;
}

Result<void> ValidateIngestOptions(const IngestOptions& options) {
  if (auto model = ValidateModelName(options.model); !model) return model.error();
  if (auto rev = ValidateRevisionName(options.revision); !rev) return rev.error();
  if (options.chunking.max_block == 0) {
    return Error{Errc::kBadRequest, "the maximum block size must be positive"};
  }
  const int level = options.encoding.zstd_level;
  if (level < kMinIngestZstdLevel || level > kMaxIngestZstdLevel) {
    return Error{Errc::kBadRequest, fmt::format("the zstd level must be from {} to {}, not {}",
                                                kMinIngestZstdLevel, kMaxIngestZstdLevel, level)};
  }
  const double saving = options.encoding.min_saving;
  if (!(saving >= 0.0 && saving <= 1.0)) {
    return Error{Errc::kBadRequest,
                 fmt::format("the minimum saving must be from 0 to 1, not {}", saving)};
  }
  return {};
}

std::string ToJson(const IngestReport& report) {
  boost::json::object formats;
  for (const FormatReport& format : report.formats) {
    formats[format.format] = boost::json::object{
        {"files", format.files},
        {"tensors", format.tensors},
        {"blocks", format.blocks},
        {"raw_bytes", format.raw_bytes},
        {"new_raw_bytes", format.new_raw_bytes},
        {"dedup_raw_bytes", format.dedup_raw_bytes},
        {"stored_bytes", format.stored_bytes},
    };
  }
  return boost::json::serialize(boost::json::object{
      {"model", report.manifest.model},
      {"revision", report.manifest.revision},
      {"commit", report.manifest.commit.Hex()},
      {"files", report.files},
      {"tensors", report.tensors},
      {"blocks", report.blocks},
      {"new_blocks", report.new_blocks},
      {"raw_bytes", report.raw_bytes},
      {"new_raw_bytes", report.new_raw_bytes},
      {"dedup_raw_bytes", report.dedup_raw_bytes},
      {"stored_bytes", report.stored_bytes},
      {"seconds", report.seconds},
      {"formats", std::move(formats)},
      {"notes", boost::json::value_from(report.notes)},
  });
}

Result<IngestReport> Ingest(Store& store, const std::vector<InputFile>& files,
                            const IngestOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  if (auto valid = ValidateIngestOptions(options); !valid) return valid.error();

  IngestReport report;
  Manifest& manifest = report.manifest;
  manifest.model = options.model;
  manifest.revision = options.revision;
  manifest.files.resize(files.size());  // never resized again: the pipeline writes into it
  {
    const unsigned threads =
        options.threads != 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    BlockPipeline pipeline(*store.blocks, threads, options.encoding);
    const std::map<std::string, BorrowedMap> maps = options.chunking.by_content_only
                                                        ? std::map<std::string, BorrowedMap>()
                                                        : ReadTensorMaps(files, report.notes);
    Result<void> read;
    for (std::size_t i = 0; i < files.size() && read; ++i) {
      const auto map = maps.find(files[i].path);
      read = ReadFile(files[i], map != maps.end() ? &map->second : nullptr, options.chunking,
                      pipeline, manifest.files[i], report.notes);
    }
    Result<void> drained = pipeline.Drain();
    if (!read) return read.error();
    if (!drained) return drained.error();
    const PipelineTotals totals = pipeline.totals();
    report.new_blocks = totals.new_blocks;
    report.new_raw_bytes = totals.new_raw_bytes;
    report.dedup_raw_bytes = totals.dedup_raw_bytes;
    report.stored_bytes = totals.stored_bytes;
    std::vector<FileFormat> formats = {FileFormat::kOther};
    for (const ModelFormat& format : ModelFormats()) formats.push_back(format.id);
    for (const FileFormat format : formats) {
      const PipelineTotals by_format = pipeline.totals(GroupOf(format));
      FormatReport& entry = report.formats.emplace_back();
      entry.format = std::string(NameOf(format));
      entry.new_raw_bytes = by_format.new_raw_bytes;
      entry.dedup_raw_bytes = by_format.dedup_raw_bytes;
      entry.stored_bytes = by_format.stored_bytes;
    }
  }

  manifest.created = NowRfc3339Utc();
  manifest.commit = CommitOf(manifest);
  if (auto put = store.manifests->Put(manifest); !put) return put.error();

  report.files = manifest.files.size();
  for (const ManifestFile& file : manifest.files) {
    report.tensors += file.tensors.size();
    report.blocks += file.blocks.size();
    report.raw_bytes += file.size;
    for (FormatReport& format : report.formats) {
      if (format.format != file.format) continue;
      ++format.files;
      format.tensors += file.tensors.size();
      format.blocks += file.blocks.size();
      format.raw_bytes += file.size;
    }
  }
  std::erase_if(report.formats, [](const FormatReport& format) { return format.files == 0; });
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace mei::origin
