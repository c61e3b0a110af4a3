// AdminRoute: an admin request names a route only with exactly one Authorization header that
// carries the admin token; everything else is the 401 that refuses it, with WWW-Authenticate.
#include "common/http/admin_reply.h"

#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

namespace mei::http {
namespace {

constexpr char kToken[] = "admin-reply-test-token-0123456789";

Request AdminGet(std::vector<Header> headers) {
  Request request;
  request.method = "GET";
  request.target = "/admin/v1/status";
  request.headers = std::move(headers);
  return request;
}

TEST(AdminRouteTest, TheTokenInOneAuthorizationHeaderNamesTheRoute) {
  const AdminAuth auth(kToken);
  const auto route =
      AdminRoute(AdminGet({{"Authorization", std::string("Bearer ") + kToken}}), auth, "test");
  ASSERT_TRUE(std::holds_alternative<std::string>(route));
  EXPECT_EQ(std::get<std::string>(route), "status");
}

TEST(AdminRouteTest, TwoAuthorizationHeadersAreRefusedWhateverTheyHold) {
  const AdminAuth auth(kToken);
  const Header right{"Authorization", std::string("Bearer ") + kToken};
  const Header wrong{"authorization", "Bearer not-the-admin-token-at-all"};
  for (const std::vector<Header>& headers : std::vector<std::vector<Header>>{
           {right, right}, {right, wrong}, {wrong, right}, {right, {"AUTHORIZATION", ""}}}) {
    SCOPED_TRACE(headers[0].value + " / " + headers[1].value);
    const auto route = AdminRoute(AdminGet(headers), auth, "test");
    ASSERT_TRUE(std::holds_alternative<Reply>(route));
    const Reply& reply = std::get<Reply>(route);
    EXPECT_EQ(reply.status, 401);
    EXPECT_EQ(reply.route, "admin");
    EXPECT_EQ(reply.Find("WWW-Authenticate"), "Bearer realm=\"test\"");
    EXPECT_NE(reply.text.find("\"unauthorized\""), std::string::npos) << reply.text;
    EXPECT_EQ(reply.text.find(kToken), std::string::npos) << reply.text;
  }
}

}  // namespace
}  // namespace mei::http
