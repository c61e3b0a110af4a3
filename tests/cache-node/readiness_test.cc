#include "cache-node/readiness.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <vector>

#include "tests/cache-node/upstream_fixture.h"

namespace mei::cache_node {
namespace {

using testing::RandomBytes;
using testing::WaitUntil;

constexpr auto kInterval = std::chrono::milliseconds(100);

class ReadinessTest : public testing::UpstreamFixture {
 protected:
  void SetUp() override {
    UpstreamFixture::SetUp();
    if (HasFatalFailure()) return;
    CapacityOptions capacity;
    capacity.capacity_bytes = 1 << 30;
    auto index = BlockIndex::Open(*node_.blocks, *node_.plan, capacity);
    ASSERT_TRUE(index) << index.error().message;
    index_ = std::move(*index);
  }

  void TearDown() override {
    readiness_.reset();
    index_.reset();
    UpstreamFixture::TearDown();
  }

  void StartReadiness(const std::string& parent_url,
                      std::chrono::milliseconds interval = kInterval) {
    readiness_ =
        std::make_unique<Readiness>(node_, *index_, health_, Upstream{"parent", parent_url},
                                    ReadinessOptions{.health_interval = interval, .fetch = fetch_});
  }

  bool Ready() const { return readiness_->Check().has_value(); }

  // Stores `id` from the upstream store's copy, as a fill would.
  void Hold(const BlockId& id) {
    auto stored = upstream_store_->blocks->Get(id);
    ASSERT_TRUE(stored) << stored.error().message;
    ASSERT_TRUE(stored->Load());
    ASSERT_TRUE(index_->Reserve(stored->frame().size()));
    ASSERT_TRUE(node_.blocks->Put(id, stored->frame()).value());
    index_->Added(id, node_.blocks->Meta(id).value());
  }

  UpstreamHealth health_;
  std::unique_ptr<BlockIndex> index_;
  std::unique_ptr<Readiness> readiness_;
};

TEST_F(ReadinessTest, ANodeWithNoPlanIsReadyExactlyWhileItsParentAnswers) {
  mei::testing::TestUpstream& parent = StartUpstream();
  StartReadiness(parent.Url());
  ASSERT_TRUE(WaitUntil([&] { return Ready(); }));

  parent.Stop();
  ASSERT_TRUE(WaitUntil([&] { return !Ready(); }));
  const Error error = readiness_->Check().error();
  EXPECT_EQ(error.code, Errc::kUpstreamFailed);
  EXPECT_NE(error.message.find(parent.Url()), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("no plan"), std::string::npos) << error.message;

  ASSERT_TRUE(parent.Restart());
  EXPECT_TRUE(WaitUntil([&] { return Ready(); }));
}

TEST_F(ReadinessTest, ANodeIsNotReadyBeforeItsParentFirstAnswers) {
  // A parent that takes connections into its backlog and never answers: the first probe is under
  // way for a whole interval.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor silent(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  StartReadiness("http://127.0.0.1:" + std::to_string(silent.local_endpoint().port()),
                 std::chrono::seconds(30));
  const Result<void> ready = readiness_->Check();
  ASSERT_FALSE(ready);
  EXPECT_EQ(ready.error().code, Errc::kUpstreamFailed);
  EXPECT_NE(ready.error().message.find("has not answered yet"), std::string::npos)
      << ready.error().message;
}

TEST_F(ReadinessTest, ANodeHoldingEveryBlockItsPlanPinsIsReadyWithoutItsParent) {
  const BlockId a = AddBlock(RandomBytes(3000, 51));
  const BlockId b = AddBlock(RandomBytes(3000, 52));
  mei::testing::TestUpstream& parent = StartUpstream();
  parent.Stop();
  StartReadiness(parent.Url());
  index_->SetPlanPins({a, b});
  Hold(a);
  ASSERT_TRUE(WaitUntil([&] { return health_.Of("parent").has_value(); }));
  ASSERT_FALSE(Ready());
  EXPECT_NE(readiness_->Check().error().message.find("holds 1 of the 2 blocks"), std::string::npos)
      << readiness_->Check().error().message;

  Hold(b);
  EXPECT_TRUE(Ready());
  EXPECT_TRUE(index_->Delete(b).value());
  EXPECT_FALSE(Ready());
}

TEST_F(ReadinessTest, AParentThatAnswersWithAnErrorStatusIsNotReady) {
  // A data plane that is not the parent's: /healthz is 404 there.
  mei::testing::TestUpstream& parent = StartUpstream();
  StartReadiness(parent.Url() + "/not-a-node");
  ASSERT_TRUE(WaitUntil([&] { return health_.Of("parent").has_value(); }));
  EXPECT_FALSE(Ready());
  EXPECT_NE(health_.Of("parent")->last_error.find("404"), std::string::npos)
      << health_.Of("parent")->last_error;
}

}  // namespace
}  // namespace mei::cache_node
