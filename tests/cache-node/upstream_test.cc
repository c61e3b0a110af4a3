#include "cache-node/upstream.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <latch>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cache-node/node_metrics.h"
#include "common/codec.h"
#include "common/http/data_plane.h"
#include "common/http/server.h"
#include "common/run_blocking.h"
#include "tests/cache-node/upstream_fixture.h"

namespace mei::cache_node {
namespace {

using namespace std::chrono_literals;
using testing::Bf16Weights;
using testing::kModel;
using testing::RandomBytes;
using testing::TextBytes;

class UpstreamTest : public testing::UpstreamFixture {
 protected:
  void SetUp() override {
    UpstreamFixture::SetUp();
    if (HasFatalFailure()) return;
    raw_block_ = AddBlock(RandomBytes(3000, 1));
    zstd_block_ = AddBlock(TextBytes(4000));
    bg2_block_ = AddBlock(Bf16Weights(8 * 1024, 2), 2);
    manifest_ = AddModel(kModel, "main", {{"model.bin", {raw_block_, bg2_block_}}});
  }

  void TearDown() override {
    rewriting_.reset();
    UpstreamFixture::TearDown();
  }

  // The upstream store's data plane behind a handler that rewrites every reply with `rewrite`.
  Upstream StartRewriting(std::function<void(http::Reply&)> rewrite) {
    content_ = std::make_unique<StoreContent>(*upstream_store_);
    plane_ = std::make_unique<DataPlane>(*content_, metrics_);
    auto server = http::Server::Start({}, [this, rewrite](const http::Request& request) {
      http::Reply reply = RunBlocking(plane_->Handle(request));
      rewrite(reply);
      return reply;
    });
    EXPECT_TRUE(server) << server.error().message;
    rewriting_ = std::move(*server);
    return Upstream{"rewriting", "http://" + rewriting_->endpoint()};
  }

  Upstream Parent(mei::testing::TestUpstream& upstream) const {
    return Upstream{"parent", upstream.Url()};
  }

  // What the stored frame of `id` decodes to, verified like FetchBlockFrame's caller would.
  static std::vector<std::byte> Decode(const std::vector<std::byte>& frame) {
    BlockDecoder decoder;
    std::vector<std::byte> raw;
    auto decoded = decoder.Decode(frame, raw);
    EXPECT_TRUE(decoded) << decoded.error().message;
    return raw;
  }

  struct CodecCase {
    const char* name;
    BlockId id;
    Codec codec;  // how the frame travelled and is to be stored
  };
  std::vector<CodecCase> CodecCases() const {
    return {{"raw", raw_block_, Codec::kRaw},
            {"zstd", zstd_block_, Codec::kZstd},
            {"bg2_zstd", bg2_block_, Codec::kBg2Zstd}};
  }

  BlockId raw_block_, zstd_block_, bg2_block_;
  Manifest manifest_;
  MetricsRegistry metrics_;
  std::unique_ptr<StoreContent> content_;
  std::unique_ptr<DataPlane> plane_;
  std::unique_ptr<http::Server> rewriting_;  // last: stopped first
};

TEST_F(UpstreamTest, FetchBlockFrameReturnsTheStoredCodingVerifiedForEveryCodec) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  for (const CodecCase& c : CodecCases()) {
    SCOPED_TRACE(c.name);
    const BlockId& id = c.id;
    auto frame = FetchBlockFrame(Parent(upstream), id, fetch_);
    ASSERT_TRUE(frame) << frame.error().message;
    auto view = ParseFrame(*frame);
    ASSERT_TRUE(view) << view.error().message;
    EXPECT_EQ(view->header.codec, c.codec);
    EXPECT_EQ(view->header.raw_size, raw_.at(id).size());
    const std::vector<std::byte> raw = Decode(*frame);
    EXPECT_EQ(BlockIdOf(raw), id);
    EXPECT_EQ(raw, raw_.at(id));
  }
  EXPECT_EQ(upstream.block_requests_from("node-a"), CodecCases().size());
}

TEST_F(UpstreamTest, FetchBlockFrameOfACorruptedReplyIsAnIntegrityError) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  upstream.CorruptBlocks(true);
  for (const CodecCase& c : CodecCases()) {
    SCOPED_TRACE(c.name);
    auto frame = FetchBlockFrame(Parent(upstream), c.id, fetch_);
    ASSERT_FALSE(frame);
    EXPECT_EQ(frame.error().code, Errc::kIntegrity) << frame.error().message;
  }
}

