// OneShot<T>: a value produced once and awaited by any number of consumers. A coroutine that
// awaits it suspends and frees its thread until the value is set, then resumes on its own
// executor; a plain thread may block for it instead. What a cache node's coalesced fill hands to
// every request waiting for the same block (cache-node/block_filler.h). Thread-safe.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace mei {

template <class T>
class OneShot {
 public:
  // Sets the value and resumes every waiter (each through its own executor, never inline). Only
  // the first call counts; returns whether this one did.
  //
  // The waiters are posted to and notified under the lock, which every waiter takes again to read
  // the value: so no waiter can return, and let its executor (say RunBlocking's io_context) or this
  // object be destroyed, while this call is still posting to it. Posting never runs a handler
  // inline, so holding the lock meanwhile cannot deadlock.
  bool Set(T value) {
    std::lock_guard lock(mu_);
    if (value_) return false;
    value_.emplace(std::move(value));
    for (std::function<void()>& resume : waiters_) resume();
    waiters_.clear();
    set_.notify_all();
    return true;
  }

  // Whether the value is set.
  [[nodiscard]] bool ready() const {
    std::lock_guard lock(mu_);
    return value_.has_value();
  }

  // A copy of the value, once set; the calling coroutine is suspended until then.
  [[nodiscard]] boost::asio::awaitable<T> Wait() {
    namespace net = boost::asio;
    co_await net::async_initiate<const net::use_awaitable_t<>, void()>(
        [this](auto handler) {
          using Handler = decltype(handler);
          auto shared = std::make_shared<Handler>(std::move(handler));
          auto resume = [shared] {
            const auto executor = net::get_associated_executor(*shared);
            net::post(executor, [shared] { std::move (*shared)(); });
          };
          std::unique_lock lock(mu_);
          if (value_) {
            lock.unlock();
            resume();
            return;
          }
          waiters_.push_back(std::move(resume));
        },
        net::use_awaitable);
    co_return Value();
  }

  // A copy of the value, blocking the calling thread until it is set. Not for a thread that
  // serves coroutines (a server's I/O or worker threads): use Wait() there.
  [[nodiscard]] T Get() {
    std::unique_lock lock(mu_);
    set_.wait(lock, [this] { return value_.has_value(); });
    return *value_;
  }

 private:
  T Value() const {
    std::lock_guard lock(mu_);
    return *value_;
  }

  mutable std::mutex mu_;
  std::condition_variable set_;
  std::optional<T> value_;
  std::vector<std::function<void()>> waiters_;
};

}  // namespace mei
