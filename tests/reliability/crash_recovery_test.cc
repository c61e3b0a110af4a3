// Crash recovery (issue 8, "Fault tests"): what a SIGKILL at a random moment leaves behind.
//
// A mei-cache-node with a store too small for its two models is killed twenty times while clients
// keep it filling and evicting. After each kill, before anything else touches the store, the test
// opens the store itself and checks every block (frame, raw size, SHA-256 equal to the id), that
// frames and their metadata agree, that the byte counters are exact and that every manifest
// loads and validates. The node then restarts on that store, reports the same blocks, and serves
// every file of both models byte for byte.
//
// `mei-origin ingest` is killed mid-way ten times, into an empty store and into one that already
// publishes another model. After each kill the store opens and verifies as above, the model is
// either not published at all or published whole (every block its manifest names is there), and
// `mei-origin serve` shows no partial publish; the earlier model is intact. A rerun of the same
// ingest then completes, and both models are served byte for byte.
//
// The kill moments come from a seeded generator: the seed is printed, and MEI_CRASH_SEED=<seed>
// replays it.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/block_id.h"
#include "common/codec.h"
#include "common/errc.h"
#include "common/manifest.h"
#include "common/store.h"
#include "tests/integration/process.h"
#include "tests/integration/served_cache_node.h"
#include "tests/integration/served_origin.h"

namespace mei {
namespace {

namespace fs = std::filesystem;
using testing::AdminStatus;
using testing::CacheNodeTest;
using testing::ChildProcess;
using testing::ExpectJsonError;
using testing::Get;
using testing::MetricValue;
using testing::ServedCacheNode;
using testing::ServedOrigin;
using testing::Sha256OfFile;
using testing::Sha256OfString;
using testing::StoredBlockIds;
using testing::UniqueBlocks;

// The seed of this test's kill moments: MEI_CRASH_SEED when set, else a fresh one. Printed, so
// that a failure can be replayed.
std::uint64_t CrashSeed() {
  std::uint64_t seed = 0;
  if (const char* text = std::getenv("MEI_CRASH_SEED"); text != nullptr && *text != '\0') {
    seed = std::stoull(text);
  } else {
    seed = (std::uint64_t{std::random_device{}()} << 32) | std::random_device{}();
  }
  std::cout << "crash seed " << seed << " (MEI_CRASH_SEED=" << seed << " replays it)" << std::endl;
  ::testing::Test::RecordProperty("crash_seed", std::to_string(seed));
  return seed;
}

// A store's RocksDB database opened directly, past mei::Store, for what its API does not offer:
// the keys of a column family, and losing a frame the way a damaged disk would. Its owner must
// be dead (RocksDB's lock). ADD_FAILURE and null when it does not open.
class RawStore {
 public:
  static std::unique_ptr<RawStore> Open(const fs::path& dir, bool read_only) {
    std::vector<std::string> names;
    rocksdb::Status status =
        rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.string(), &names);
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const std::string& name : names) {
      families.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    if (status.ok()) {
      status = read_only
                   ? rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), dir.string(), families,
                                                  &handles, &db)
                   : rocksdb::DB::Open(rocksdb::DBOptions(), dir.string(), families, &handles, &db);
    }
    if (!status.ok()) {
      ADD_FAILURE() << "RocksDB does not open " << dir << ": " << status.ToString();
      return nullptr;
    }
    auto raw = std::unique_ptr<RawStore>(new RawStore());
    raw->db_.reset(db);
    for (std::size_t i = 0; i < names.size(); ++i) raw->families_[names[i]] = handles[i];
    return raw;
  }

  ~RawStore() {
    for (const auto& [name, handle] : families_) {
      db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
    }
    db_->Close().PermitUncheckedError();
  }

  std::set<std::string> Keys(const std::string& family) const {
    std::set<std::string> keys;
    const std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), families_.at(family)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) keys.insert(it->key().ToString());
    EXPECT_TRUE(it->status().ok()) << it->status().ToString();
    return keys;
  }

  // Deletes the frame of `id` and leaves its metadata, durably.
  void LoseFrame(const BlockId& id) {
    const auto binary = id.Binary();
    const rocksdb::Slice key(reinterpret_cast<const char*>(binary.data()), binary.size());
    rocksdb::WriteOptions durable;
    durable.sync = true;
    const rocksdb::Status status = db_->Delete(durable, families_.at("blocks"), key);
    EXPECT_TRUE(status.ok()) << status.ToString();
  }

 private:
  RawStore() = default;
  std::unique_ptr<rocksdb::DB> db_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> families_;
};

