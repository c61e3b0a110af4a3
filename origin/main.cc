// mei-origin: the root of the hierarchy. `ingest` turns model files into blocks and a manifest;
// `serve` answers the data-plane API from the store and, with --admin-listen, the admin API that
// ingests while serving. The admin token comes from --admin-token-file or MEI_ADMIN_TOKEN, never
// from a flag value.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/byte_size.h"
#include "common/http/admin_auth.h"
#include "common/store.h"
#include "origin/ingest.h"
#include "origin/serve.h"

namespace {

namespace fs = std::filesystem;
using mei::FormatByteSize;

void PrintReport(const mei::origin::IngestReport& r) {
  const auto& m = r.manifest;
  const double raw = static_cast<double>(r.raw_bytes);
  fmt::print("ingested {}@{} -> commit {}\n", m.model, m.revision, m.commit.Hex());
  fmt::print("  files {}, tensors {}, blocks {} ({} new)\n", r.files, r.tensors, r.blocks,
             r.new_blocks);
  fmt::print("  raw {}: new {}, already stored {} ({:.1f}% deduplicated)\n",
             FormatByteSize(r.raw_bytes), FormatByteSize(r.new_raw_bytes),
             FormatByteSize(r.dedup_raw_bytes),
             raw > 0 ? 100.0 * static_cast<double>(r.dedup_raw_bytes) / raw : 0.0);
  fmt::print("  stored {} for the new blocks ({:.1f}% of their raw size)\n",
             FormatByteSize(r.stored_bytes),
             r.new_raw_bytes > 0 ? 100.0 * static_cast<double>(r.stored_bytes) /
                                       static_cast<double>(r.new_raw_bytes)
                                 : 0.0);
  for (const mei::origin::FormatReport& format : r.formats) {
    const double format_raw = static_cast<double>(format.raw_bytes);
    fmt::print(
        "  {}: files {}, tensors {}, blocks {}, raw {}, {:.1f}% deduplicated\n", format.format,
        format.files, format.tensors, format.blocks, FormatByteSize(format.raw_bytes),
        format_raw > 0 ? 100.0 * static_cast<double>(format.dedup_raw_bytes) / format_raw : 0.0);
  }
  for (const std::string& note : r.notes) fmt::print("  note: {}\n", note);
  fmt::print("  {:.2f} s, {}/s\n", r.seconds,
             FormatByteSize(static_cast<std::uint64_t>(raw / std::max(r.seconds, 1e-9))));
}

int RunIngest(const fs::path& store_dir, const std::vector<fs::path>& inputs,
              const mei::origin::IngestOptions& options, bool json) {
  auto files = mei::origin::CollectInputs(inputs).value();
  auto store = mei::OpenStore(store_dir).value();
  auto report = mei::origin::Ingest(store, files, options).value();
  if (json) {
    std::puts(mei::origin::ToJson(report).c_str());
  } else {
    PrintReport(report);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mei-origin: ingest model files into a MEI-CDN store and serve them"};
  app.require_subcommand(1);

  CLI::App* ingest = app.add_subcommand("ingest", "Chunk, deduplicate, encode and publish files");
  fs::path store_dir;
  std::vector<fs::path> inputs;
  mei::origin::IngestOptions options;
  std::string max_block = "4MiB";
  std::string min_tensor_block = "4KiB";  // ChunkOptions::min_tensor_block
  bool json = false;
  std::uint64_t header_timeout_ms = 10'000;
  std::uint64_t idle_timeout_ms = 60'000;
  ingest->add_option("--store", store_dir, "Store directory (created if missing)")->required();
  ingest->add_option("--model", options.model, "Model id, org/name")->required();
  ingest->add_option("--revision", options.revision, "Revision name to publish")
      ->capture_default_str();
  ingest->add_option("--max-block", max_block, "Largest tensor block")->capture_default_str();
  ingest
      ->add_option("--min-tensor-block", min_tensor_block,
                   "Tensors below this stay with the framing around them (ONNX, TFLite, zip, ...)")
      ->capture_default_str();
  ingest->add_option("--zstd-level", options.encoding.zstd_level, "zstd level for stored blocks")
      ->capture_default_str()
      ->check(CLI::Range(mei::origin::kMinIngestZstdLevel, mei::origin::kMaxIngestZstdLevel));
  ingest
      ->add_option("--min-saving", options.encoding.min_saving,
                   "Keep a codec only if it saves at least this share")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  ingest->add_option("--threads", options.threads, "Hash/encode workers (0: one per core)")
      ->capture_default_str();
  ingest->add_flag("--by-content", options.chunking.by_content_only,
                   "Cut every file by content (FastCDC), ignoring tensors: the baseline to compare "
                   "tensor-aware chunking with");
  ingest->add_flag("--json", json, "Print the report as one JSON object");
  ingest->add_option("paths", inputs, "Files or directories")->required();

  CLI::App* serve = app.add_subcommand("serve", "Serve the data-plane API from a store");
  mei::origin::ServeOptions serve_options;
  serve->add_option("--store", serve_options.store_dir, "Store directory")->required();
  serve->add_option("--listen", serve_options.server.listen, "HOST:PORT (port 0: any free port)")
      ->capture_default_str();
  serve_options.server.io_threads = std::max(1u, std::thread::hardware_concurrency());
  serve
      ->add_option("--io-threads", serve_options.server.io_threads,
                   "Network threads, which also answer hot blocks whole (default: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  serve
      ->add_option("--workers", serve_options.server.worker_threads,
                   "Threads for storage reads and decoding")
      ->capture_default_str()
      ->check(CLI::Range(1u, 256u));
  serve
      ->add_option("--max-connections", serve_options.server.max_connections,
                   "Connections beyond this get 503")
      ->capture_default_str();
  serve
      ->add_option("--header-timeout-ms", header_timeout_ms,
                   "Time for a client to send a request header")
      ->capture_default_str();
  serve
      ->add_option("--idle-timeout-ms", idle_timeout_ms,
                   "Idle time allowed per read between requests and per write")
      ->capture_default_str();
  CLI::Option* admin_listen =
      serve->add_option("--admin-listen", serve_options.admin_listen,
                        "Admin API HOST:PORT (port 0: any free port); none when not given");
  fs::path admin_token_file;
  serve
      ->add_option("--admin-token-file", admin_token_file,
                   "File holding the admin bearer token (or set MEI_ADMIN_TOKEN)")
      ->needs(admin_listen);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    options.chunking.max_block = mei::ParseByteSize(max_block).value();
    options.chunking.min_tensor_block = mei::ParseByteSize(min_tensor_block).value();
    if (*ingest) return RunIngest(store_dir, inputs, options, json);
    if (*serve) {
      serve_options.server.header_timeout = std::chrono::milliseconds(header_timeout_ms);
      serve_options.server.idle_timeout = std::chrono::milliseconds(idle_timeout_ms);
      if (!serve_options.admin_listen.empty()) {
        serve_options.admin_token =
            mei::http::ResolveAdminToken(admin_token_file, "--admin-token-file").value();
      }
      return mei::origin::Serve(serve_options).value();
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "mei-origin: {}\n", e.what());
    return 1;
  }
  return 0;
}
