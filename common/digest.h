// SHA-256 digests: block ids and file checksums.
//
// SHA-256 (not a fast hash) because a device must be able to verify bytes that reached it
// through a node it does not trust. OpenSSL's EVP interface uses SHA-NI where the CPU has it.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/errc.h"

namespace mei {

// A 32-byte SHA-256 value. Regular value type; thread-compatible.
class Sha256Digest {
 public:
  static constexpr std::size_t kSize = 32;
  static constexpr std::size_t kHexSize = 64;

  Sha256Digest() = default;  // all zero bytes
  explicit Sha256Digest(const std::array<std::uint8_t, kSize>& bytes) : bytes_(bytes) {}

  // Strict: exactly 64 lowercase hex digits, else kBadBlockId.
  [[nodiscard]] static Result<Sha256Digest> FromHex(std::string_view hex);
  // Exactly 32 bytes, else kBadBlockId.
  [[nodiscard]] static Result<Sha256Digest> FromBinary(std::span<const std::byte> binary);

  [[nodiscard]] std::string Hex() const;  // 64 lowercase hex digits
  [[nodiscard]] std::span<const std::byte, kSize> Binary() const {
    return std::span<const std::byte, kSize>(reinterpret_cast<const std::byte*>(bytes_.data()),
                                             kSize);
  }

  friend auto operator<=>(const Sha256Digest&, const Sha256Digest&) = default;

 private:
  std::array<std::uint8_t, kSize> bytes_{};
};

// The SHA-256 of `bytes`, in one call. Thread-safe.
[[nodiscard]] Sha256Digest Sha256Of(std::span<const std::byte> bytes);

// Streaming SHA-256 for data that arrives in pieces (whole files). Not thread-safe; one per
// stream. Update() after Finish() starts nothing new: create another hasher.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(Sha256Hasher&&) noexcept;
  Sha256Hasher& operator=(Sha256Hasher&&) noexcept;

  void Update(std::span<const std::byte> bytes);
  [[nodiscard]] Sha256Digest Finish();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

}  // namespace mei

template <>
struct std::hash<mei::Sha256Digest> {
  std::size_t operator()(const mei::Sha256Digest& digest) const noexcept {
    std::size_t h;  // SHA-256 output is uniform: any 8 bytes make a good hash.
    std::memcpy(&h, digest.Binary().data(), sizeof(h));
    return h;
  }
};
