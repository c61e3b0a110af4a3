// Listen addresses and peer addresses as the server writes them: "127.0.0.1:8080", "[::1]:8080".
// Header-only; used by server.cc and its tests.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "common/errc.h"

namespace mei::http::internal {

// "IPV4:PORT" or "[IPV6]:PORT".
[[nodiscard]] inline std::string FormatEndpoint(const boost::asio::ip::tcp::endpoint& endpoint) {
  const std::string address = endpoint.address().to_string();
  const std::string port = std::to_string(endpoint.port());
  return endpoint.address().is_v6() ? "[" + address + "]:" + port : address + ":" + port;
}

// An IP literal and a port, "127.0.0.1:8080" or "[::1]:0"; host names are not resolved.
// kBadRequest for anything else.
[[nodiscard]] inline Result<boost::asio::ip::tcp::endpoint> ParseListen(std::string_view listen) {
  const Error malformed{Errc::kBadRequest, "listen address \"" + std::string(listen) +
                                               "\" is not IPV4:PORT or [IPV6]:PORT"};
  std::string_view host;
  std::string_view port;
  const bool bracketed = listen.starts_with('[');
  if (bracketed) {
    const std::size_t close = listen.find(']');
    if (close == std::string_view::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return malformed;
    }
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    const std::size_t colon = listen.rfind(':');
    if (colon == std::string_view::npos) return malformed;
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  std::uint16_t port_number = 0;
  const auto [end, parse_error] =
      std::from_chars(port.data(), port.data() + port.size(), port_number);
  if (port.empty() || port.size() > 5 || parse_error != std::errc() ||
      end != port.data() + port.size()) {
    return malformed;
  }
  boost::system::error_code error;
  const boost::asio::ip::address address = boost::asio::ip::make_address(std::string(host), error);
  if (host.empty() || error || address.is_v6() != bracketed) return malformed;
  return boost::asio::ip::tcp::endpoint(address, port_number);
}

}  // namespace mei::http::internal
