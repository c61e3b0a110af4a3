// LocalBlockStore: the device's own content-addressed block store (by default
// ~/.cache/mei/blocks). mei-get reuses from it the blocks a model shares with one fetched before,
// and saves each block to it the moment the block arrives and verifies, so an interrupted download
// resumes where it stopped.
//
// Layout: <root>/<first two hex digits of the id>/<64 hex digits>, each file one stored frame
// (common/codec.h) exactly as the node sent it, so a compressed block stays compressed on the
// device's disk too. A block is written under <root>/tmp/ and renamed into place: a name always
// holds a whole frame. Frames carry an XXH3 of their payload, checked on every read; a frame that
// fails it is removed and reported missing, and the caller fetches the block again.
//
// Thread-safe: any number of threads (and processes) may use one store at once; each write has a
// temporary of its own.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <vector>

#include "common/block_id.h"
#include "common/errc.h"

namespace mei::tools {

class LocalBlockStore {
 public:
  // Opens (creating if needed) the store at `root`, and removes the temporaries that processes no
  // longer running left in <root>/tmp/. kIo when the folders cannot be made.
  [[nodiscard]] static Result<LocalBlockStore> Open(std::filesystem::path root);

  // Whether a frame is stored under `id` (not whether it is intact: ReadFrame checks that).
  [[nodiscard]] bool Contains(const BlockId& id) const;

  // Stores `frame` under `id`, replacing any frame there. REQUIRES: `frame` is the verified frame
  // of block `id` (FetchBlockFrame's result). kIo (or kStoreFull when the disk is full) on error,
  // after which nothing new is under `id`.
  [[nodiscard]] Result<void> Put(const BlockId& id, std::span<const std::byte> frame) const;

  // The frame stored under `id`, its checksum checked. kBlockNotFound when there is none, or when
  // it is damaged or cannot be read whole (such a frame is removed); kIo when it cannot be opened.
  [[nodiscard]] Result<std::vector<std::byte>> ReadFrame(const BlockId& id) const;

  // Removes the frame under `id`, if any.
  void Remove(const BlockId& id) const;

  [[nodiscard]] const std::filesystem::path& root() const { return root_; }

 private:
  explicit LocalBlockStore(std::filesystem::path root) : root_(std::move(root)) {}
  [[nodiscard]] std::filesystem::path PathOf(const BlockId& id) const;

  std::filesystem::path root_;
};

// The default store: $MEI_CACHE_DIR/blocks, else $XDG_CACHE_HOME/mei/blocks, else
// $HOME/.cache/mei/blocks. kBadRequest when none of those variables is set.
[[nodiscard]] Result<std::filesystem::path> DefaultBlockStorePath();

}  // namespace mei::tools
