#include "common/http/admin_auth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

namespace mei::http {
namespace {

namespace fs = std::filesystem;

const std::string kToken = "s3cr3t-Token_0123456789abcdef";

TEST(AdminAuthTest, RightTokenPasses) {
  const AdminAuth auth(kToken);
  for (const std::string& header :
       {"Bearer " + kToken, "bearer " + kToken, "BEARER " + kToken, "Bearer   " + kToken,
        "  Bearer " + kToken + " \t", "Bearer\t" + kToken}) {
    auto checked = auth.Check(header);
    EXPECT_TRUE(checked.has_value()) << header << ": " << checked.error().message;
  }
}

TEST(AdminAuthTest, EverythingElseIsUnauthorizedWithoutEchoingTheToken) {
  const AdminAuth auth(kToken);
  const std::string prefix = kToken.substr(0, kToken.size() - 1);
  const std::string wrong_case = "S3CR3T-TOKEN_0123456789ABCDEF";
  const std::string bad[] = {
      "",
      "   ",
      "Bearer",
      "Bearer ",
      kToken,
      "Basic " + kToken,
      "Token " + kToken,
      "Bearer" + kToken,
      "Bearer " + prefix,
      "Bearer " + kToken + "x",
      "Bearer x" + kToken,
      "Bearer " + kToken + " extra",
      "Bearer " + kToken + kToken,
      "Bearer " + wrong_case,
      "Bearer wrong-token-0123456789",
      "Bearer " + std::string(1 << 16, 'a'),
      std::string("Bearer ") + kToken + '\0',
  };
  for (const std::string& header : bad) {
    auto checked = auth.Check(header);
    ASSERT_FALSE(checked.has_value()) << header;
    EXPECT_EQ(checked.error().code, Errc::kUnauthorized) << header;
    EXPECT_EQ(HttpStatusOf(checked.error().code), 401);
    EXPECT_EQ(checked.error().message.find(prefix.substr(0, 8)), std::string::npos)
        << checked.error().message;
    EXPECT_EQ(checked.error().message.find("wrong-token"), std::string::npos)
        << checked.error().message;
    EXPECT_FALSE(checked.error().message.empty());
  }
}

TEST(AdminAuthTest, CopiesCheckAgainstTheSameToken) {
  const AdminAuth original(kToken);
  const AdminAuth copy = original;
  EXPECT_TRUE(copy.Check("Bearer " + kToken).has_value());
  EXPECT_FALSE(copy.Check("Bearer " + kToken + "!").has_value());
}

TEST(ValidateAdminTokenTest, NeedsSixteenVisibleAsciiCharacters) {
  EXPECT_TRUE(ValidateAdminToken(std::string(16, 'a')).has_value());
  EXPECT_TRUE(ValidateAdminToken(std::string(kMaxAdminTokenSize, '~')).has_value());
  const std::string bad[] = {
      "",
      std::string(15, 'a'),
      std::string(kMaxAdminTokenSize + 1, 'a'),
      "0123456789 abcdef",
      "0123456789\tabcdef",
      "0123456789abcdef\x7F",
      "0123456789abcdefü",
  };
  for (const std::string& token : bad) {
    auto valid = ValidateAdminToken(token);
    ASSERT_FALSE(valid.has_value()) << token;
    EXPECT_EQ(valid.error().code, Errc::kBadRequest);
    if (!token.empty()) {
      EXPECT_EQ(valid.error().message.find(token.substr(0, 10)), std::string::npos)
          << valid.error().message;
    }
  }
}

class LoadAdminTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("mei_admin_auth_test_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path WriteFile(const std::string& content) {
    const fs::path file = dir_ / "token";
    std::ofstream(file, std::ios::binary | std::ios::trunc) << content;
    return file;
  }

