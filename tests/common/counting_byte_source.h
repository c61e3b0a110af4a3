// A ByteSource over bytes in memory that counts what is read through it, for checking that a
// parser reads a file's framing and not its tensors.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "common/byte_source.h"

namespace mei {

class CountingByteSource final : public ByteSource {
 public:
  // `bytes` must outlive the source.
  explicit CountingByteSource(const std::string& bytes, std::string name = "<memory>")
      : inner_(std::as_bytes(std::span(bytes)), std::move(name)) {}

  std::uint64_t size() const override { return inner_.size(); }
  Result<void> ReadAt(std::uint64_t offset, std::span<std::byte> out) const override {
    bytes_read_ += out.size();
    ++reads_;
    return inner_.ReadAt(offset, out);
  }
  const std::string& name() const override { return inner_.name(); }

  // Bytes and reads asked for so far.
  std::uint64_t bytes_read() const { return bytes_read_; }
  std::uint64_t reads() const { return reads_; }

 private:
  MemoryByteSource inner_;
  mutable std::uint64_t bytes_read_ = 0;
  mutable std::uint64_t reads_ = 0;
};

}  // namespace mei
