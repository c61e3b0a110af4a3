// BufferedReader: sequential little-endian reads over a ByteSource through a fixed window.
//
// Formats made of many small fields (GGUF metadata can hold hundreds of thousands of strings) are
// read through this, so that the source sees one ReadAt per window of kWindowBytes, not one per
// field; a read of a window or more goes straight into the caller's buffer. A read that would run
// past the end of the source fails with the code given at construction and a sentence saying where
// the source ends; errors of the source itself (kIo) pass through unchanged. Not thread-safe; the
// source must outlive the reader.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "common/byte_source.h"
#include "common/errc.h"

namespace mei::internal {

class BufferedReader {
 public:
  static constexpr std::size_t kWindowBytes = 64 * 1024;

  BufferedReader(const ByteSource& source, Errc truncated_code)
      : source_(source), truncated_code_(truncated_code), size_(source.size()) {}

  [[nodiscard]] std::uint64_t position() const { return position_; }
  [[nodiscard]] std::uint64_t remaining() const { return size_ - position_; }

  // Fills `out` with the next bytes and moves past them. `what` names the field for the error
  // ("a string length").
  [[nodiscard]] Result<void> Read(std::span<std::byte> out, std::string_view what) {
    if (out.size() > remaining()) {
      return Error{truncated_code_,
                   fmt::format("the file ends at byte {} but {} at byte {} needs {} bytes", size_,
                               what, position_, out.size())};
    }
    while (!out.empty()) {
      if (position_ >= window_start_ && position_ - window_start_ < window_length_) {
        const std::size_t at = position_ - window_start_;
        const std::size_t n = std::min(out.size(), window_length_ - at);
        std::memcpy(out.data(), window_.data() + at, n);
        out = out.subspan(n);
        position_ += n;
      } else if (out.size() >= kWindowBytes) {
        if (Result<void> read = source_.ReadAt(position_, out); !read) return read;
        position_ += out.size();
        out = {};
      } else {
        if (window_.empty()) window_.resize(kWindowBytes);
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(kWindowBytes, remaining()));
        if (Result<void> read = source_.ReadAt(position_, std::span(window_).first(n)); !read) {
          return read;
        }
        window_start_ = position_;
        window_length_ = n;
      }
    }
    return {};
  }

  // Moves to byte `offset` of the source (at most its size), keeping the window: formats whose
  // fields point at one another (flatbuffers, zip directories) or whose payloads are skipped
  // (protobuf) move about without reading what they pass over.
  [[nodiscard]] Result<void> Seek(std::uint64_t offset, std::string_view what) {
    if (offset > size_) {
      return Error{truncated_code_, fmt::format("the file ends at byte {} but {} is at byte {}",
                                                size_, what, offset)};
    }
    position_ = offset;
    return {};
  }

  // Moves past the next `count` bytes without reading them.
  [[nodiscard]] Result<void> Skip(std::uint64_t count, std::string_view what) {
    if (count > remaining()) {
      return Error{truncated_code_,
                   fmt::format("the file ends at byte {} but {} at byte {} needs {} bytes", size_,
                               what, position_, count)};
    }
    position_ += count;
    return {};
  }

  // Reads a little-endian unsigned integer.
  template <std::unsigned_integral T>
  [[nodiscard]] Result<T> ReadUint(std::string_view what) {
    std::array<std::byte, sizeof(T)> bytes{};
    if (Result<void> read = Read(bytes, what); !read) return read.error();
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      value |= std::to_integer<std::uint64_t>(bytes[i]) << (8 * i);
    }
    return static_cast<T>(value);
  }

 private:
  const ByteSource& source_;
  Errc truncated_code_;
  std::uint64_t size_;
  std::uint64_t position_ = 0;
  std::vector<std::byte> window_;
  std::uint64_t window_start_ = 0;  // offset in the source of window_[0]
  std::size_t window_length_ = 0;   // bytes of window_ that hold source data
};

}  // namespace mei::internal
