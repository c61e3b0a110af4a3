#include "tests/integration/test_upstream.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <charconv>
#include <cstddef>
#include <filesystem>
#include <utility>
#include <vector>

#include "common/run_blocking.h"
#include "tests/common/http/chunk_bytes.h"

namespace mei::testing {
namespace {

constexpr std::string_view kBlockPrefix = "/v1/blocks/";

// The block id of a /v1/blocks/{id} target, or nullopt for any other target.
std::optional<BlockId> BlockOfTarget(std::string_view target) {
  if (!target.starts_with(kBlockPrefix)) return std::nullopt;
  target.remove_prefix(kBlockPrefix.size());
  target = target.substr(0, target.find('?'));
  auto id = BlockId::FromHex(target);
  if (!id) return std::nullopt;
  return *id;
}

// Passes a body through with one byte flipped: the middle byte of the first non-empty chunk, so
// the length and every header stay as the data plane planned them.
class CorruptingBody final : public http::BodySource {
 public:
  explicit CorruptingBody(std::unique_ptr<http::BodySource> inner) : inner_(std::move(inner)) {}

  Result<http::Chunk> Next() override {
    auto chunk = inner_->Next();
    if (!chunk || flipped_ || chunk->size() == 0) return chunk;
    flipped_ = true;
    auto copy = std::make_shared<std::string>(ChunkBytes(*chunk));
    (*copy)[copy->size() / 2] ^= 0x5a;
    return http::Chunk{std::as_bytes(std::span<const char>(*copy)), copy};
  }

 private:
  std::unique_ptr<http::BodySource> inner_;
  bool flipped_ = false;
};

}  // namespace

std::shared_ptr<Store> OpenUpstreamStore(const std::filesystem::path& dir) {
  StoreOptions options;
  options.create_if_missing = false;
  auto store = OpenStore(dir, options);
  if (!store) {
    ADD_FAILURE() << "cannot open the upstream store " << dir << ": " << store.error().message;
    return nullptr;
  }
  return std::make_shared<Store>(std::move(*store));
}

TestUpstream::TestUpstream(std::shared_ptr<Store> store, std::string name)
    : store_(std::move(store)),
      content_(*store_),
      data_plane_(content_, metrics_, DataPlaneOptions{.served_by = std::move(name)}) {}

std::unique_ptr<TestUpstream> TestUpstream::Start(std::shared_ptr<Store> store, std::string name,
                                                  std::uint16_t port) {
  if (!store) {
    ADD_FAILURE() << "no store to serve";
    return nullptr;
  }
  std::unique_ptr<TestUpstream> upstream(new TestUpstream(std::move(store), std::move(name)));
  if (!upstream->Listen(port)) return nullptr;
  return upstream;
}

TestUpstream::~TestUpstream() { Stop(); }

bool TestUpstream::Listen(std::uint16_t port) {
  http::ServerOptions options;
  options.listen = "127.0.0.1:" + std::to_string(port);
  // Enough workers that held block requests (a node fills 8 at once by default) never keep a
  // manifest request or a second node waiting.
  options.worker_threads = 32;
  options.drain_timeout = std::chrono::seconds(5);
  auto server = http::Server::Start(
      options, [this](const http::Request& request) { return Handle(request); });
  if (!server) {
    ADD_FAILURE() << "the test upstream cannot listen on " << options.listen << ": "
                  << server.error().message;
    return false;
  }
  server_ = std::move(*server);
  const std::string endpoint = server_->endpoint();
  const std::string_view bound = std::string_view(endpoint).substr(endpoint.rfind(':') + 1);
  std::from_chars(bound.data(), bound.data() + bound.size(), port_);
  return true;
}

std::string TestUpstream::Url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void TestUpstream::Stop() {
  ReleaseBlocks();
  if (server_) {
    server_->Drain();
    server_.reset();
  }
}

bool TestUpstream::Restart() {
  if (server_) return true;
  return Listen(port_);
}

std::uint64_t TestUpstream::block_requests_for(const BlockId& id) const {
  std::lock_guard lock(mu_);
  const auto found = by_block_.find(id);
  return found == by_block_.end() ? 0 : found->second;
}

std::uint64_t TestUpstream::block_requests_from(std::string_view client) const {
  std::lock_guard lock(mu_);
  const auto found = by_client_.find(client);
  return found == by_client_.end() ? 0 : found->second;
}

std::uint64_t TestUpstream::requests(std::string_view route) const {
  std::lock_guard lock(mu_);
  const auto found = by_route_.find(route);
  return found == by_route_.end() ? 0 : found->second;
}

void TestUpstream::HoldBlocks() {
  std::lock_guard lock(mu_);
  holding_ = true;
}

void TestUpstream::ReleaseBlocks() {
  {
    std::lock_guard lock(mu_);
    holding_ = false;
  }
  changed_.notify_all();
}

bool TestUpstream::WaitForBlockRequests(std::uint64_t count, std::chrono::milliseconds deadline) {
  std::unique_lock lock(mu_);
  if (changed_.wait_for(lock, deadline, [&] { return block_requests_.load() >= count; })) {
    return true;
  }
  ADD_FAILURE() << "waited " << deadline.count() << " ms for " << count
                << " block requests at the upstream; " << block_requests_.load() << " came";
  return false;
}

http::Reply TestUpstream::Handle(const http::Request& request) {
  const std::optional<BlockId> block = BlockOfTarget(request.target);
  if (block) {
    std::unique_lock lock(mu_);
    ++by_block_[*block];
    ++by_client_[std::string(request.Find("X-Mei-Client").value_or(""))];
    ++block_requests_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return !holding_; });
  }
  http::Reply reply = RunBlocking(data_plane_.Handle(request));
  {
    std::lock_guard lock(mu_);
    ++by_route_[reply.route];
  }
  if ((block || reply.route == "resolve") && corrupt_.load() &&
      (reply.status == 200 || reply.status == 206)) {
    if (reply.body) {
      reply.body = std::make_unique<CorruptingBody>(std::move(reply.body));
    } else if (!reply.text.empty()) {
      reply.text[reply.text.size() / 2] ^= 0x5a;
    }
  }
  return reply;
}

}  // namespace mei::testing
