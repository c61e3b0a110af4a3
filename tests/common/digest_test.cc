#include "common/digest.h"

#include <gtest/gtest.h>

#include <string>

#include "common/block_id.h"

namespace mei {
namespace {

std::span<const std::byte> Bytes(std::string_view s) { return std::as_bytes(std::span(s)); }

TEST(DigestTest, MatchesKnownSha256Vectors) {
  EXPECT_EQ(Sha256Of(Bytes("")).Hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Of(Bytes("abc")).Hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(DigestTest, StreamingEqualsOneShot) {
  std::string data(1 << 20, 'x');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 % 251);
  Sha256Hasher hasher;
  for (std::size_t at = 0; at < data.size(); at += 4097) {
    hasher.Update(Bytes(std::string_view(data).substr(at, 4097)));
  }
  EXPECT_EQ(hasher.Finish(), Sha256Of(Bytes(data)));
}

TEST(DigestTest, HexRoundTrips) {
  const Sha256Digest d = BlockIdOf(Bytes("block"));
  auto parsed = Sha256Digest::FromHex(d.Hex());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, d);
  auto binary = Sha256Digest::FromBinary(d.Binary());
  ASSERT_TRUE(binary);
  EXPECT_EQ(*binary, d);
}

TEST(DigestTest, HexParsingIsStrict) {
  const std::string good = Sha256Of(Bytes("x")).Hex();
  std::string upper = good;
  upper[0] = 'A';
  std::string nonhex = good;
  nonhex[10] = 'g';
  for (const std::string& bad :
       {std::string(), good.substr(1), good + "0", upper, nonhex, std::string(64, ' ')}) {
    auto parsed = Sha256Digest::FromHex(bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_EQ(parsed.error().code, Errc::kBadBlockId);
  }
  EXPECT_FALSE(Sha256Digest::FromBinary(Bytes("short")));
}

}  // namespace
}  // namespace mei