// EXPECTs that the store at `dir` holds a frame for every block it has metadata for, and
// metadata for every frame (common/store.h: blocks, their metadata and the counters agree after a
// crash). A frame without metadata is space the node can neither serve nor evict; metadata
// without a frame is a block the node believes it holds.
void ExpectFramesMatchMetadata(const fs::path& dir) {
  const auto raw = RawStore::Open(dir, /*read_only=*/true);
  ASSERT_TRUE(raw);
  const std::set<std::string> frames = raw->Keys("blocks");
  const std::set<std::string> metadata = raw->Keys("block_meta");
  std::vector<std::string> frame_only;
  std::set_difference(frames.begin(), frames.end(), metadata.begin(), metadata.end(),
                      std::back_inserter(frame_only));
  std::vector<std::string> metadata_only;
  std::set_difference(metadata.begin(), metadata.end(), frames.begin(), frames.end(),
                      std::back_inserter(metadata_only));
  EXPECT_TRUE(frame_only.empty()) << frame_only.size() << " of " << frames.size()
                                  << " stored frames have no metadata";
  EXPECT_TRUE(metadata_only.empty())
      << metadata_only.size() << " of " << metadata.size() << " blocks' metadata have no frame";
}

// What a store holds, each part verified by AuditStore.
struct StoreAudit {
  std::set<BlockId> blocks;
  std::vector<Manifest> manifests;  // one per revision name
};

// Opens the store at `dir` in this process (its owner must be dead: RocksDB's lock) and checks
// everything in it: frames agree with metadata; every block's frame parses and decodes to its
// raw size with a SHA-256 equal to its id, its metadata matching the frame; the byte and block
// counters equal the sums over the blocks; every revision's manifest loads, validates, has the
// commit it is listed under, and loads by that commit too. ADD_FAILUREs name what is wrong.
StoreAudit AuditStore(const fs::path& dir) {
  StoreAudit audit;
  ExpectFramesMatchMetadata(dir);
  StoreOptions options;
  options.create_if_missing = false;
  auto store = OpenStore(dir, options);
  if (!store) {
    ADD_FAILURE() << "the store does not open: " << store.error().message;
    return audit;
  }
  std::vector<std::pair<BlockId, BlockMeta>> listed;
  auto each = store->blocks->ForEach([&](const BlockId& id, const BlockMeta& meta) {
    listed.emplace_back(id, meta);
    return true;
  });
  EXPECT_TRUE(each) << (each ? "" : each.error().message);
  std::uint64_t stored_bytes = 0;
  std::vector<std::byte> raw;
  for (const auto& [id, meta] : listed) {
    stored_bytes += meta.stored_size;
    audit.blocks.insert(id);
    auto frame = store->blocks->Get(id);
    if (frame) {
      if (auto loaded = frame->Load(); !loaded) frame = loaded.error();
    }
    if (!frame) {
      ADD_FAILURE() << "block " << id.Hex()
                    << " is listed but its frame is not readable: " << frame.error().message;
      continue;
    }
    EXPECT_EQ(frame->frame().size(), meta.stored_size) << "block " << id.Hex();
    EXPECT_EQ(frame->header().raw_size, meta.raw_size) << "block " << id.Hex();
    EXPECT_EQ(frame->header().codec, meta.codec) << "block " << id.Hex();
    raw.clear();
    BlockDecoder decoder;
    auto decoded = decoder.Decode(frame->frame(), raw);
    if (!decoded) {
      ADD_FAILURE() << "block " << id.Hex() << " does not decode: " << decoded.error().message;
      continue;
    }
    EXPECT_EQ(raw.size(), meta.raw_size) << "block " << id.Hex() << " is partial";
    EXPECT_EQ(BlockIdOf(raw), id) << "block " << id.Hex() << " holds other bytes";
  }
  EXPECT_EQ(store->blocks->block_count(), listed.size()) << "the block counter is off";
  EXPECT_EQ(store->blocks->stored_bytes(), stored_bytes) << "the stored-bytes counter is off";

  auto revisions = store->manifests->List();
  if (!revisions) {
    ADD_FAILURE() << "the manifests do not list: " << revisions.error().message;
    return audit;
  }
  for (const ManifestStore::RevisionEntry& entry : *revisions) {
    const std::string name = entry.model + "@" + entry.revision;
    auto manifest = store->manifests->Get(entry.model, entry.revision);
    if (!manifest) {
      ADD_FAILURE() << name << " does not load: " << manifest.error().message;
      continue;
    }
    auto valid = ValidateManifest(*manifest);
    EXPECT_TRUE(valid) << name << ": " << (valid ? "" : valid.error().message);
    EXPECT_EQ(CommitOf(*manifest), manifest->commit) << name;
    EXPECT_EQ(manifest->commit.Hex(), entry.commit) << name;
    auto by_commit = store->manifests->Get(entry.model, entry.commit);
    EXPECT_TRUE(by_commit) << name
                           << " by commit: " << (by_commit ? "" : by_commit.error().message);
    audit.manifests.push_back(std::move(*manifest));
  }
  return audit;
}

