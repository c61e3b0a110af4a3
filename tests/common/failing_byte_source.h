// A ByteSource whose every read fails, for checking that parsers keep I/O errors as kIo.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/byte_source.h"

namespace mei {

class FailingByteSource final : public ByteSource {
 public:
  std::uint64_t size() const override { return 1024; }
  Result<void> ReadAt(std::uint64_t, std::span<std::byte>) const override {
    return Error{Errc::kIo, "disk on fire"};
  }
  const std::string& name() const override { return name_; }

 private:
  std::string name_ = "failing";
};

}  // namespace mei
