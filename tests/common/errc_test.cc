#include "common/errc.h"

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <string>

namespace mei {
namespace {

constexpr Errc kFirst = Errc::kBadRequest;
constexpr Errc kLast = Errc::kLast;

TEST(ErrcTest, EveryCodeHasAUniqueSnakeCaseName) {
  std::set<std::string_view> seen;
  for (int i = static_cast<int>(kFirst); i <= static_cast<int>(kLast); ++i) {
    const std::string_view code = CodeOf(static_cast<Errc>(i));
    EXPECT_FALSE(code.empty());
    EXPECT_EQ(code.find_first_not_of("abcdefghijklmnopqrstuvwxyz_"), std::string_view::npos)
        << code;
    EXPECT_TRUE(seen.insert(code).second) << "duplicate " << code;
  }
}

TEST(ErrcTest, StatusesFollowTheHttpContract) {
  struct Case {
    Errc code;
    int status;
  };
  const Case cases[] = {
      {Errc::kBadBlockId, 400},      {Errc::kBadPath, 400},
      {Errc::kUnauthorized, 401},    {Errc::kBlockNotFound, 404},
      {Errc::kModelNotFound, 404},   {Errc::kMethodNotAllowed, 405},
      {Errc::kPayloadTooLarge, 413}, {Errc::kRangeNotSatisfiable, 416},
      {Errc::kHeaderTooLarge, 431},  {Errc::kUpstreamFailed, 502},
      {Errc::kOverloaded, 503},      {Errc::kUpstreamTimeout, 504},
      {Errc::kStoreFull, 507},       {Errc::kInternal, 500},
      {Errc::kBadModelFile, 400},
  };
  for (const Case& c : cases) EXPECT_EQ(HttpStatusOf(c.code), c.status) << CodeOf(c.code);
}

TEST(ErrcTest, ValueOnAnErrorThrowsItsMessage) {
  Result<int> failed = Error{Errc::kBadPath, "path \"..\" has a '..' component"};
  try {
    (void)failed.value();
    FAIL() << "value() did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "path \"..\" has a '..' component");
  }
}

TEST(ErrcTest, EveryCodeIsFoundAgainByItsName) {
  for (int i = static_cast<int>(kFirst); i <= static_cast<int>(kLast); ++i) {
    const auto code = static_cast<Errc>(i);
    EXPECT_EQ(ErrcOfCode(CodeOf(code)), code) << CodeOf(code);
  }
  EXPECT_EQ(ErrcOfCode("no_such_code"), std::nullopt);
  EXPECT_EQ(ErrcOfCode(""), std::nullopt);
}

}  // namespace
}  // namespace mei
