// BlockPipeline: hashes, encodes and stores blocks on worker threads while one reader feeds them.
//
// The reader takes a buffer (which bounds the memory in flight: at most 2 x workers + 1 blocks
// exist at once), fills it, and submits it with the slot its id must be written to. Workers compute
// the SHA-256, skip ids the store already holds, encode the rest and put them. Drain() waits for
// everything submitted and reports the first error. Single reader; the pipeline itself is
// internally synchronized.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/codec.h"
#include "common/errc.h"
#include "common/manifest.h"
#include "common/store.h"

namespace mei::origin {

struct PipelineTotals {
  std::uint64_t new_blocks = 0;
  std::uint64_t new_raw_bytes = 0;
  std::uint64_t dedup_raw_bytes = 0;
  std::uint64_t stored_bytes = 0;

  PipelineTotals& operator+=(const PipelineTotals& other);
};

class BlockPipeline {
 public:
  // REQUIRES: workers >= 1. `store` must outlive the pipeline.
  BlockPipeline(BlockStore& store, unsigned workers, const EncodeOptions& encoding);
  ~BlockPipeline();
  BlockPipeline(const BlockPipeline&) = delete;
  BlockPipeline& operator=(const BlockPipeline&) = delete;

  // A buffer of `size` bytes, waiting while all are in flight. nullopt once a worker failed: stop
  // reading and call Drain() for the error.
  [[nodiscard]] std::optional<std::vector<std::byte>> TakeBuffer(std::size_t size);

  // Queues `raw` (from TakeBuffer); a worker writes its id to `out->id`, which must stay valid
  // until Drain() returns. `element_width` is the codec's byte-grouping hint. The block counts in
  // the totals of `group` (the caller's numbering, e.g. by file format) as well as in the totals.
  void Submit(std::vector<std::byte> raw, std::uint8_t element_width, ManifestBlock* out,
              std::size_t group = 0);

  // Waits for every submitted block; the first error any worker met, if any.
  [[nodiscard]] Result<void> Drain();

  // Totals over every block completed so far, and over those submitted in `group` (zero for a
  // group with none). Call after Drain().
  PipelineTotals totals() const;
  PipelineTotals totals(std::size_t group) const;

 private:
  struct Job {
    std::vector<std::byte> raw;
    std::uint8_t element_width;
    ManifestBlock* out;
    std::size_t group;
  };

  void Work(EncodeOptions encoding);
  Result<void> Process(Job& job, BlockEncoder& encoder, std::vector<std::byte>& frame,
                       PipelineTotals& totals);

  BlockStore& store_;
  mutable std::mutex mu_;
  std::condition_variable work_ready_;
  std::condition_variable buffer_free_;
  std::condition_variable all_done_;
  std::deque<Job> jobs_;
  std::vector<std::vector<std::byte>> free_buffers_;
  std::size_t in_flight_ = 0;
  bool stopping_ = false;
  std::optional<Error> error_;
  PipelineTotals totals_;
  std::vector<PipelineTotals> group_totals_;  // by group
  std::vector<std::thread> workers_;
};

}  // namespace mei::origin
