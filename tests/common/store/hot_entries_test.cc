#include "common/store/hot_entries.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <span>
#include <thread>
#include <vector>

#include "common/digest.h"

namespace mei {
namespace {

// A raw frame of `size` payload bytes, all `fill`, with its parsed view.
struct Frame {
  std::vector<std::byte> bytes;
  FrameView view;
};

Frame RawFrame(std::size_t size, char fill) {
  const std::vector<std::byte> payload(size, static_cast<std::byte>(fill));
  Frame frame;
  frame.bytes = FrameOf(Codec::kRaw, size, payload);
  frame.view = ParseFrame(frame.bytes).value();
  return frame;
}

BlockId IdOf(char name) { return BlockIdOf(std::as_bytes(std::span(&name, 1))); }

TEST(HotEntriesTest, AnInlineFrameIsKeptAsACopyWithItsViewOverTheCopy) {
  HotEntries hot(1 << 20);
  const Frame frame = RawFrame(1000, 'a');
  EXPECT_EQ(hot.Find(IdOf('a')), nullptr);
  const auto kept = hot.OfferInline(IdOf('a'), frame.bytes, frame.view, hot.forgotten());
  ASSERT_NE(kept, nullptr);
  const auto found = hot.Find(IdOf('a'));
  ASSERT_EQ(found, kept);
  EXPECT_FALSE(found->in_segment);
  EXPECT_EQ(found->bytes, frame.bytes);
  EXPECT_NE(found->bytes.data(), frame.bytes.data());
  EXPECT_EQ(found->view.payload.data(), found->bytes.data() + kFrameHeaderSize);
  EXPECT_EQ(found->view.payload.size(), 1000u);
  EXPECT_EQ(found->view.header.checksum, frame.view.header.checksum);
  EXPECT_EQ(hot.held_bytes(), frame.bytes.size());
}

TEST(HotEntriesTest, ASegmentEntryIsKeptAtItsFixedCost) {
  HotEntries hot(1 << 20);
  const SegmentFrame where{FrameLocation{3, 4096, 70000}, RawFrame(10, 'x').view.header};
  ASSERT_NE(hot.OfferInSegment(IdOf('s'), where, hot.forgotten()), nullptr);
  const auto found = hot.Find(IdOf('s'));
  ASSERT_NE(found, nullptr);
  ASSERT_TRUE(found->in_segment);
  EXPECT_EQ(found->in_segment->where.segment, 3u);
  EXPECT_EQ(found->in_segment->where.offset, 4096u);
  EXPECT_EQ(found->in_segment->where.length, 70000u);
  EXPECT_EQ(hot.held_bytes(), HotEntries::kEntryCost);
}

// An entry read before an index write that deletes or moves it must not be kept after it.
TEST(HotEntriesTest, AnOfferFromAReaderThatStartedBeforeAForgetIsTurnedAway) {
  HotEntries hot(1 << 20);
  const Frame frame = RawFrame(100, 'b');
  const std::uint64_t before = hot.forgotten();
  hot.Forget(IdOf('z'));  // any block: the reader cannot tell which entries changed
  EXPECT_EQ(hot.OfferInline(IdOf('b'), frame.bytes, frame.view, before), nullptr);
  EXPECT_EQ(hot.Find(IdOf('b')), nullptr);
  EXPECT_NE(hot.OfferInline(IdOf('b'), frame.bytes, frame.view, hot.forgotten()), nullptr);
  hot.Forget(IdOf('b'));
  EXPECT_EQ(hot.Find(IdOf('b')), nullptr);
  EXPECT_EQ(hot.held_bytes(), 0u);
}

TEST(HotEntriesTest, TheLeastRecentlyUsedGoFirstWhenTheCapacityIsReached) {
  const Frame frame = RawFrame(1000, 'c');
  HotEntries hot(3 * frame.bytes.size());
  for (const char name : {'1', '2', '3'}) {
    ASSERT_NE(hot.OfferInline(IdOf(name), frame.bytes, frame.view, hot.forgotten()), nullptr);
  }
  ASSERT_NE(hot.Find(IdOf('1')), nullptr);  // now the most recently used
  ASSERT_NE(hot.OfferInline(IdOf('4'), frame.bytes, frame.view, hot.forgotten()), nullptr);
  EXPECT_NE(hot.Find(IdOf('1')), nullptr);
  EXPECT_EQ(hot.Find(IdOf('2')), nullptr) << "the least recently used one went";
  EXPECT_NE(hot.Find(IdOf('3')), nullptr);
  EXPECT_NE(hot.Find(IdOf('4')), nullptr);
  EXPECT_EQ(hot.held_bytes(), 3 * frame.bytes.size());
}

TEST(HotEntriesTest, AFrameLargerThanTheCapacityAndAnyEntryAtCapacityZeroAreNotKept) {
  const Frame frame = RawFrame(5000, 'd');
  HotEntries small(frame.bytes.size() - 1);
  EXPECT_EQ(small.OfferInline(IdOf('d'), frame.bytes, frame.view, small.forgotten()), nullptr);
  HotEntries none(0);
  EXPECT_EQ(none.OfferInline(IdOf('d'), frame.bytes, frame.view, none.forgotten()), nullptr);
  const SegmentFrame where{FrameLocation{1, 0, 100}, frame.view.header};
  EXPECT_EQ(none.OfferInSegment(IdOf('d'), where, none.forgotten()), nullptr);
  EXPECT_EQ(none.held_bytes(), 0u);
}

TEST(HotEntriesTest, ASecondOfferOfTheSameBlockGetsTheEntryKeptFirst) {
  HotEntries hot(1 << 20);
  const Frame frame = RawFrame(10, 'e');
  const auto first = hot.OfferInline(IdOf('e'), frame.bytes, frame.view, hot.forgotten());
  const auto second = hot.OfferInline(IdOf('e'), frame.bytes, frame.view, hot.forgotten());
  EXPECT_EQ(first, second);
  EXPECT_EQ(hot.held_bytes(), frame.bytes.size());
}

// Readers, writers and deleters at once (run under ThreadSanitizer by scripts/test): whatever is
// found is the frame offered for that id, and the capacity holds throughout.
TEST(HotEntriesTest, ConcurrentOffersFindsAndForgetsKeepEveryEntryWholeAndTheCapacity) {
  std::vector<Frame> frames;
  for (char name = 'a'; name < 'a' + 16; ++name) frames.push_back(RawFrame(500 + name, name));
  HotEntries hot(6 * 700);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 2000; ++round) {
        const std::size_t i = static_cast<std::size_t>((round * 7 + t * 3) % 16);
        const BlockId id = IdOf(static_cast<char>('a' + i));
        if (round % 5 == t % 5) hot.Forget(id);
        const std::uint64_t before = hot.forgotten();
        if (const auto found = hot.Find(id)) {
          EXPECT_EQ(found->bytes, frames[i].bytes);
        } else {
          hot.OfferInline(id, frames[i].bytes, frames[i].view, before);
        }
        EXPECT_LE(hot.held_bytes(), 6u * 700);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
}

}  // namespace
}  // namespace mei
