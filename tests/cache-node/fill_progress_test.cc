// FillProgress (cut-through): readers take a block's bytes as the fill receives them, the last
// byte of what they asked for only once the block verified; a reader that took bytes of an answer
// that then failed fails too, one that took none reads the next attempt; coded answers are readable
// once verified. Each reader is a coroutine on an io_context that the test polls, so "still
// waiting" is exact, not timed.
#include "cache-node/fill_progress.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "common/codec.h"
#include "common/digest.h"

namespace mei::cache_node {
namespace {

namespace net = boost::asio;

std::vector<std::byte> Pattern(std::size_t size) {
  std::vector<std::byte> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>((i * 131 + 7) % 251);
  return bytes;
}

std::vector<std::byte> BytesOf(const http::Chunk& chunk) {
  return {chunk.bytes.begin(), chunk.bytes.end()};
}

class FillProgressTest : public ::testing::Test {
 protected:
  // Starts reader.Read(offset, max) as a coroutine on io_; its outcome lands in the returned slot
  // once io_ has run it to the end.
  std::shared_ptr<std::optional<Result<http::Chunk>>> StartRead(BlockReader& reader,
                                                                std::uint64_t offset,
                                                                std::uint64_t max) {
    auto slot = std::make_shared<std::optional<Result<http::Chunk>>>();
    net::co_spawn(
        io_,
        [&reader, offset, max, slot]() -> net::awaitable<void> {
          slot->emplace(co_await reader.Read(offset, max));
        },
        net::detached);
    Settle();
    return slot;
  }

  // Runs every coroutine of io_ until each has finished or is suspended.
  void Settle() {
    io_.restart();
    io_.poll();
  }

  net::io_context io_;
  const std::vector<std::byte> block_ = Pattern(1000);
  const BlockId id_ = Sha256Of(block_);
  std::shared_ptr<FillProgress> progress_ = std::make_shared<FillProgress>(id_);
};

TEST_F(FillProgressTest, ReadersGetBytesAsTheyArriveAndTheLastOneOnlyOnceTheBlockVerified) {
  std::unique_ptr<BlockReader> reader = progress_->NewReader();
  progress_->BeginAttempt("parent");
  auto first = StartRead(*reader, 0, 1000);
  EXPECT_FALSE(*first) << "a read returned before any byte arrived";

  ASSERT_TRUE(progress_->Begin(Codec::kRaw, 1000, 1000));
  ASSERT_TRUE(progress_->Append(std::span(block_).first(400)));
  Settle();
  ASSERT_TRUE(*first);
  ASSERT_TRUE(**first) << (**first).error().message;
  EXPECT_EQ(BytesOf(***first), std::vector(block_.begin(), block_.begin() + 400));
  EXPECT_EQ(reader->raw_size(), 1000u);

  auto second = StartRead(*reader, 400, 1000);
  ASSERT_TRUE(progress_->Append(std::span(block_).subspan(400)));
  Settle();
  ASSERT_TRUE(*second && **second);
  // All but the last byte: it waits for the digest.
  EXPECT_EQ(BytesOf(***second), std::vector(block_.begin() + 400, block_.end() - 1));

  // A span that ends inside the block waits for the digest for its own last byte too.
  std::unique_ptr<BlockReader> ranged = progress_->NewReader();
  auto range_start = StartRead(*ranged, 100, 50);
  ASSERT_TRUE(*range_start && **range_start);
  EXPECT_EQ(BytesOf(***range_start), std::vector(block_.begin() + 100, block_.begin() + 149));
  auto range_end = StartRead(*ranged, 149, 1);
  EXPECT_FALSE(*range_end);

  auto last = StartRead(*reader, 999, 1000);
  EXPECT_FALSE(*last) << "the last byte was readable before the block verified";
  auto verified = progress_->FinishAttempt({});
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_EQ((*verified)->frame().size(), kFrameHeaderSize + 1000);
  Settle();
  ASSERT_TRUE(*last && **last);
  EXPECT_EQ(BytesOf(***last), std::vector(block_.end() - 1, block_.end()));
  ASSERT_TRUE(*range_end && **range_end);
  EXPECT_EQ(BytesOf(***range_end), std::vector(block_.begin() + 149, block_.begin() + 150));

  // Past the end is an error, not a wait.
  auto past = StartRead(*reader, 1000, 1);
  ASSERT_TRUE(*past);
  EXPECT_FALSE(**past);
}

TEST_F(FillProgressTest, AReaderThatTookBytesOfAFailedAnswerFailsAndOneThatTookNoneReadsTheNext) {
  std::unique_ptr<BlockReader> early = progress_->NewReader();
  std::unique_ptr<BlockReader> later = progress_->NewReader();  // a range from byte 700 on

  // The peer sends 400 bytes, then its connection breaks.
  progress_->BeginAttempt("peer:b");
  ASSERT_TRUE(progress_->Begin(Codec::kRaw, 1000, 1000));
  auto early_first = StartRead(*early, 0, 1000);
  auto later_first = StartRead(*later, 700, 100);
  ASSERT_TRUE(progress_->Append(std::span(block_).first(400)));
  Settle();
  ASSERT_TRUE(*early_first && **early_first);
  EXPECT_EQ((**early_first)->size(), 400u);
  EXPECT_FALSE(*later_first);
  EXPECT_FALSE(progress_->FinishAttempt(Error{Errc::kUpstreamFailed, "the peer closed"}));
  Settle();
  EXPECT_FALSE(*later_first) << "a reader that took nothing failed with the first upstream";

  auto early_next = StartRead(*early, 400, 1000);
  ASSERT_TRUE(*early_next);
  ASSERT_FALSE(**early_next);
  EXPECT_EQ((**early_next).error().code, Errc::kUpstreamFailed);

  // The parent sends a wrong block of the right size: the readers that took some of it fail with
  // kIntegrity once it is found out.
  std::vector<std::byte> wrong = block_;
  wrong.back() ^= std::byte{1};
  progress_->BeginAttempt("parent");
  ASSERT_TRUE(progress_->Begin(Codec::kRaw, 1000, 1000));
  ASSERT_TRUE(progress_->Append(wrong));
  Settle();
  ASSERT_TRUE(*later_first && **later_first);
  // All of the asked span but its last byte, which waits for the digest.
  EXPECT_EQ(BytesOf(***later_first), std::vector(wrong.begin() + 700, wrong.begin() + 799));
  auto mismatch = progress_->FinishAttempt({});
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code, Errc::kIntegrity);
  auto later_next = StartRead(*later, 799, 1);
  ASSERT_TRUE(*later_next);
  ASSERT_FALSE(**later_next);
  EXPECT_EQ((**later_next).error().code, Errc::kIntegrity);