TEST_F(UpstreamTest, FetchBlockFrameOfABlockTheUpstreamLacksIsBlockNotFound) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  auto frame = FetchBlockFrame(Parent(upstream), MissingBlock(), fetch_);
  ASSERT_FALSE(frame);
  EXPECT_EQ(frame.error().code, Errc::kBlockNotFound) << frame.error().message;
}

TEST_F(UpstreamTest, FetchBlockFrameOfAServerErrorIsUpstreamFailed) {
  const Upstream upstream = StartRewriting([](http::Reply& reply) {
    reply = http::Reply::FromError(Error{Errc::kStorage, "the disk is on fire"});
  });
  auto frame = FetchBlockFrame(upstream, raw_block_, fetch_);
  ASSERT_FALSE(frame);
  EXPECT_EQ(frame.error().code, Errc::kUpstreamFailed) << frame.error().message;
}

TEST_F(UpstreamTest, FetchBlockFrameOfAnEncodedReplyWithoutRawSizeIsUpstreamFailed) {
  const Upstream upstream = StartRewriting([](http::Reply& reply) {
    std::erase_if(reply.headers, [](const http::Header& header) {
      return http::EqualsIgnoreCase(header.name, "X-Mei-Raw-Size");
    });
  });
  auto frame = FetchBlockFrame(upstream, bg2_block_, fetch_);
  ASSERT_FALSE(frame);
  EXPECT_EQ(frame.error().code, Errc::kUpstreamFailed) << frame.error().message;
  // A raw reply needs no raw size: its length is the raw size.
  auto raw = FetchBlockFrame(upstream, raw_block_, fetch_);
  EXPECT_TRUE(raw) << raw.error().message;
}

TEST_F(UpstreamTest, FetchBlockFrameRefusesAnAnnouncedRawSizeNoBlockCanHave) {
  // An upstream that claims 2 GiB for a small zstd payload must not make the node allocate it.
  const Upstream upstream = StartRewriting([](http::Reply& reply) {
    for (http::Header& header : reply.headers) {
      if (http::EqualsIgnoreCase(header.name, "X-Mei-Raw-Size")) header.value = "2147483648";
    }
  });
  auto frame = FetchBlockFrame(upstream, bg2_block_, fetch_);
  ASSERT_FALSE(frame);
  EXPECT_EQ(frame.error().code, Errc::kUpstreamFailed) << frame.error().message;
  EXPECT_NE(frame.error().message.find("more than a block can hold"), std::string::npos);
}

TEST_F(UpstreamTest, FetchFromAnUnreachableUpstreamIsUpstreamFailed) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  const Upstream parent = Parent(upstream);
  upstream.Stop();
  auto frame = FetchBlockFrame(parent, raw_block_, fetch_);
  ASSERT_FALSE(frame);
  EXPECT_EQ(frame.error().code, Errc::kUpstreamFailed) << frame.error().message;
  auto manifest = FetchManifest(parent, kModel, "main", fetch_);
  ASSERT_FALSE(manifest);
  EXPECT_EQ(manifest.error().code, Errc::kUpstreamFailed) << manifest.error().message;
}

TEST_F(UpstreamTest, FetchManifestByNameOrCommitReturnsTheCheckedManifest) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  for (const std::string& revision : {std::string("main"), manifest_.commit.Hex()}) {
    SCOPED_TRACE(revision);
    auto manifest = FetchManifest(Parent(upstream), kModel, revision, fetch_);
    ASSERT_TRUE(manifest) << manifest.error().message;
    EXPECT_EQ(manifest->commit, manifest_.commit);
    EXPECT_EQ(manifest->files, manifest_.files);
  }
}

