// UpstreamFixture: what the cache-node unit tests fill from. An upstream store (a real RocksDB
// Store in the test's scratch folder) with blocks framed by the real encoder and manifests that
// pass ValidateManifest, served on a loopback port by TestUpstream (the shared data plane behind a
// handler that counts, holds and corrupts: tests/integration/test_upstream.h), and the cache
// node's own store beside it.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "cache-node/upstream.h"
#include "common/codec.h"
#include "common/manifest.h"
#include "common/metrics.h"
#include "common/store.h"
#include "tests/common/bf16_weights.h"
#include "tests/integration/test_upstream.h"

namespace mei::cache_node::testing {

inline std::vector<std::byte> RandomBytes(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::byte> bytes(size);
  for (std::byte& b : bytes) b = static_cast<std::byte>(rng());
  return bytes;
}

using mei::testing::Bf16Weights;

// Repetitive text: stored as zstd.
inline std::vector<std::byte> TextBytes(std::size_t size) {
  constexpr std::string_view kText = R"({"hidden_size": 64, "num_attention_heads": 4}, )";
  std::vector<std::byte> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>(kText[i % kText.size()]);
  return bytes;
}

// The value of one series of `metrics` ("name" or "name{label=\"value\"}"), 0 when absent.
inline double SeriesValue(const MetricsRegistry& metrics, std::string_view series) {
  const std::string text = metrics.Render();
  const std::string line_start = std::string(series) + ' ';
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    const std::string_view line(text.data() + at, end - at);
    if (line.starts_with(line_start)) return std::stod(std::string(line.substr(line_start.size())));
    at = end + 1;
  }
  return 0;
}

// Spins (yielding, never sleeping) until `done` holds; false after `deadline`.
inline bool WaitUntil(const std::function<bool()>& done,
                      std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::yield();
  }
  return true;
}

inline constexpr std::string_view kModel = "acme/tiny";

class UpstreamFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "_" + info->name();
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("mei_cache_node_" + name + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto upstream_store = OpenStore(dir_ / "upstream");
    ASSERT_TRUE(upstream_store) << upstream_store.error().message;
    upstream_store_ = std::make_shared<Store>(std::move(*upstream_store));
    auto node_store = OpenStore(dir_ / "node");
    ASSERT_TRUE(node_store) << node_store.error().message;
    node_ = std::move(*node_store);
    fetch_.client_id = "node-a";
    fetch_.client.connect_timeout = std::chrono::seconds(2);
    fetch_.client.idle_timeout = std::chrono::seconds(10);
  }

  // Subclasses stop what fills from the upstreams first, then call this.
  void TearDown() override {
    for (auto& upstream : upstreams_) upstream.reset();
    node_ = Store{};
    upstream_store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Puts `raw` into the upstream store, framed by the real encoder; returns its id.
  BlockId AddBlock(const std::vector<std::byte>& raw, std::uint8_t element_width = 0) {
    const BlockId id = BlockIdOf(raw);
    std::vector<std::byte> frame;
    encoder_.Encode(raw, element_width, frame);
    EXPECT_TRUE(upstream_store_->blocks->Put(id, frame));
    raw_[id] = raw;
    return id;
  }

  // A block id no store holds.
  static BlockId MissingBlock(std::uint64_t seed = 999) { return BlockIdOf(RandomBytes(64, seed)); }

  // A valid manifest of `model`@`revision` with one file per entry of `files` (paths sorted by
  // the caller), each made of the given blocks (added before), put into the upstream store.
  Manifest AddModel(std::string_view model, std::string_view revision,
                    const std::vector<std::pair<std::string, std::vector<BlockId>>>& files,
                    std::string created = "2026-11-23T12:00:00Z") {
    Manifest manifest;
    manifest.model = std::string(model);
    manifest.revision = std::string(revision);
    manifest.created = std::move(created);
    for (const auto& [path, ids] : files) {
      ManifestFile file;
      file.path = path;
      file.format = "other";
      std::vector<std::byte> bytes;
      for (const BlockId& id : ids) {
        const std::vector<std::byte>& raw = raw_.at(id);
        file.blocks.push_back({id, bytes.size(), raw.size()});
        bytes.insert(bytes.end(), raw.begin(), raw.end());
      }
      file.size = bytes.size();
      file.sha256 = Sha256Of(bytes);
      manifest.files.push_back(std::move(file));
    }
    manifest.commit = CommitOf(manifest);
    auto valid = ValidateManifest(manifest);
    EXPECT_TRUE(valid) << valid.error().message;
    auto put = upstream_store_->manifests->Put(manifest);
    EXPECT_TRUE(put) << put.error().message;
    return manifest;
  }

  // Lookups the upstream (holding only kModel@main) answers 404 to, with the code it gives.
  struct NotFoundCase {
    std::string model;
    std::string revision;
    Errc code;
  };
  static std::vector<NotFoundCase> NotFoundCases() {
    return {{"acme/unknown", "main", Errc::kModelNotFound},
            {std::string(kModel), "refs/pr/9", Errc::kRevisionNotFound},
            {std::string(kModel), MissingBlock().Hex(), Errc::kRevisionNotFound}};
  }

  // Serves the upstream store on a new loopback port.
  mei::testing::TestUpstream& StartUpstream(std::string name = "origin") {
    upstreams_.push_back(mei::testing::TestUpstream::Start(upstream_store_, std::move(name)));
    EXPECT_NE(upstreams_.back(), nullptr);
    return *upstreams_.back();
  }

  std::filesystem::path dir_;
  std::shared_ptr<Store> upstream_store_;
  Store node_;  // the cache node's own store
  FetchContext fetch_;
  std::map<BlockId, std::vector<std::byte>> raw_;
  std::vector<std::unique_ptr<mei::testing::TestUpstream>> upstreams_;

 private:
  BlockEncoder encoder_;
};

}  // namespace mei::cache_node::testing
