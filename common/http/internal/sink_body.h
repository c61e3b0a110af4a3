// SinkBody: the Beast body type of the HTTP client's responses. A body is collected into a string,
// as Beast's string_body does, or, when the caller gave a ResponseSink that wants it, handed to the
// sink piece by piece as the parser takes it off the socket (client.h, FetchAsync). Header-only;
// used by client.cc.
#pragma once

#include <boost/asio/error.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <type_traits>

#include "common/errc.h"
#include "common/http/client.h"

namespace mei::http::internal {

struct SinkBody {
  struct value_type {
    ResponseSink* sink = nullptr;  // null: always collect into `text`
    bool streaming = false;        // the sink took the body: `text` stays empty
    std::string text;
    std::uint64_t received = 0;    // body bytes taken off the wire, whoever took them
    std::optional<Error> refused;  // the sink's error, which aborted the exchange
  };

  class reader {
   public:
    using Head = boost::beast::http::header<false, boost::beast::http::fields>;

    // `head` is complete by the time init() is called. Only responses are streamed.
    template <bool isRequest, class Fields>
    reader(boost::beast::http::header<isRequest, Fields>& head, value_type& body) : body_(body) {
      if constexpr (std::is_same_v<boost::beast::http::header<isRequest, Fields>, Head>) {
        head_ = &head;
      }
    }

    void init(const boost::optional<std::uint64_t>& length, boost::system::error_code& ec) {
      ec = {};
      if (body_.sink != nullptr && head_ != nullptr) {
        ClientResponse head;
        head.status = head_->result_int();
        for (const auto& field : *head_) {
          head.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
        }
        const std::optional<std::uint64_t> announced =
            length ? std::optional<std::uint64_t>(*length) : std::nullopt;
        Result<bool> taken = body_.sink->Start(head, announced);
        if (!taken) {
          Refuse(taken.error(), ec);
          return;
        }
        body_.streaming = *taken;
      }
      // Collected bodies are bounded by the parser's body_limit, checked before init.
      if (!body_.streaming && length) body_.text.reserve(static_cast<std::size_t>(*length));
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
      ec = {};
      std::size_t taken = 0;
      for (const auto buffer : boost::beast::buffers_range_ref(buffers)) {
        const auto* data = static_cast<const std::byte*>(buffer.data());
        if (body_.streaming) {
          if (Result<void> appended = body_.sink->Append({data, buffer.size()}); !appended) {
            Refuse(appended.error(), ec);
            return taken;
          }
        } else {
          body_.text.append(reinterpret_cast<const char*>(data), buffer.size());
        }
        taken += buffer.size();
        body_.received += buffer.size();
      }
      return taken;
    }

    void finish(boost::system::error_code& ec) { ec = {}; }

   private:
    void Refuse(Error error, boost::system::error_code& ec) {
      body_.refused = std::move(error);
      ec = boost::asio::error::operation_aborted;
    }

    value_type& body_;
    Head* head_ = nullptr;
  };
};

}  // namespace mei::http::internal