  fs::path dir_;
};

TEST_F(LoadAdminTokenTest, TrailingWhitespaceIsTrimmed) {
  for (const std::string& content :
       {kToken, kToken + "\n", kToken + "\r\n", kToken + "  \n", kToken + "\n\n", kToken + "\t"}) {
    auto token = LoadAdminToken(WriteFile(content));
    ASSERT_TRUE(token.has_value()) << token.error().message;
    EXPECT_EQ(*token, kToken);
  }
}

TEST_F(LoadAdminTokenTest, EmptyFileIsAnError) {
  for (const std::string& content : {std::string(), std::string("\n"), std::string(" \r\n")}) {
    auto token = LoadAdminToken(WriteFile(content));
    ASSERT_FALSE(token.has_value());
    EXPECT_EQ(token.error().code, Errc::kBadRequest);
    EXPECT_NE(token.error().message.find("empty"), std::string::npos) << token.error().message;
    EXPECT_NE(token.error().message.find((dir_ / "token").string()), std::string::npos);
  }
}

TEST_F(LoadAdminTokenTest, ShortOrMalformedTokenIsAnErrorThatDoesNotShowIt) {
  for (const std::string& content :
       {std::string("short-secret\n"), std::string("lead space ") + kToken, " " + kToken}) {
    auto token = LoadAdminToken(WriteFile(content));
    ASSERT_FALSE(token.has_value()) << content;
    EXPECT_EQ(token.error().code, Errc::kBadRequest);
    EXPECT_EQ(token.error().message.find("secret"), std::string::npos) << token.error().message;
    EXPECT_EQ(token.error().message.find("s3cr3t"), std::string::npos) << token.error().message;
  }
}

TEST_F(LoadAdminTokenTest, MissingUnreadableOrHugeFileIsAnIoError) {
  auto missing = LoadAdminToken(dir_ / "no-such-file");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Errc::kIo);
  EXPECT_NE(missing.error().message.find("no-such-file"), std::string::npos);

  auto directory = LoadAdminToken(dir_);
  ASSERT_FALSE(directory.has_value());
  EXPECT_EQ(directory.error().code, Errc::kIo);

  auto huge = LoadAdminToken(WriteFile(std::string(1 << 20, 'a')));
  ASSERT_FALSE(huge.has_value());
  EXPECT_EQ(huge.error().code, Errc::kIo);
}

TEST_F(LoadAdminTokenTest, ResolveTakesTheFileFirstThenTheEnvironmentThenSaysWhatIsMissing) {
  const std::string from_env = "env-Token_0123456789abcdef";
  ::setenv("MEI_ADMIN_TOKEN", from_env.c_str(), 1);
  auto from_file = ResolveAdminToken(WriteFile(kToken + "\n"), "--token-file");
  ASSERT_TRUE(from_file.has_value()) << from_file.error().message;
  EXPECT_EQ(*from_file, kToken);
  auto env = ResolveAdminToken({}, "--token-file");
  ASSERT_TRUE(env.has_value()) << env.error().message;
  EXPECT_EQ(*env, from_env);

  ::setenv("MEI_ADMIN_TOKEN", "short", 1);
  auto short_env = ResolveAdminToken({}, "--token-file");
  ASSERT_FALSE(short_env.has_value());
  EXPECT_EQ(short_env.error().message.find("short"), std::string::npos);

  ::unsetenv("MEI_ADMIN_TOKEN");
  auto none = ResolveAdminToken({}, "--token-file");
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code, Errc::kBadRequest);
  EXPECT_EQ(none.error().message, "no admin token: give --token-file FILE or set MEI_ADMIN_TOKEN");
}

TEST(GenerateAdminTokenTest, IsSixtyFourHexDigitsAndFreshEachTime) {
  std::set<std::string> tokens;
  for (int i = 0; i < 4; ++i) {
    auto token = GenerateAdminToken();
    ASSERT_TRUE(token.has_value()) << token.error().message;
    EXPECT_EQ(token->size(), 64u);
    EXPECT_EQ(token->find_first_not_of("0123456789abcdef"), std::string::npos) << *token;
    EXPECT_TRUE(ValidateAdminToken(*token).has_value());
    EXPECT_TRUE(AdminAuth(*token).Check("Bearer " + *token).has_value());
    tokens.insert(*token);
  }
  EXPECT_EQ(tokens.size(), 4u);
}

TEST(RedactAuthorizationTest, KeepsOnlyAKnownScheme) {
  struct Case {
    std::string header;
    std::string expected;
  };
  const Case cases[] = {
      {"", ""},
      {"   ", ""},
      {"Bearer " + kToken, "Bearer [redacted]"},
      {"bearer " + kToken, "Bearer [redacted]"},
      {"Basic dXNlcjpwYXNz", "Basic [redacted]"},
      {"Bearer", "Bearer [redacted]"},
      {kToken, "[redacted]"},
      {"s3cr3t-part1 part2", "[redacted]"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(RedactAuthorization(c.header), c.expected) << c.header;
  }
}

}  // namespace
}  // namespace mei::http
