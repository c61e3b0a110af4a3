// LocalBlockStore: the device's content-addressed block store (by default ~/.cache/mei/blocks),
// one frame per block. mei-get no longer writes to it: the files it downloads are the device's
// copy of every block (file_index.h), and an interrupted download's blocks wait in its partial
// files. It still reads the frames earlier versions left there (a block shared with the model
// being downloaded is copied out of its frame), and once a download is complete it removes every
// frame whose block a complete file holds, so the store keeps only what no file holds. The folder
// also holds the file index.
//
// Layout: <root>/<first two hex digits of the id>/<64 hex digits>, each file one stored frame
// (common/codec.h) exactly as a node sent it. A block is written under <root>/tmp/ and renamed
// into place: a name always holds a whole frame. Frames carry an XXH3 of their payload, checked on
// every read; a frame that fails it is removed and reported missing.
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

  // Stores `frame` under `id`, replacing any frame there (for tools and tests that stage frames).
  // REQUIRES: `frame` is the verified frame of block `id` (FetchBlockFrame's result). kIo (or
  // kStoreFull when the disk is full) on error, after which nothing new is under `id`.
  [[nodiscard]] Result<void> Put(const BlockId& id, std::span<const std::byte> frame) const;

  // The frame stored under `id`, its checksum checked. kBlockNotFound when there is none, or when
  // it is damaged or cannot be read whole (such a frame is removed); kIo when it cannot be opened.
  [[nodiscard]] Result<std::vector<std::byte>> ReadFrame(const BlockId& id) const;

  // Removes the frame under `id`, if any.
  void Remove(const BlockId& id) const;

  // The ids of every frame stored, in no particular order.
  [[nodiscard]] std::vector<BlockId> List() const;

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
