// RunBlocking: runs a coroutine to completion on the calling thread (an io_context of its own) and
// returns its value, for callers outside any executor: command-line tools, background threads,
// tests. An exception escaping the coroutine is rethrown. Never call it from a thread that serves
// coroutines (a server's I/O or worker threads): it would block that thread for the whole call.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <optional>
#include <utility>

namespace mei {
namespace internal {

template <class T>
boost::asio::awaitable<void> StoreOutcome(boost::asio::awaitable<T> task, std::optional<T>* out) {
  out->emplace(co_await std::move(task));
}

}  // namespace internal

template <class T>
T RunBlocking(boost::asio::awaitable<T> task) {
  boost::asio::io_context io(1);
  std::optional<T> out;
  boost::asio::co_spawn(io, internal::StoreOutcome(std::move(task), &out),
                        [](std::exception_ptr exception) {
                          if (exception) std::rethrow_exception(exception);
                        });
  io.run();
  return std::move(*out);
}

}  // namespace mei