TEST_F(UpstreamTest, FetchManifestPassesTheUpstreamsNotFoundCodeThrough) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  for (const NotFoundCase& c : NotFoundCases()) {
    SCOPED_TRACE(c.model + "@" + c.revision);
    auto manifest = FetchManifest(Parent(upstream), c.model, c.revision, fetch_);
    ASSERT_FALSE(manifest);
    EXPECT_EQ(manifest.error().code, c.code) << manifest.error().message;
  }
}

TEST_F(UpstreamTest, FetchManifestOfAnotherCommitThanAskedIsBadManifest) {
  Manifest other = manifest_;
  other.created = "2026-11-24T12:00:00Z";
  other.commit = CommitOf(other);
  ASSERT_NE(other.commit, manifest_.commit);
  const std::string other_json = ToJson(other);
  const Upstream upstream = StartRewriting([&other_json](http::Reply& reply) {
    if (reply.route == "manifest") reply = http::Reply::Json(200, other_json);
  });
  auto manifest = FetchManifest(upstream, kModel, manifest_.commit.Hex(), fetch_);
  ASSERT_FALSE(manifest);
  EXPECT_EQ(manifest.error().code, Errc::kBadManifest) << manifest.error().message;
}

TEST_F(UpstreamTest, FetchManifestOfAnotherModelThanAskedIsBadManifest) {
  Manifest other = manifest_;
  other.model = "acme/other";
  other.commit = CommitOf(other);
  const std::string other_json = ToJson(other);
  const Upstream upstream = StartRewriting([&other_json](http::Reply& reply) {
    if (reply.route == "manifest") reply = http::Reply::Json(200, other_json);
  });
  auto manifest = FetchManifest(upstream, kModel, "main", fetch_);
  ASSERT_FALSE(manifest);
  EXPECT_EQ(manifest.error().code, Errc::kBadManifest) << manifest.error().message;
}

// Regression: FetchManifest took every 64-byte revision for a commit, while the store and
// ValidateRevisionName take only 64 lowercase hex digits for one.
TEST_F(UpstreamTest, FetchManifestOfA64CharacterRevisionNameThatIsNoCommitWorks) {
  const std::string name(64, 'x');  // a valid revision name, not 64 hex digits
  const Manifest named = AddModel(kModel, name, {{"model.bin", {raw_block_, bg2_block_}}});
  mei::testing::TestUpstream& upstream = StartUpstream();
  auto manifest = FetchManifest(Parent(upstream), kModel, name, fetch_);
  ASSERT_TRUE(manifest) << manifest.error().message;
  EXPECT_EQ(manifest->commit, named.commit);
}

TEST(UpstreamHealthTest, ThreeConsecutiveFailuresMakeAnUpstreamUnreachableUntilASuccess) {
  UpstreamHealth health;
  EXPECT_TRUE(health.Reachable("parent"));  // never seen
  const Error failure{Errc::kUpstreamFailed, "connection refused"};
  const struct {
    bool ok;
    std::uint64_t successes, failures, consecutive;
    bool reachable;
  } steps[] = {
      {false, 0, 1, 1, true},  {false, 0, 2, 2, true}, {false, 0, 3, 3, false},
      {false, 0, 4, 4, false}, {true, 1, 4, 0, true},  {false, 1, 5, 1, true},
  };
  for (std::size_t i = 0; i < std::size(steps); ++i) {
    SCOPED_TRACE("step " + std::to_string(i));
    health.Record("parent", steps[i].ok ? Result<void>{} : Result<void>{failure});
    const UpstreamHealth::Entry entry = health.Snapshot().at("parent");
    EXPECT_EQ(entry.successes, steps[i].successes);
    EXPECT_EQ(entry.failures, steps[i].failures);
    EXPECT_EQ(entry.consecutive_failures, steps[i].consecutive);
    EXPECT_EQ(entry.last_error, steps[i].ok ? "" : "connection refused");
    EXPECT_EQ(health.Reachable("parent"), steps[i].reachable);
  }
  EXPECT_EQ(health.Snapshot().size(), 1u);
  EXPECT_TRUE(health.Reachable("peer:b"));
}

