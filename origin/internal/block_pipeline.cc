#include "origin/internal/block_pipeline.h"

#include <utility>

#include "common/block_id.h"

namespace mei::origin {

BlockPipeline::BlockPipeline(BlockStore& store, unsigned workers, const EncodeOptions& encoding)
    : store_(store) {
  // Two buffers per worker: one being processed, one read ahead.
  free_buffers_.resize(2 * static_cast<std::size_t>(workers) + 1);
  for (unsigned i = 0; i < workers; ++i) {
    workers_.emplace_back([this, encoding] { Work(encoding); });
  }
}

BlockPipeline::~BlockPipeline() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

std::optional<std::vector<std::byte>> BlockPipeline::TakeBuffer(std::size_t size) {
  std::unique_lock lock(mu_);
  buffer_free_.wait(lock, [&] { return !free_buffers_.empty() || error_.has_value(); });
  if (error_) return std::nullopt;
  std::vector<std::byte> buffer = std::move(free_buffers_.back());
  free_buffers_.pop_back();
  lock.unlock();
  buffer.resize(size);
  return buffer;
}

PipelineTotals& PipelineTotals::operator+=(const PipelineTotals& other) {
  new_blocks += other.new_blocks;
  new_raw_bytes += other.new_raw_bytes;
  dedup_raw_bytes += other.dedup_raw_bytes;
  stored_bytes += other.stored_bytes;
  return *this;
}

void BlockPipeline::Submit(std::vector<std::byte> raw, std::uint8_t element_width,
                           ManifestBlock* out, std::size_t group) {
  {
    std::lock_guard lock(mu_);
    if (group >= group_totals_.size()) group_totals_.resize(group + 1);
    jobs_.push_back(Job{std::move(raw), element_width, out, group});
    ++in_flight_;
  }
  work_ready_.notify_one();
}

Result<void> BlockPipeline::Drain() {
  std::unique_lock lock(mu_);
  all_done_.wait(lock, [&] { return in_flight_ == 0; });
  if (error_) return *error_;
  return {};
}

PipelineTotals BlockPipeline::totals() const {
  std::lock_guard lock(mu_);
  return totals_;
}

PipelineTotals BlockPipeline::totals(std::size_t group) const {
  std::lock_guard lock(mu_);
  return group < group_totals_.size() ? group_totals_[group] : PipelineTotals{};
}

void BlockPipeline::Work(EncodeOptions encoding) {
  BlockEncoder encoder(encoding);
  std::vector<std::byte> frame;
  std::unique_lock lock(mu_);
  while (true) {
    work_ready_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    const bool skip = error_.has_value();
    lock.unlock();

    PipelineTotals delta;
    Result<void> done = skip ? Result<void>() : Process(job, encoder, frame, delta);

    lock.lock();
    if (!done && !error_) error_ = done.error();
    totals_ += delta;
    group_totals_[job.group] += delta;
    free_buffers_.push_back(std::move(job.raw));
    buffer_free_.notify_one();
    if (--in_flight_ == 0) all_done_.notify_all();
    if (error_) buffer_free_.notify_all();
  }
}

Result<void> BlockPipeline::Process(Job& job, BlockEncoder& encoder, std::vector<std::byte>& frame,
                                    PipelineTotals& totals) {
  const BlockId id = BlockIdOf(job.raw);
  job.out->id = id;
  auto present = store_.Has(id);
  if (!present) return present.error();
  if (!*present) {
    encoder.Encode(job.raw, job.element_width, frame);
    auto stored = store_.Put(id, frame);
    if (!stored) return stored.error();
    if (*stored) {
      totals.new_blocks = 1;
      totals.new_raw_bytes = job.raw.size();
      totals.stored_bytes = frame.size();
      return {};
    }
  }
  totals.dedup_raw_bytes = job.raw.size();
  return {};
}

}  // namespace mei::origin
