// A small zip archive whose layout is known to the byte, and a way to break one field of it: for
// the zip parser's tests and its fuzz seeds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "tools/synth/zip_writer.h"

namespace mei::testing {

// Two stored members: "a.bin" (10 bytes, data at 35) and "b.bin" (10 bytes, local header at 45,
// data at 80), then the central directory at 90 (entries at 90 and 141), end record at 192.
inline std::string TwoMemberZip(tools::ZipWriterOptions options = {}) {
  return tools::ZipBytes(
      [](tools::ZipWriter& zip) {
        zip.AddMember("a.bin", "0123456789").value();
        zip.AddMember("b.bin", "abcdefghij").value();
      },
      std::move(options));
}

// `bytes` with the `width`-byte little-endian field at `at` set to `value`.
inline std::string Patched(std::string bytes, std::size_t at, std::uint64_t value, int width) {
  for (int i = 0; i < width; ++i) bytes.at(at + i) = static_cast<char>(value >> (8 * i));
  return bytes;
}

}  // namespace mei::testing