TEST(UpstreamHealthTest, ReachableHonoursTheGivenThreshold) {
  UpstreamHealth health;
  health.Record("parent", Error{Errc::kUpstreamTimeout, "timed out"});
  EXPECT_FALSE(health.Reachable("parent", 1));
  EXPECT_TRUE(health.Reachable("parent", 2));
}

// A steady clock that moves only when the test says so.
class ManualClock {
 public:
  UpstreamHealth::Clock Read() const {
    return [this] {
      return std::chrono::steady_clock::time_point(std::chrono::milliseconds(elapsed_ms_.load()));
    };
  }
  void Advance(std::chrono::milliseconds by) { elapsed_ms_ += by.count(); }

 private:
  std::atomic<std::int64_t> elapsed_ms_{3'600'000};
};

const Error kTimedOut{Errc::kUpstreamTimeout, "peer:b timed out"};

CircuitOptions Options(std::uint64_t threshold = 3, std::chrono::milliseconds backoff = 1000ms,
                       std::chrono::milliseconds max_backoff = 60'000ms, double jitter = 0,
                       std::chrono::milliseconds probe_timeout = 5000ms) {
  return CircuitOptions{.failure_threshold = threshold,
                        .backoff = backoff,
                        .max_backoff = max_backoff,
                        .jitter = jitter,
                        .probe_timeout = probe_timeout};
}

void Fail(UpstreamHealth& health, const std::string& upstream, int times) {
  for (int i = 0; i < times; ++i) health.Record(upstream, kTimedOut);
}

CircuitState StateOf(const UpstreamHealth& health, const std::string& upstream) {
  return health.Of(upstream).value_or(UpstreamHealth::Entry{}).circuit;
}

