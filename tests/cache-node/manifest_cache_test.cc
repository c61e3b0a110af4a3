#include "cache-node/manifest_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include "tests/cache-node/upstream_fixture.h"

namespace mei::cache_node {
namespace {

using testing::kModel;
using testing::RandomBytes;
using testing::SeriesValue;

class ManifestCacheTest : public testing::UpstreamFixture {
 protected:
  void SetUp() override {
    UpstreamFixture::SetUp();
    if (HasFatalFailure()) return;
    block_ = AddBlock(RandomBytes(500, 1));
    first_ = AddModel(kModel, "main", {{"a.bin", {block_}}});
  }

  void TearDown() override {
    cache_.reset();
    UpstreamFixture::TearDown();
  }

  // A cache over the node store, filling from `upstream`; a TTL of 0 asks again on every lookup.
  void StartCache(mei::testing::TestUpstream& upstream, std::chrono::milliseconds ttl) {
    cache_ = std::make_unique<ManifestCache>(*node_.manifests, Upstream{"parent", upstream.Url()},
                                             fetch_, health_, metrics_,
                                             ManifestCacheOptions{.revision_ttl = ttl});
  }

  // Points main at a new commit in the upstream store.
  Manifest MoveMain() {
    return AddModel(kModel, "main", {{"b.bin", {block_}}}, "2026-11-25T12:00:00Z");
  }

  double Lookups(std::string_view state) const {
    return SeriesValue(metrics_,
                       "mei_cache_manifest_lookups_total{state=\"" + std::string(state) + "\"}");
  }

  BlockId block_;
  Manifest first_;
  UpstreamHealth health_;
  MetricsRegistry metrics_;
  std::unique_ptr<ManifestCache> cache_;
};

TEST_F(ManifestCacheTest, ARevisionIsFetchedOnceWithinTheTtl) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  StartCache(upstream, std::chrono::minutes(10));
  for (int i = 0; i < 3; ++i) {
    auto manifest = cache_->Get(kModel, "main");
    ASSERT_TRUE(manifest) << manifest.error().message;
    EXPECT_EQ(manifest->commit, first_.commit);
  }
  MoveMain();  // not seen within the TTL
  auto manifest = cache_->Get(kModel, "main");
  ASSERT_TRUE(manifest) << manifest.error().message;
  EXPECT_EQ(manifest->commit, first_.commit);
  EXPECT_EQ(upstream.requests("manifest"), 1u);
  EXPECT_EQ(Lookups("fetched"), 1);
  EXPECT_EQ(Lookups("fresh"), 3);
}

TEST_F(ManifestCacheTest, ARevisionIsFetchedAgainAfterTheTtlAndFollowsTheUpstream) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  StartCache(upstream, std::chrono::milliseconds(0));
  auto before = cache_->Get(kModel, "main");
  ASSERT_TRUE(before) << before.error().message;
  EXPECT_EQ(before->commit, first_.commit);

  const Manifest moved = MoveMain();
  auto after = cache_->Get(kModel, "main");
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(after->commit, moved.commit);
  EXPECT_EQ(upstream.requests("manifest"), 2u);
  EXPECT_EQ(node_.manifests->Get(kModel, "main").value().commit, moved.commit);
}

TEST_F(ManifestCacheTest, AStoppedUpstreamIsAnsweredWithTheLastKnownCommit) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  StartCache(upstream, std::chrono::milliseconds(0));
  ASSERT_TRUE(cache_->Get(kModel, "main"));
  upstream.Stop();

  auto stale = cache_->Get(kModel, "main");
  ASSERT_TRUE(stale) << stale.error().message;
  EXPECT_EQ(stale->commit, first_.commit);
  EXPECT_EQ(Lookups("stale"), 1);
  EXPECT_EQ(health_.Snapshot().at("parent").consecutive_failures, 1u);
}

TEST_F(ManifestCacheTest, AStoppedUpstreamWithNothingHeldIsUpstreamFailed) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  StartCache(upstream, std::chrono::milliseconds(0));
  upstream.Stop();
  auto manifest = cache_->Get(kModel, "main");
  ASSERT_FALSE(manifest);
  EXPECT_EQ(manifest.error().code, Errc::kUpstreamFailed) << manifest.error().message;
  EXPECT_EQ(Lookups("stale"), 0);
}

TEST_F(ManifestCacheTest, NotFoundCodesPassThroughAndAreNotUpstreamFailures) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  StartCache(upstream, std::chrono::minutes(10));
  for (const NotFoundCase& c : NotFoundCases()) {
    SCOPED_TRACE(c.model + "@" + c.revision);
    auto manifest = cache_->Get(c.model, c.revision);
    ASSERT_FALSE(manifest);
    EXPECT_EQ(manifest.error().code, c.code) << manifest.error().message;
  }
  EXPECT_TRUE(health_.Reachable("parent", 1));
}

TEST_F(ManifestCacheTest, ACommitIsFetchedOnceAndNeverAgain) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  StartCache(upstream, std::chrono::milliseconds(0));
  const std::string commit = first_.commit.Hex();
  for (int i = 0; i < 3; ++i) {
    auto manifest = cache_->Get(kModel, commit);
    ASSERT_TRUE(manifest) << manifest.error().message;
    EXPECT_EQ(manifest->commit, first_.commit);
    EXPECT_EQ(manifest->files, first_.files);
  }
  upstream.Stop();
  EXPECT_TRUE(cache_->Get(kModel, commit));
  EXPECT_EQ(upstream.requests("manifest"), 1u);
  EXPECT_EQ(Lookups("fresh"), 3);
  // A manifest fetched by commit points no revision name at it.
  auto listed = cache_->List();
  ASSERT_TRUE(listed) << listed.error().message;
  EXPECT_TRUE(listed->empty());
}

TEST_F(ManifestCacheTest, TheModelListIsTheParentsAndWhatIsHeldWhenItIsDown) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  StartCache(upstream, std::chrono::milliseconds(60'000));
  // Nothing fetched yet: a device asking the node sees what the parent serves.
  auto listed = cache_->List();
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_FALSE(listed->empty());
  EXPECT_TRUE(std::any_of(listed->begin(), listed->end(), [](const auto& entry) {
    return entry.model == kModel && entry.revision == "main";
  }));

  upstream.Stop();
  auto held = cache_->List();
  ASSERT_TRUE(held) << held.error().message;
  EXPECT_TRUE(held->empty()) << "nothing was fetched, so nothing is held";
  ASSERT_TRUE(upstream.Restart());
  ASSERT_TRUE(cache_->Get(kModel, "main"));
  upstream.Stop();
  held = cache_->List();
  ASSERT_TRUE(held) << held.error().message;
  ASSERT_EQ(held->size(), 1u);
  EXPECT_EQ(held->front().commit, first_.commit.Hex());
}

}  // namespace
}  // namespace mei::cache_node
