// RawConnection: a TCP connection to a server under test on loopback that writes exactly the bytes
// a test gives it (malformed, partial, pipelined, dripped) and reads what comes back at the pace
// the test chooses, for the hostile-client tests.
//
// Replies are parsed with Beast's response parser, so a reply that is not well-formed HTTP/1.1
// is no reply at all to a test. Every read is bounded by a timeout (poll(2)), so a server that
// neither answers nor closes fails a test instead of hanging it. Not thread-safe; move-only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mei::testing {

// The upper bound of every wait on a server in the reliability tests: generous, so that a shared
// CI machine never trips it, yet a server that hangs fails a test instead of stalling the suite.
inline constexpr std::chrono::milliseconds kServerPatience{30'000};

// One response as it came off the wire.
struct RawResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // in arrival order
  std::string body;                                          // dechunked; empty for HEAD
  bool keep_alive = false;  // the server said it keeps the connection open

  // The value of the first header called `name` (ASCII case-insensitive), or nullopt.
  [[nodiscard]] std::optional<std::string_view> Header(std::string_view name) const;
};

// "METHOD TARGET HTTP/1.1\r\nHost: test\r\n" + `headers` (each line ending in "\r\n") + "\r\n".
[[nodiscard]] std::string RequestText(std::string_view method, std::string_view target,
                                      std::string_view headers = "");

class RawConnection {
 public:
  // How a connection ended, as the client sees it.
  enum class Ending {
    kOpen,    // nothing ended it before the timeout
    kClosed,  // the server closed it (FIN)
    kReset,   // the server reset it (RST)
  };

  // Connects to `endpoint` ("127.0.0.1:40123"). With `receive_buffer_bytes` > 0, SO_RCVBUF is set
  // before the connect, so that the TCP window is small from the first byte. ADD_FAILURE and
  // !connected() when the connection cannot be made.
  explicit RawConnection(std::string_view endpoint, int receive_buffer_bytes = 0);
  ~RawConnection();
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&& other) noexcept;
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  [[nodiscard]] bool connected() const { return fd_ >= 0; }

  // Writes all of `bytes`; false when the connection broke first.
  bool Send(std::string_view bytes);

  // The next whole response, reading for at most `timeout`; nullopt when the connection ends or
  // the time runs out first (ending() then says which), or when the bytes are not HTTP/1.1.
  // `head_request`: the response answers a HEAD, so it has no body whatever it announces.
  [[nodiscard]] std::optional<RawResponse> Read(std::chrono::milliseconds timeout = kServerPatience,
                                                bool head_request = false);

  // The next response's status line and headers only; its body stays unread, for ReadSome.
  [[nodiscard]] std::optional<RawResponse> ReadHead(
      std::chrono::milliseconds timeout = kServerPatience);

  // Appends at most `limit` bytes to `out`, waiting at most `timeout` for the first; the number
  // appended (0 at the end of the connection or on a timeout).
  std::size_t ReadSome(std::size_t limit, std::string& out, std::chrono::milliseconds timeout);

  // Reads (appending to `rest` when given) until the server ends the connection or `timeout`
  // passes.
  Ending ReadToEnd(std::chrono::milliseconds timeout, std::string* rest = nullptr);

  // Whether the server has ended the connection, without reading what is still buffered: a reset
  // (RST), or a close whose FIN has arrived, within `timeout`. For a slow reader that has unread
  // bytes in its receive buffer.
  [[nodiscard]] Ending WaitForPeerEnd(std::chrono::milliseconds timeout) const;

  // How the connection ended so far (kOpen while it has not).
  [[nodiscard]] Ending ending() const { return ending_; }

  // Closes the socket now (a client that hangs up).
  void Close();

 private:
  // Receives what has arrived into pending_, waiting until `deadline`; the number of bytes (0 at
  // the end of the stream, on a reset or on a timeout; ending_ tells those apart).
  std::size_t Fill(std::chrono::steady_clock::time_point deadline, std::size_t limit);

  // The next response's head (`head_only`) or whole response, parsed from pending_ and what
  // arrives until `deadline`.
  std::optional<RawResponse> ParseResponse(std::chrono::steady_clock::time_point deadline,
                                           bool head_request, bool head_only);

  int fd_ = -1;
  std::string pending_;  // received and not yet returned
  Ending ending_ = Ending::kOpen;
};

}  // namespace mei::testing