// The SHA-256 of every file of `manifest`, from the source folder mei-synth wrote it to.
std::map<std::string, Sha256Digest> SourceDigests(const Manifest& manifest,
                                                  const fs::path& source_dir) {
  std::map<std::string, Sha256Digest> digests;
  for (const ManifestFile& file : manifest.files) {
    digests[file.path] = Sha256OfFile(source_dir / file.path);
  }
  return digests;
}

// GETs every file of `manifest` (at revision main) from `base_url` and EXPECTs each to be its
// source, byte for byte.
void ExpectModelServed(const std::string& base_url, const Manifest& manifest,
                       const std::map<std::string, Sha256Digest>& sources) {
  for (const ManifestFile& file : manifest.files) {
    const std::string url = base_url + "/" + manifest.model + "/resolve/main/" + file.path;
    const http::ClientResponse response = Get(url);
    EXPECT_EQ(response.status, 200) << url << ": " << response.body.substr(0, 200);
    EXPECT_EQ(Sha256OfString(response.body), sources.at(file.path)) << url;
  }
}

// Clients that keep a cache node filling and evicting until stopped: one per model downloading
// all its files over and over, and one fetching random blocks of any model. What they receive
// is not checked (the node is killed under them); they only make work.
class NodeLoad {
 public:
  NodeLoad(const ServedCacheNode& node, const std::vector<const Manifest*>& models,
           std::uint64_t seed) {
    std::vector<BlockId> blocks;
    for (const Manifest* manifest : models) {
      std::vector<std::string> urls;
      for (const ManifestFile& file : manifest->files) {
        urls.push_back(node.Url("/" + manifest->model + "/resolve/main/" + file.path));
      }
      threads_.emplace_back([this, urls] {
        while (!stop_.load()) {
          for (const std::string& url : urls) (void)testing::FetchOnce(url);
        }
      });
      const std::vector<BlockId> ids = UniqueBlocks(*manifest);
      blocks.insert(blocks.end(), ids.begin(), ids.end());
    }
    threads_.emplace_back([this, blocks, url = node.Url("/v1/blocks/"), seed] {
      std::mt19937_64 random(seed);
      std::uniform_int_distribution<std::size_t> pick(0, blocks.size() - 1);
      while (!stop_.load()) (void)testing::FetchOnce(url + blocks[pick(random)].Hex());
    });
  }
  ~NodeLoad() { Stop(); }
  NodeLoad(const NodeLoad&) = delete;
  NodeLoad& operator=(const NodeLoad&) = delete;

