#include "common/digest.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace mei {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

Result<Sha256Digest> Sha256Digest::FromHex(std::string_view hex) {
  if (hex.size() != kHexSize) {
    return Error{Errc::kBadBlockId, "a SHA-256 id is 64 lowercase hex digits; got " +
                                        std::to_string(hex.size()) + " characters"};
  }
  std::array<std::uint8_t, kSize> bytes{};
  for (std::size_t i = 0; i < kSize; ++i) {
    const int hi = HexValue(hex[2 * i]);
    const int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return Error{Errc::kBadBlockId, "a SHA-256 id is 64 lowercase hex digits; found a '" +
                                          std::string(1, hi < 0 ? hex[2 * i] : hex[2 * i + 1]) +
                                          "'"};
    }
    bytes[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return Sha256Digest(bytes);
}

Result<Sha256Digest> Sha256Digest::FromBinary(std::span<const std::byte> binary) {
  if (binary.size() != kSize) {
    return Error{Errc::kBadBlockId,
                 "a binary SHA-256 id is 32 bytes; got " + std::to_string(binary.size())};
  }
  std::array<std::uint8_t, kSize> bytes{};
  std::memcpy(bytes.data(), binary.data(), kSize);
  return Sha256Digest(bytes);
}

std::string Sha256Digest::Hex() const {
  std::string hex(kHexSize, '0');
  for (std::size_t i = 0; i < kSize; ++i) {
    hex[2 * i] = kHexDigits[bytes_[i] >> 4];
    hex[2 * i + 1] = kHexDigits[bytes_[i] & 0xf];
  }
  return hex;
}

struct Sha256Hasher::Context {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Context() { EVP_MD_CTX_free(ctx); }
};

Sha256Hasher::Sha256Hasher() : context_(std::make_unique<Context>()) {
  // Allocation failure of a 200-byte context is not something the caller can handle.
  if (context_->ctx == nullptr || EVP_DigestInit_ex(context_->ctx, EVP_sha256(), nullptr) != 1) {
    throw std::bad_alloc();
  }
}
Sha256Hasher::~Sha256Hasher() = default;
Sha256Hasher::Sha256Hasher(Sha256Hasher&&) noexcept = default;
Sha256Hasher& Sha256Hasher::operator=(Sha256Hasher&&) noexcept = default;

void Sha256Hasher::Update(std::span<const std::byte> bytes) {
  EVP_DigestUpdate(context_->ctx, bytes.data(), bytes.size());
}

Sha256Digest Sha256Hasher::Finish() {
  std::array<std::uint8_t, Sha256Digest::kSize> bytes{};
  unsigned int length = 0;
  EVP_DigestFinal_ex(context_->ctx, bytes.data(), &length);
  return Sha256Digest(bytes);
}

Sha256Digest Sha256Of(std::span<const std::byte> bytes) {
  std::array<std::uint8_t, Sha256Digest::kSize> out{};
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), out.data(), &length, EVP_sha256(), nullptr);
  return Sha256Digest(out);
}

}  // namespace mei