// The value of `series` exactly as rendered, or nullopt when it is absent.
std::optional<double> SeriesValue(const MetricsRegistry& metrics, const std::string& series) {
  std::istringstream lines(metrics.Render());
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

TEST(UpstreamHealthTest, FailuresInARowOpenTheCircuitWhichSkipsUntilTheBackoffEndsThenProbes) {
  ManualClock clock;
  UpstreamHealth health(Options(), nullptr, clock.Read());
  EXPECT_EQ(health.Admit("peer:b"), Admission::kAdmitted);
  Fail(health, "peer:b", 2);
  EXPECT_EQ(health.Admit("peer:b"), Admission::kAdmitted);
  EXPECT_EQ(StateOf(health, "peer:b"), CircuitState::kClosed);

  Fail(health, "peer:b", 1);
  EXPECT_EQ(StateOf(health, "peer:b"), CircuitState::kOpen);
  EXPECT_EQ(health.Admit("peer:b"), Admission::kSkipped);
  clock.Advance(999ms);
  EXPECT_EQ(health.Admit("peer:b"), Admission::kSkipped);
  EXPECT_EQ(health.Admit("parent"), Admission::kAdmitted)
      << "one upstream's circuit is not another's";

  clock.Advance(1ms);
  EXPECT_EQ(health.Admit("peer:b"), Admission::kProbe) << "the probe";
  EXPECT_EQ(StateOf(health, "peer:b"), CircuitState::kHalfOpen);
  EXPECT_EQ(health.Admit("peer:b"), Admission::kSkipped) << "one probe at a time";

  health.Record("peer:b", {});
  const UpstreamHealth::Entry entry = health.Of("peer:b").value();
  EXPECT_EQ(entry.circuit, CircuitState::kClosed);
  EXPECT_EQ(entry.consecutive_failures, 0u);
  EXPECT_EQ(entry.opens, 1u);
  EXPECT_EQ(entry.skips, 3u);
  EXPECT_EQ(health.Admit("peer:b"), Admission::kAdmitted);
  EXPECT_EQ(health.Admit("peer:b"), Admission::kAdmitted);
}

TEST(UpstreamHealthTest, EachFailedProbeDoublesTheOpenPeriodUpToTheCapAndASuccessResetsIt) {
  ManualClock clock;
  UpstreamHealth health(Options(3, 1000ms, 3000ms), nullptr, clock.Read());
  Fail(health, "peer:b", 3);
  // The period each opening lasts: the first, then after each failed probe.
  for (const auto period : {1000ms, 2000ms, 3000ms, 3000ms}) {
    SCOPED_TRACE("period " + std::to_string(period.count()) + " ms");
    EXPECT_EQ(StateOf(health, "peer:b"), CircuitState::kOpen);
    clock.Advance(period - 1ms);
    EXPECT_EQ(health.Admit("peer:b"), Admission::kSkipped);
    clock.Advance(1ms);
    ASSERT_EQ(health.Admit("peer:b"), Admission::kProbe);
    health.Record("peer:b", kTimedOut);
  }
  EXPECT_EQ(health.Of("peer:b")->opens, 5u);

  clock.Advance(3000ms);
  ASSERT_EQ(health.Admit("peer:b"), Admission::kProbe);
  health.Record("peer:b", {});
  Fail(health, "peer:b", 3);
  clock.Advance(999ms);
  EXPECT_EQ(health.Admit("peer:b"), Admission::kSkipped);
  clock.Advance(1ms);
  EXPECT_EQ(health.Admit("peer:b"), Admission::kProbe)
      << "the first period again after the circuit closed";
}

TEST(UpstreamHealthTest, AProbeWhoseOutcomeNeverComesGivesItsSlotToARequestAfterTheProbeTimeout) {
  ManualClock clock;
  UpstreamHealth health(Options(3, 1000ms, 60'000ms, 0, 5000ms), nullptr, clock.Read());
  Fail(health, "peer:b", 3);
  clock.Advance(1000ms);
  ASSERT_EQ(health.Admit("peer:b"),
            Admission::kProbe);  // the fill found the block elsewhere and never reports
  clock.Advance(4999ms);
  EXPECT_EQ(health.Admit("peer:b"), Admission::kSkipped);
  clock.Advance(1ms);
  EXPECT_EQ(health.Admit("peer:b"), Admission::kProbe);
  EXPECT_EQ(StateOf(health, "peer:b"), CircuitState::kHalfOpen);
  EXPECT_EQ(health.Admit("peer:b"), Admission::kSkipped);
  health.Record("peer:b", kTimedOut);
  EXPECT_EQ(StateOf(health, "peer:b"), CircuitState::kOpen);
  clock.Advance(1999ms);
  EXPECT_EQ(health.Admit("peer:b"), Admission::kSkipped) << "a failed probe doubles the period";
}

TEST(UpstreamHealthTest, FailuresWhileOpenOnlyCountAndASuccessWhileOpenClosesIt) {
  ManualClock clock;
  UpstreamHealth health(Options(), nullptr, clock.Read());
  Fail(health, "parent", 3);
  Fail(health, "parent", 2);  // requests sent before it opened, or readiness probes
  UpstreamHealth::Entry entry = health.Of("parent").value();
  EXPECT_EQ(entry.circuit, CircuitState::kOpen);
  EXPECT_EQ(entry.opens, 1u);
  EXPECT_EQ(entry.consecutive_failures, 5u);
  clock.Advance(1000ms);
  EXPECT_EQ(health.Admit("parent"), Admission::kProbe) << "the period did not grow";

  Fail(health, "peer:c", 3);
  health.Record("peer:c", {});  // e.g. a readiness probe that worked
  EXPECT_EQ(StateOf(health, "peer:c"), CircuitState::kClosed);
  EXPECT_EQ(health.Admit("peer:c"), Admission::kAdmitted);
}

TEST(UpstreamHealthTest, AZeroThresholdNeverOpensACircuit) {
  ManualClock clock;
  UpstreamHealth health(Options(0), nullptr, clock.Read());
  Fail(health, "peer:b", 100);
  EXPECT_EQ(health.Admit("peer:b"), Admission::kAdmitted);
  EXPECT_EQ(StateOf(health, "peer:b"), CircuitState::kClosed);
  EXPECT_EQ(health.Of("peer:b")->opens, 0u);
  EXPECT_EQ(health.Of("peer:b")->consecutive_failures, 100u);
}

TEST(UpstreamHealthTest, JitterSpreadsEachPeriodWithinItsShareAndNeverPastTheCap) {
  constexpr int kUpstreams = 200;
  ManualClock clock;
  UpstreamHealth spread(Options(1, 1000ms, 60'000ms, 0.2), nullptr, clock.Read());
  UpstreamHealth capped(Options(1, 1000ms, 1000ms, 0.2), nullptr, clock.Read());
  for (int i = 0; i < kUpstreams; ++i) {
    Fail(spread, "peer:" + std::to_string(i), 1);
    Fail(capped, "peer:" + std::to_string(i), 1);
  }
  // How many of `health`'s upstreams are admitted (as their probe) now.
  const auto admitted = [&](UpstreamHealth& health) {
    int count = 0;
    for (int i = 0; i < kUpstreams; ++i) {
      count += health.Admit("peer:" + std::to_string(i)) == Admission::kProbe;
    }
    return count;
  };
  clock.Advance(799ms);
  const int probed_by_800 = admitted(spread);
  clock.Advance(201ms);
  const int probed_by_1000 = admitted(spread);
  const int capped_by_1000 = admitted(capped);
  clock.Advance(200ms);
  const int probed_by_1200 = admitted(spread);
  EXPECT_EQ(probed_by_800, 0);
  EXPECT_GT(probed_by_1000, 0);
  EXPECT_LT(probed_by_1000, kUpstreams);
  EXPECT_EQ(probed_by_1000 + probed_by_1200, kUpstreams) << "every period ends by 1.2 s";
  EXPECT_EQ(capped_by_1000, kUpstreams) << "jitter never takes a period past the cap";
}

// The names of `upstreams`, in order.
std::vector<std::string> NamesOf(const std::vector<Upstream>& upstreams) {
  std::vector<std::string> names;
  for (const Upstream& upstream : upstreams) names.push_back(upstream.name);
  return names;
}

TEST(UpstreamHealthTest, AdmittedLeavesOutOpenCircuitsAndPutsAProbeFirst) {
  ManualClock clock;
  UpstreamHealth health(Options(3, 1000ms, 60'000ms, 0, 5000ms), nullptr, clock.Read());
  const std::vector<Upstream> order = {{"peer:a", "http://a"},
                                       {"peer:b", "http://b"},
                                       {"peer:c", "http://c"},
                                       {"parent", "http://p"}};
  EXPECT_EQ(NamesOf(health.Admitted(order)),
            (std::vector<std::string>{"peer:a", "peer:b", "peer:c", "parent"}));
  Fail(health, "peer:b", 3);
  clock.Advance(500ms);
  Fail(health, "peer:c", 3);
  EXPECT_EQ(NamesOf(health.Admitted(order)), (std::vector<std::string>{"peer:a", "parent"}));

  clock.Advance(500ms);  // peer:b's period is over, peer:c's is not
  const std::vector<Upstream> admitted = health.Admitted(order);
  EXPECT_EQ(NamesOf(admitted), (std::vector<std::string>{"peer:b", "peer:a", "parent"}));
  EXPECT_EQ(admitted.front().base_url, "http://b");
  EXPECT_EQ(NamesOf(health.Admitted(order)), (std::vector<std::string>{"peer:a", "parent"}))
      << "the probe is out";
  EXPECT_EQ(health.Of("peer:b")->skips, 2u);
  EXPECT_EQ(health.Of("peer:c")->skips, 3u);

  Fail(health, "peer:a", 3);
  Fail(health, "parent", 3);
  EXPECT_TRUE(health.Admitted(order).empty()) << "every circuit open: nothing to try";
}

TEST(UpstreamHealthTest, ConcurrentRequestsAfterTheOpenPeriodAdmitExactlyOneProbe) {
  constexpr int kThreads = 8;
  constexpr int kTries = 1000;
  ManualClock clock;
  UpstreamHealth health(Options(), nullptr, clock.Read());
  Fail(health, "peer:b", 3);
  clock.Advance(1000ms);
  std::atomic<int> admitted{0};
  std::latch start(kThreads);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        start.arrive_and_wait();
        for (int i = 0; i < kTries; ++i) {
          if (health.Admit("peer:b") == Admission::kProbe) ++admitted;
        }
      });
    }
  }
  EXPECT_EQ(admitted.load(), 1);
  EXPECT_EQ(health.Of("peer:b")->skips, static_cast<std::uint64_t>(kThreads * kTries - 1));
}

TEST(UpstreamHealthTest, MetricsShowEachUpstreamsStateOpensAndSkips) {
  ManualClock clock;
  MetricsRegistry metrics;
  UpstreamHealth health(Options(), &metrics, clock.Read());
  const std::string labels = "{upstream=\"peer:b\"}";
  const std::string state = std::string(kUpstreamCircuitState) + labels;
  const std::string opens = std::string(kUpstreamCircuitOpensTotal) + labels;
  const std::string skips = std::string(kUpstreamSkipsTotal) + labels;
  EXPECT_EQ(SeriesValue(metrics, state), std::nullopt);

  EXPECT_EQ(health.Admit("peer:b"), Admission::kAdmitted);
  EXPECT_EQ(SeriesValue(metrics, state), 0);
  EXPECT_EQ(SeriesValue(metrics, opens), 0);
  EXPECT_EQ(SeriesValue(metrics, skips), 0);

  Fail(health, "peer:b", 3);
  EXPECT_EQ(health.Admit("peer:b"), Admission::kSkipped);
  EXPECT_EQ(health.Admit("peer:b"), Admission::kSkipped);
  EXPECT_EQ(SeriesValue(metrics, state), 1);
  EXPECT_EQ(SeriesValue(metrics, opens), 1);
  EXPECT_EQ(SeriesValue(metrics, skips), 2);

  clock.Advance(1000ms);
  EXPECT_EQ(health.Admit("peer:b"), Admission::kProbe);
  EXPECT_EQ(SeriesValue(metrics, state), 2);
  health.Record("peer:b", kTimedOut);
  EXPECT_EQ(SeriesValue(metrics, state), 1);
  EXPECT_EQ(SeriesValue(metrics, opens), 2);
  health.Record("peer:b", {});
  EXPECT_EQ(SeriesValue(metrics, state), 0);
  EXPECT_EQ(SeriesValue(metrics, opens), 2);
}

TEST(UpstreamHealthTest, OpenUntilIsWhenThePeriodEndsOnTheSystemClock) {
  UpstreamHealth health(Options(3, 10'000ms));
  Fail(health, "peer:b", 3);
  const auto now = std::chrono::system_clock::now();
  const UpstreamHealth::Entry entry = health.Of("peer:b").value();
  EXPECT_GT(entry.open_until, now + 9s);
  EXPECT_LE(entry.open_until, now + 10s);
  health.Record("peer:b", {});
  EXPECT_EQ(health.Of("peer:b")->circuit, CircuitState::kClosed);
}

TEST(UpstreamHealthTest, CheckCircuitOptionsRefusesWhatCannotWork) {
  EXPECT_TRUE(CheckCircuitOptions(CircuitOptions{}));
  EXPECT_TRUE(CheckCircuitOptions(Options(0, 1ms, 1ms, 0.99)));
  const CircuitOptions bad[] = {
      Options(3, 0ms),
      Options(3, 2000ms, 1000ms),
      Options(3, 1000ms, std::chrono::hours(25)),
      Options(3, 1000ms, 60'000ms, 1.0),
      Options(3, 1000ms, 60'000ms, -0.1),
      Options(3, 1000ms, 60'000ms, 0.2, 0ms),
  };
  for (std::size_t i = 0; i < std::size(bad); ++i) {
    const Result<void> checked = CheckCircuitOptions(bad[i]);
    ASSERT_FALSE(checked) << "case " << i;
    EXPECT_EQ(checked.error().code, Errc::kBadRequest);
  }
}

TEST(UpstreamHealthTest, StatesHaveTheNamesTheAdminStatusShows) {
  EXPECT_EQ(NameOf(CircuitState::kClosed), "closed");
  EXPECT_EQ(NameOf(CircuitState::kOpen), "open");
  EXPECT_EQ(NameOf(CircuitState::kHalfOpen), "half_open");
}

}  // namespace
}  // namespace mei::cache_node
