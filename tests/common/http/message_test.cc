// Reply::FromError: the JSON error body every server answers with is valid JSON whatever the
// message quotes, invalid UTF-8 from a client's path or target included (RFC 8259 section 8.1).
#include "common/http/message.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

namespace mei::http {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

TEST(ReplyFromErrorTest, InvalidUtf8InTheMessageBecomesReplacementCharacters) {
  struct Case {
    std::string message;
    std::string expected;
  };
  const std::string r(kReplacement);
  const std::vector<Case> cases = {
      {"no file \"caf\xC3\xA9\"", "no file \"caf\xC3\xA9\""},  // well-formed: kept
      {"\xE2\x82\xAC and \xF0\x9F\x98\x80", "\xE2\x82\xAC and \xF0\x9F\x98\x80"},
      {"a\xFF"
       "b",
       "a" + r + "b"},
      {"\xC0\xAE\xC0\xAE", r + r + r + r},  // overlong '.': each byte replaced
      {"\xED\xA0\x80", r + r + r},          // a UTF-16 surrogate
      {"\xF4\x90\x80\x80", r + r + r + r},  // above U+10FFFF
      {"cut \xE2\x82", "cut " + r + r},     // a sequence cut short at the end
      {"\xC3"
       "A",
       r + "A"},                                     // a lead byte without its continuation
      {"tab\there, nul\x01", "tab\there, nul\x01"},  // controls are escaped by JSON, not replaced
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    const Reply reply = Reply::FromError({Errc::kFileNotFound, c.message});
    EXPECT_EQ(reply.status, 404);
    EXPECT_EQ(reply.content_length, reply.text.size());
    boost::system::error_code ec;
    const boost::json::value body = boost::json::parse(reply.text, ec);  // rejects invalid UTF-8
    ASSERT_FALSE(ec) << reply.text;
    EXPECT_EQ(body.at("error").as_string(), "file_not_found");
    EXPECT_EQ(std::string(body.at("message").as_string()), c.expected);
  }
}

}  // namespace
}  // namespace mei::http
