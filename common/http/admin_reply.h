// What the admin APIs (the cache node's and the origin's; docs/ARCHITECTURE.md) share: their
// replies carry the route label "admin" (for metrics and the access log), and every request first
// passes the bearer-token check and names a route /admin/v1/{name}.
#pragma once

#include <boost/system/result.hpp>
#include <string>
#include <string_view>
#include <variant>

#include "common/errc.h"
#include "common/http/admin_auth.h"
#include "common/http/message.h"

namespace mei::http {

// `reply` labelled with the route "admin".
[[nodiscard]] Reply AdminReply(Reply reply);

// The JSON error reply for `error`, labelled.
[[nodiscard]] Reply AdminError(const Error& error);

// 405 for `request`'s method, with "Allow: `allow`", labelled.
[[nodiscard]] Reply AdminMethodNotAllowed(const Request& request, std::string_view allow);

// The route name of an admin request, the {name} of /admin/v1/{name}, when the request carries
// the token `auth` accepts in its one Authorization header; otherwise the reply that refuses it:
// 401 (also for two Authorization headers, whatever they hold; with "WWW-Authenticate:
// Bearer realm=`realm`"), or 400/404 for a target that is no admin route. Thread-safe.
[[nodiscard]] std::variant<std::string, Reply> AdminRoute(const Request& request,
                                                          const AdminAuth& auth,
                                                          std::string_view realm);

}  // namespace mei::http
