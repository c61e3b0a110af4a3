// Test helper: the bytes of a response body chunk, whether it holds them or names a file region
// (read with pread, as sendfile would send them). Header-only.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "common/http/message.h"

namespace mei::testing {

inline std::string ChunkBytes(const http::Chunk& chunk) {
  if (!chunk.file) {
    return std::string(reinterpret_cast<const char*>(chunk.bytes.data()), chunk.bytes.size());
  }
  std::string bytes(chunk.file->length, '\0');
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t got = ::pread(chunk.file->fd, bytes.data() + done, bytes.size() - done,
                                static_cast<off_t>(chunk.file->offset + done));
    if (got <= 0) {
      ADD_FAILURE() << "the chunk's file region cannot be read whole";
      return bytes.substr(0, done);
    }
    done += static_cast<std::size_t>(got);
  }
  return bytes;
}

}  // namespace mei::testing
