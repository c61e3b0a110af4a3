#include "tools/ctl/node_list.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace mei::tools {
namespace {

TEST(CtlNodeListTest, ParsesNodeFlags) {
  struct Case {
    const char* text;
    const char* id;
    const char* url;
  };
  const Case cases[] = {
      {"http://127.0.0.1:9091", "", "http://127.0.0.1:9091"},
      {"http://127.0.0.1:9091/", "", "http://127.0.0.1:9091"},
      {"edge-a=http://10.0.0.5:9091", "edge-a", "http://10.0.0.5:9091"},
      {"edge-a=http://[::1]:9091//", "edge-a", "http://[::1]:9091"},
      {"http://node.cache:9091/admin-proxy?x=1", "", "http://node.cache:9091/admin-proxy?x=1"},
  };
  for (const Case& c : cases) {
    auto node = ParseNodeFlag(c.text);
    ASSERT_TRUE(node) << c.text << ": " << node.error().message;
    EXPECT_EQ(node->id, c.id) << c.text;
    EXPECT_EQ(node->url, c.url) << c.text;
  }
}

TEST(CtlNodeListTest, BaseUrlsLoseTheirTrailingSlashes) {
  EXPECT_EQ(ParseBaseUrl("http://h:8088//").value(), "http://h:8088");
  EXPECT_EQ(ParseBaseUrl("http://h:8088/prefix/").value(), "http://h:8088/prefix");
  EXPECT_EQ(ParseBaseUrl("ftp://h:1").error().code, Errc::kBadRequest);
}

TEST(CtlNodeListTest, RejectsBadNodeFlags) {
  for (const char* text : {"", "edge-a", "=http://h:1", "edge a=http://h:1", "https://h:1",
                           "edge-a=ftp://h:1", "http://h:0", "http://user@h:1"}) {
    auto node = ParseNodeFlag(text);
    ASSERT_FALSE(node) << text;
    EXPECT_EQ(node.error().code, Errc::kBadRequest) << text;
  }
}

TEST(CtlNodeListTest, NamesANodeByIdWhenItHasOne) {
  const NodeAddress named{"edge-b", "http://10.0.0.6:9091"};
  EXPECT_EQ(named.Name(), "edge-b");
  EXPECT_EQ(named.Label(), "edge-b (http://10.0.0.6:9091)");
  const NodeAddress bare{"", "http://10.0.0.6:9091"};
  EXPECT_EQ(bare.Name(), "http://10.0.0.6:9091");
  EXPECT_EQ(bare.Label(), "http://10.0.0.6:9091");
}

TEST(CtlNodeListTest, ParsesATopologyWithCommentsAndBlankLines) {
  auto nodes = ParseTopology(
      "# edge nodes of region west\n"
      "\n"
      "edge-a  http://10.0.0.5:9091\n"
      "  edge-b\thttp://10.0.0.6:9091/  \r\n"
      "   # indented comment\n"
      "edge-c http://[::1]:9091");
  ASSERT_TRUE(nodes) << nodes.error().message;
  ASSERT_EQ(nodes->size(), 3u);
  EXPECT_EQ((*nodes)[0].id, "edge-a");
  EXPECT_EQ((*nodes)[0].url, "http://10.0.0.5:9091");
  EXPECT_EQ((*nodes)[1].id, "edge-b");
  EXPECT_EQ((*nodes)[1].url, "http://10.0.0.6:9091");
  EXPECT_EQ((*nodes)[2].url, "http://[::1]:9091");
}

TEST(CtlNodeListTest, RejectsABadTopologyNamingTheLine) {
  struct Case {
    const char* text;
    const char* message_part;
  };
  const Case cases[] = {
      {"", "names no node"},
      {"# only a comment\n\n", "names no node"},
      {"edge-a http://h:1\nedge-b\n", "line 2: expected \"ID URL\", got 1 word(s)"},
      {"edge-a http://h:1 extra\n", "line 1: expected \"ID URL\", got 3 word(s)"},
      {"edge-a ftp://h:1\n", "line 1:"},
      {"edge-a http://h:1\nedge-a http://h:2\n", "line 2: node edge-a is named twice"},
  };
  for (const Case& c : cases) {
    auto nodes = ParseTopology(c.text);
    ASSERT_FALSE(nodes) << c.text;
    EXPECT_EQ(nodes.error().code, Errc::kBadRequest) << c.text;
    EXPECT_NE(nodes.error().message.find(c.message_part), std::string::npos)
        << c.text << ": " << nodes.error().message;
  }
}

TEST(CtlNodeListTest, LoadTopologyNamesTheFileInErrors) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "ctl_node_list";
  std::filesystem::create_directories(dir);
  const std::filesystem::path file = dir / "nodes.txt";
  std::ofstream(file, std::ios::trunc) << "edge-a http://h:1\nedge-b\n";
  auto bad = LoadTopology(file);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find(file.string() + ": line 2"), std::string::npos)
      << bad.error().message;

  auto missing = LoadTopology(dir / "missing.txt");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kIo);
  EXPECT_NE(missing.error().message.find("missing.txt"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mei::tools