  // A third upstream sends the right block: a reader that took nothing gets all of it.
  std::unique_ptr<BlockReader> fresh = progress_->NewReader();
  auto fresh_read = StartRead(*fresh, 0, 1000);
  EXPECT_FALSE(*fresh_read);
  progress_->BeginAttempt("origin");
  ASSERT_TRUE(progress_->Begin(Codec::kRaw, 1000, 1000));
  ASSERT_TRUE(progress_->Append(block_));
  Settle();
  ASSERT_TRUE(*fresh_read && **fresh_read);
  EXPECT_EQ((**fresh_read)->size(), 999u);
  ASSERT_TRUE(progress_->FinishAttempt({}));
  auto fresh_last = StartRead(*fresh, 999, 1);
  ASSERT_TRUE(*fresh_last && **fresh_last);
  EXPECT_EQ(BytesOf(***fresh_last), std::vector(block_.end() - 1, block_.end()));
}

TEST_F(FillProgressTest, AFillThatFoundNoGoodCopyEndsEveryWaitingReaderWithItsError) {
  std::unique_ptr<BlockReader> reader = progress_->NewReader();
  auto waiting = StartRead(*reader, 0, 1000);
  progress_->BeginAttempt("parent");
  EXPECT_FALSE(progress_->FinishAttempt(Error{Errc::kBlockNotFound, "no such block"}));
  Settle();
  EXPECT_FALSE(*waiting);
  progress_->Fail(Error{Errc::kBlockNotFound, "no upstream has it"});
  Settle();
  ASSERT_TRUE(*waiting);
  ASSERT_FALSE(**waiting);
  EXPECT_EQ((**waiting).error().code, Errc::kBlockNotFound);
  // So does a reader that comes afterwards.
  std::unique_ptr<BlockReader> late = progress_->NewReader();
  auto late_read = StartRead(*late, 0, 1000);
  ASSERT_TRUE(*late_read);
  EXPECT_FALSE(**late_read);
}

TEST_F(FillProgressTest, ACodedAnswerIsReadableOnlyOnceDecodedAndVerified) {
  const std::vector<std::byte> zeros(64 * 1024, std::byte{0});
  const BlockId id = Sha256Of(zeros);
  std::vector<std::byte> frame;
  BlockEncoder().Encode(zeros, 0, frame);
  ASSERT_NE(frame[1], static_cast<std::byte>(Codec::kRaw)) << "zeros did not compress";
  const std::span<const std::byte> payload = std::span(frame).subspan(kFrameHeaderSize);

  auto progress = std::make_shared<FillProgress>(id);
  std::unique_ptr<BlockReader> reader = progress->NewReader();
  progress->BeginAttempt("parent");
  ASSERT_TRUE(progress->Begin(static_cast<Codec>(frame[1]), zeros.size(), payload.size()));
  auto read = StartRead(*reader, 0, zeros.size());
  ASSERT_TRUE(progress->Append(payload));
  Settle();
  EXPECT_FALSE(*read) << "coded bytes were readable before they were decoded";
  auto verified = progress->FinishAttempt({});
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_EQ((*verified)->frame().size(), frame.size());
  Settle();
  ASSERT_TRUE(*read && **read);
  EXPECT_EQ(BytesOf(***read), zeros);
}

}  // namespace
}  // namespace mei::cache_node