  void Stop() {
    stop_.store(true);
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// The sum of the stored sizes of a model's distinct blocks in the suite's upstream store.
std::uint64_t StoredBytesOf(const Manifest& manifest,
                            std::uint64_t (*stored_size)(const BlockId&)) {
  std::uint64_t total = 0;
  for (const BlockId& id : UniqueBlocks(manifest)) total += stored_size(id);
  return total;
}

TEST_F(CacheNodeTest, TwentyKillNinesDuringFillsAndEvictionsLeaveAVerifiedStoreThatServesAll) {
  constexpr int kRounds = 20;
  std::mt19937_64 random(CrashSeed());
  auto origin = StartUpstream();
  ASSERT_TRUE(origin);
  const std::vector<const Manifest*> models = {&base_, &small_};
  // Both models are ingested from the same mei-synth folder.
  std::map<std::string, Sha256Digest> sources;
  for (const ManifestFile& file : base_.files) sources[file.path] = Sha256OfFile(Source(file.path));

  // Room for either model whole (with a block to spare below the low watermark, so that a model
  // downloaded alone is never evicted under its own download), never for both: every switch from
  // one model to the other evicts.
  std::set<BlockId> all_blocks;
  std::uint64_t largest_model = 0;
  std::uint64_t largest_block = 0;
  for (const Manifest* manifest : models) {
    largest_model = std::max(largest_model, StoredBytesOf(*manifest, &StoredSize));
    for (const BlockId& id : UniqueBlocks(*manifest)) {
      all_blocks.insert(id);
      largest_block = std::max(largest_block, StoredSize(id));
    }
  }
  std::uint64_t both = 0;
  for (const BlockId& id : all_blocks) both += StoredSize(id);
  const auto capacity =
      static_cast<std::uint64_t>(static_cast<double>(largest_model + largest_block) / 0.85);
  ASSERT_LT(static_cast<double>(capacity) * 0.95, static_cast<double>(both))
      << "the two models fit together: nothing would be evicted";
  const std::vector<std::string> node_args = {"--capacity", std::to_string(capacity)};
  const fs::path store = scratch_ / "edge-store";

  ServedCacheNode node = StartNode("edge-1", origin->Url(), node_args, store, "start");
  ASSERT_FALSE(node.endpoint.empty());
  // A cold download of both models: correct, and how long a round of fills takes here, which
  // bounds the random kill delays.
  const auto cold_started = std::chrono::steady_clock::now();
  for (const Manifest* manifest : models) ExpectModelServed(node.Url(), *manifest, sources);
  const auto cold = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - cold_started);
  ASSERT_FALSE(HasFailure());
  std::cout << "cold download of both models: " << cold.count() << " ms" << std::endl;

  double evictions = 0;
  for (int round = 1; round <= kRounds; ++round) {
    std::uniform_int_distribution<std::int64_t> delay_ms(0,
                                                         std::max<std::int64_t>(cold.count(), 50));
    const std::chrono::milliseconds delay(delay_ms(random));
    SCOPED_TRACE("round " + std::to_string(round) + ", killed " + std::to_string(delay.count()) +
                 " ms after its first fill");
    {
      const std::uint64_t requests_before = origin->block_requests();
      NodeLoad load(node, models, random());
      // Neither model fits beside the other, so the load always misses: its first fill is the
      // start of the round's work.
      ASSERT_TRUE(origin->WaitForBlockRequests(requests_before + 1));
      std::this_thread::sleep_for(delay);
      evictions += MetricValue(node.Url("/metrics"), "mei_cache_evictions_total").value_or(0);
      node.process.Signal(SIGKILL);
      ASSERT_EQ(node.process.WaitFor(std::chrono::seconds(30)), 128 + SIGKILL);
    }

    const StoreAudit audit = AuditStore(store);
    std::uint64_t kept_bytes = 0;
    for (const BlockId& id : audit.blocks)
      kept_bytes += all_blocks.contains(id) ? StoredSize(id) : 0;
    std::cout << "round " << round << ": killed " << delay.count() << " ms after its first fill; "
              << audit.blocks.size() << " blocks (" << kept_bytes << " bytes) kept" << std::endl;
    for (const BlockId& id : audit.blocks) {
      EXPECT_TRUE(all_blocks.contains(id))
          << "block " << id.Hex() << " is no block of either model";
    }
    // Both manifests were fetched (and synced) before the first kill.
    EXPECT_EQ(audit.manifests.size(), models.size()) << "the node lost a manifest it had stored";
    for (const Manifest& manifest : audit.manifests) {
      const bool known = (manifest.model == base_.model && manifest.commit == base_.commit) ||
                         (manifest.model == small_.model && manifest.commit == small_.commit);
      EXPECT_TRUE(known) << "the node persisted " << manifest.model << "@" << manifest.revision
                         << " at commit " << manifest.commit.Hex()
                         << ", which the origin never had";
    }

    node = StartNode("edge-1", origin->Url(), node_args, store, "round-" + std::to_string(round));
    ASSERT_FALSE(node.endpoint.empty()) << "the node does not start on its killed store";
    const std::vector<BlockId> reported = StoredBlockIds(node);
    EXPECT_EQ(std::set<BlockId>(reported.begin(), reported.end()), audit.blocks)
        << "the restarted node reports other blocks than its store holds";
    EXPECT_EQ(reported.size(), audit.blocks.size());
    EXPECT_EQ(AdminStatus(node).at("blocks").to_number<std::uint64_t>(), audit.blocks.size());
    for (const BlockId& id : audit.blocks) {
      const http::ClientResponse block = Get(node.Url("/v1/blocks/" + id.Hex()));
      EXPECT_EQ(block.status, 200) << id.Hex() << ": " << block.body;
      EXPECT_EQ(block.Header("X-Cache"), "HIT") << id.Hex();
      EXPECT_EQ(Sha256OfString(block.body), id) << "kept block " << id.Hex() << " is damaged";
    }

    std::vector<const Manifest*> order = models;
    std::shuffle(order.begin(), order.end(), random);
    for (const Manifest* manifest : order) ExpectModelServed(node.Url(), *manifest, sources);
    evictions += MetricValue(node.Url("/metrics"), "mei_cache_evictions_total").value_or(0);
    if (HasFailure()) break;
  }
  EXPECT_GT(evictions, 0) << "no round evicted anything: the test did not exercise eviction";
}

// A frame lost while its metadata stayed (a damaged disk, or a kill after an eviction in a store
// whose column families flush one by one): the node believes it holds the block. Its next request
// fills it again instead of failing with 507 for ever, and the store is whole afterwards.
TEST_F(CacheNodeTest, ABlockWhoseFrameWasLostIsFilledAgainOnItsNextRequest) {
  auto origin = StartUpstream();
  ASSERT_TRUE(origin);
  const fs::path store = scratch_ / "edge-store";
  const BlockId id = LargestBlock(small_).id;
  const std::string url_path = "/v1/blocks/" + id.Hex();
  {
    ServedCacheNode node = StartNode("edge-1", origin->Url(), {}, store, "before");
    ASSERT_FALSE(node.endpoint.empty());
    ASSERT_EQ(Get(node.Url(url_path)).status, 200);
    node.process.Signal(SIGTERM);
    ASSERT_EQ(node.process.WaitFor(std::chrono::seconds(30)), 0);
  }
  {
    auto raw = RawStore::Open(store, /*read_only=*/false);
    ASSERT_TRUE(raw);
    raw->LoseFrame(id);
  }
  ServedCacheNode node = StartNode("edge-1", origin->Url(), {}, store, "after");
  ASSERT_FALSE(node.endpoint.empty());
  const std::vector<BlockId> listed = StoredBlockIds(node);
  ASSERT_NE(std::find(listed.begin(), listed.end(), id), listed.end())
      << "the node does not believe it holds the block: the test lost nothing it could heal";

  const std::uint64_t requests = origin->block_requests_for(id);
  const http::ClientResponse refilled = Get(node.Url(url_path));
  EXPECT_EQ(refilled.status, 200) << refilled.body;
  EXPECT_EQ(Sha256OfString(refilled.body), id);
  EXPECT_EQ(origin->block_requests_for(id), requests + 1);
  const http::ClientResponse hit = Get(node.Url(url_path));
  EXPECT_EQ(hit.status, 200) << hit.body;
  EXPECT_EQ(hit.Header("X-Cache"), "HIT");
  EXPECT_EQ(Sha256OfString(hit.body), id);

  node.process.Signal(SIGTERM);
  ASSERT_EQ(node.process.WaitFor(std::chrono::seconds(30)), 0);
  EXPECT_TRUE(AuditStore(store).blocks.contains(id));
}

// Ingest and serve of two mei-synth models: acme/earlier (the base), already published in some
// stores, and acme/target (an unrelated model line, so it shares no block with the base), whose
// ingest is killed.
class IngestCrashTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::path(::testing::TempDir()) / ("ingest_crash_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    if (!testing::Synthesize(dir_ / "models", "32MiB", "base,unrelated", dir_ / "synth")) return;
    earlier_commit_ = testing::Ingest(dir_ / "seeded-store", "acme/earlier",
                                      dir_ / "models" / "base", dir_ / "a");
    if (earlier_commit_.empty()) return;
    // How much an ingest of the target writes into an empty store: the kill thresholds are shares
    // of it.
    const fs::path reference = dir_ / "reference-store";
    if (!CreateEmptyStore(reference)) return;
    const std::uint64_t empty = DirectoryBytes(reference);
    if (testing::Ingest(reference, "acme/target", Target(), dir_ / "b").empty()) return;
    target_bytes_ = DirectoryBytes(reference) - empty;

    auto seeded = OpenStore(dir_ / "seeded-store");
    auto reference_store = OpenStore(reference);
    if (!seeded || !reference_store) {
      ADD_FAILURE() << "the stores made by ingest do not open";
      return;
    }
    auto earlier = seeded->manifests->Get("acme/earlier", "main");
    auto target = reference_store->manifests->Get("acme/target", "main");
    if (!earlier || !target) {
      ADD_FAILURE() << "the ingested manifests are missing";
      return;
    }
    earlier_ = std::move(*earlier);
    target_ = std::move(*target);
    earlier_sources_ = SourceDigests(earlier_, dir_ / "models" / "base");
    target_sources_ = SourceDigests(target_, Target());
    ready_ = true;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  void SetUp() override { ASSERT_TRUE(ready_) << "the models were not made (see above)"; }

  static fs::path Target() { return dir_ / "models" / "unrelated"; }

  static bool CreateEmptyStore(const fs::path& dir) {
    auto store = OpenStore(dir);
    EXPECT_TRUE(store) << (store ? "" : store.error().message);
    return static_cast<bool>(store);
  }

  // The bytes of the regular files under `dir`, counting none that vanish while it looks.
  static std::uint64_t DirectoryBytes(const fs::path& dir) {
    std::uint64_t total = 0;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code size_ec;
      const std::uintmax_t size = it->is_regular_file(size_ec) ? it->file_size(size_ec) : 0;
      if (!size_ec) total += size;
    }
    return total;
  }

