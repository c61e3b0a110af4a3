#include "common/http/admin_reply.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "common/http/target.h"

namespace mei::http {

Reply AdminReply(Reply reply) {
  reply.route = "admin";
  return reply;
}

Reply AdminError(const Error& error) { return AdminReply(Reply::FromError(error)); }

Reply AdminMethodNotAllowed(const Request& request, std::string_view allow) {
  Reply reply = AdminError({Errc::kMethodNotAllowed,
                            request.method + " is not allowed here; use " + std::string(allow)});
  reply.With("Allow", std::string(allow));
  return reply;
}

namespace {

// The request's one Authorization header checked by `auth`. Two or more are refused whatever
// they hold: Authorization is not a list (RFC 9110 section 11.6.2), and a proxy in front that
// read another one than this check does must not be able to let a request through.
Result<void> CheckAuthorization(const Request& request, const AdminAuth& auth) {
  const auto count =
      std::count_if(request.headers.begin(), request.headers.end(),
                    [](const Header& h) { return EqualsIgnoreCase(h.name, "Authorization"); });
  if (count > 1) {
    return Error{Errc::kUnauthorized, "the request has more than one Authorization header"};
  }
  return auth.Check(request.Find("Authorization").value_or(""));
}

}  // namespace

std::variant<std::string, Reply> AdminRoute(const Request& request, const AdminAuth& auth,
                                            std::string_view realm) {
  if (auto allowed = CheckAuthorization(request, auth); !allowed) {
    Reply reply = AdminError(allowed.error());
    reply.With("WWW-Authenticate", "Bearer realm=\"" + std::string(realm) + "\"");
    return reply;
  }
  auto target = ParseTarget(request.target);
  if (!target) return AdminError(target.error());
  const std::vector<std::string>& s = target->segments;
  if (s.size() != 3 || s[0] != "admin" || s[1] != "v1") {
    return AdminError({Errc::kFileNotFound, "no admin route at " + request.target});
  }
  return s[2];
}

}  // namespace mei::http
