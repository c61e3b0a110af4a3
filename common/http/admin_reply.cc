#include "common/http/admin_reply.h"

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

std::variant<std::string, Reply> AdminRoute(const Request& request, const AdminAuth& auth,
                                            std::string_view realm) {
  if (auto allowed = auth.Check(request.Find("Authorization").value_or("")); !allowed) {
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
