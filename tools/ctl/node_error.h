// How one node's part of a meictl command failed, and the result type of every call that talks to
// a node. A failure concerns that node only: the command goes on with the others and reports each
// failure on a line of its own.
#pragma once

#include <boost/system/result.hpp>
#include <string>
#include <string_view>

#include "common/errc.h"

namespace mei::tools {

enum class NodeFailure {
  kUnreachable,   // no reply: connection refused or reset, timeout, name not resolved
  kTokenRefused,  // the node answered 401: the admin token is not the node's
  kErrorReply,    // the node answered another error status
  kBadReply,      // the node answered 2xx with a body that is not what the API promises
  kFailed,        // the node did its part and reports that it failed (a prefetch job), or a wait
                  // for it ran out of time
};

struct NodeError {
  NodeFailure failure = NodeFailure::kFailed;
  int http_status = 0;  // the node's status; 0 when no reply came
  std::string code;     // the node's stable error code ("model_not_found"), when it sent one
  std::string message;  // one sentence; never contains the admin token
};

template <class T>
using NodeResult = boost::system::result<T, NodeError>;

// "unreachable", "token refused", "error reply", "bad reply", "failed": the stable word for
// --json and the start of the one-line report. Thread-safe; static storage.
[[nodiscard]] std::string_view NameOf(NodeFailure failure);

// The one-line report of `error` after the node's label: "unreachable: connection refused",
// "token refused: the node answered 401; check --token-file or MEI_ADMIN_TOKEN",
// "error reply 404 (model_not_found): no model acme/x". Thread-safe.
[[nodiscard]] std::string Describe(const NodeError& error);

// The NodeError of an http::Fetch of `method` `url` that got no reply: kUnreachable, with the
// "METHOD URL failed: " that Fetch's message starts with dropped (the node's label, printed before
// it, says where). Thread-safe.
[[nodiscard]] NodeError UnreachableError(std::string_view method, std::string_view url,
                                         Error error);

// value() on an error is a programming error in meictl (callers check); this is what
// boost::system::result requires to compile it.
[[noreturn]] void throw_exception_from_error(const NodeError& error,
                                             const boost::source_location& location);

}  // namespace mei::tools