  static inline fs::path dir_;
  static inline bool ready_ = false;
  static inline std::string earlier_commit_;
  static inline std::uint64_t target_bytes_ = 0;
  static inline Manifest earlier_;
  static inline Manifest target_;
  static inline std::map<std::string, Sha256Digest> earlier_sources_;
  static inline std::map<std::string, Sha256Digest> target_sources_;
};

// The (model, commit) pairs GET /v1/models lists.
std::set<std::pair<std::string, std::string>> ListedModels(const ServedOrigin& origin) {
  std::set<std::pair<std::string, std::string>> listed;
  const http::ClientResponse response = Get(origin.Url("/v1/models"));
  boost::system::error_code ec;
  const boost::json::value body = boost::json::parse(response.body, ec);
  if (response.status != 200 || ec || !body.is_object()) {
    ADD_FAILURE() << "GET /v1/models: " << response.status << " " << response.body;
    return listed;
  }
  for (const boost::json::value& model : body.at("models").as_array()) {
    for (const boost::json::value& revision : model.at("revisions").as_array()) {
      listed.emplace(std::string(model.at("model").as_string()),
                     std::string(revision.at("commit").as_string()));
    }
  }
  return listed;
}

TEST_F(IngestCrashTest, IngestKilledMidWayPublishesAllOrNothingAndARerunCompletes) {
  constexpr int kRounds = 10;
  std::mt19937_64 random(CrashSeed());
  // Past 1, the ingest finishes first: some rounds check a whole publish instead of a kill.
  std::uniform_real_distribution<double> share(0.0, 1.1);
  int killed_rounds = 0;
  int mid_way_rounds = 0;  // killed with some of the model's blocks stored and nothing published
  for (int round = 1; round <= kRounds; ++round) {
    // Odd rounds ingest into a store that already publishes acme/earlier, even ones into an empty
    // store.
    const bool seeded = round % 2 == 1;
    const double kill_share = share(random);
    SCOPED_TRACE("round " + std::to_string(round) + (seeded ? ", store with acme/earlier" : "") +
                 ", killed once " + std::to_string(kill_share) +
                 " of the ingest's bytes are written");
    const fs::path scratch = dir_ / ("round-" + std::to_string(round));
    const fs::path store = scratch / "store";
    fs::create_directories(scratch);
    if (seeded) {
      fs::copy(dir_ / "seeded-store", store, fs::copy_options::recursive);
    } else {
      ASSERT_TRUE(CreateEmptyStore(store));
    }

    const std::uint64_t threshold =
        DirectoryBytes(store) +
        static_cast<std::uint64_t>(kill_share * static_cast<double>(target_bytes_));
    ChildProcess ingest =
        ChildProcess::Start({testing::BinaryPath("origin/mei-origin").string(), "ingest", "--store",
                             store.string(), "--model", "acme/target", "--json", Target().string()},
                            scratch / "ingest");
    ASSERT_TRUE(ingest.started());
    // Written bytes are what an observer can see of the ingest's progress.
    ASSERT_TRUE(testing::PollUntil([&] {
      return DirectoryBytes(store) >= threshold ||
             ingest.WaitFor(std::chrono::milliseconds(0)).has_value();
    }));
    ingest.Signal(SIGKILL);
    const std::optional<int> exit = ingest.WaitFor(std::chrono::seconds(30));
    ASSERT_TRUE(exit == 0 || exit == 128 + SIGKILL)
        << "ingest exited with " << exit.value_or(-1) << ": " << ingest.Stderr();
    if (exit == 128 + SIGKILL) ++killed_rounds;

    const StoreAudit audit = AuditStore(store);
    const Manifest* published_target = nullptr;
    for (const Manifest& manifest : audit.manifests) {
      if (manifest.model == "acme/target") {
        published_target = &manifest;
      } else {
        EXPECT_TRUE(seeded && manifest.model == "acme/earlier" &&
                    manifest.commit.Hex() == earlier_commit_)
            << "the store publishes " << manifest.model << " at " << manifest.commit.Hex();
      }
      for (const BlockId& id : UniqueBlocks(manifest)) {
        EXPECT_TRUE(audit.blocks.contains(id))
            << manifest.model << " is published without its block " << id.Hex();
      }
    }
    EXPECT_TRUE(exit != 0 || published_target) << "a finished ingest published nothing";
    const std::vector<BlockId> target_blocks = UniqueBlocks(target_);
    const auto written =
        std::count_if(target_blocks.begin(), target_blocks.end(),
                      [&](const BlockId& id) { return audit.blocks.contains(id); });
    std::cout << "round " << round << ": " << (exit == 0 ? "finished" : "killed") << " with "
              << written << " of " << target_blocks.size() << " blocks stored, "
              << (published_target ? "published" : "not published") << std::endl;
    if (exit != 0 && !published_target && written > 0) ++mid_way_rounds;
    EXPECT_EQ(audit.manifests.size(), (seeded ? 1u : 0u) + (published_target ? 1u : 0u))
        << "acme/earlier is not published as it was";

    {
      ServedOrigin served = testing::StartOrigin(store, scratch / "serve-after-kill");
      ASSERT_FALSE(served.endpoint.empty());
      std::set<std::pair<std::string, std::string>> expected;
      if (seeded) expected.emplace("acme/earlier", earlier_commit_);
      if (published_target) expected.emplace("acme/target", published_target->commit.Hex());
      EXPECT_EQ(ListedModels(served), expected);
      const http::ClientResponse manifest =
          Get(served.Url("/v1/models/acme/target/revisions/main/manifest"));
      if (published_target) {
        EXPECT_EQ(manifest.status, 200) << manifest.body;
        ExpectModelServed(served.Url(""), target_, target_sources_);
      } else {
        EXPECT_EQ(manifest.status, 404) << manifest.body;
        ExpectJsonError(manifest, Errc::kModelNotFound);
      }
      if (seeded) ExpectModelServed(served.Url(""), earlier_, earlier_sources_);
    }

    const std::string commit = testing::Ingest(store, "acme/target", Target(), scratch / "rerun");
    ASSERT_FALSE(commit.empty());
    {
      ServedOrigin served = testing::StartOrigin(store, scratch / "serve-after-rerun");
      ASSERT_FALSE(served.endpoint.empty());
      std::set<std::pair<std::string, std::string>> expected = {{"acme/target", commit}};
      if (seeded) expected.emplace("acme/earlier", earlier_commit_);
      EXPECT_EQ(ListedModels(served), expected);
      ExpectModelServed(served.Url(""), target_, target_sources_);
      if (seeded) ExpectModelServed(served.Url(""), earlier_, earlier_sources_);
    }
    fs::remove_all(scratch);
    if (HasFailure()) break;
  }
  // Kills past the end find a finished ingest; most must land while it works.
  EXPECT_GE(killed_rounds, kRounds / 2) << "too few kills landed while the ingest was running";
  EXPECT_GE(mid_way_rounds, kRounds / 4) << "too few kills landed after the first blocks";
}

}  // namespace
}  // namespace mei
