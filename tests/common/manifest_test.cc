#include "common/manifest.h"

#include <gtest/gtest.h>

#include <string>

namespace mei {
namespace {

BlockId IdOf(std::string_view text) { return BlockIdOf(std::as_bytes(std::span(text))); }

// One safetensors file of 3 blocks (header, then two 100-byte tensor blocks) and a config.
Manifest SampleManifest() {
  Manifest m;
  m.model = "acme/tiny-llama";
  m.revision = "main";
  m.created = "2026-11-23T12:00:00Z";
  ManifestFile config;
  config.path = "config.json";
  config.size = 10;
  config.sha256 = IdOf("config");
  config.format = "other";
  config.blocks = {{IdOf("config"), 0, 10}};
  ManifestFile weights;
  weights.path = "model.safetensors";
  weights.size = 250;
  weights.sha256 = IdOf("weights");
  weights.format = "safetensors";
  weights.blocks = {{IdOf("h"), 0, 50}, {IdOf("a"), 50, 100}, {IdOf("b"), 150, 100}};
  weights.tensors = {{"layers.0.wq", "BF16", {10, 5}, 50, 100, 1, 1},
                     {"layers.0.wk", "BF16", {10, 5}, 150, 100, 2, 1}};
  m.files = {config, weights};
  m.commit = CommitOf(m);
  return m;
}

TEST(ManifestTest, JsonRoundTripGivesTheSameManifest) {
  const Manifest m = SampleManifest();
  auto parsed = ParseManifest(ToJson(m));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(*parsed, m);
}

TEST(ManifestTest, CommitIgnoresRevisionName) {
  Manifest a = SampleManifest();
  Manifest b = a;
  b.revision = "v2";
  EXPECT_EQ(CommitOf(a), CommitOf(b));
}

TEST(ManifestTest, CommitChangesWithAnyBlock) {
  Manifest a = SampleManifest();
  Manifest b = a;
  b.files[1].blocks[2].id = IdOf("c");
  EXPECT_NE(CommitOf(a), CommitOf(b));
}

TEST(ManifestTest, CanonicalJsonHasSortedKeysAndNoWhiteSpace) {
  const std::string json = ToJson(SampleManifest());
  EXPECT_EQ(json.find(' '), std::string::npos);
  EXPECT_LT(json.find("\"commit\""), json.find("\"created\""));
  EXPECT_LT(json.find("\"files\""), json.find("\"model\""));
  EXPECT_LT(json.find("\"revision\""), json.find("\"schema\""));
}

TEST(ManifestTest, ParseRejectsAWrongCommit) {
  Manifest m = SampleManifest();
  m.commit = IdOf("something else");
  auto parsed = ParseManifest(ToJson(m));
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, Errc::kBadManifest);
}

TEST(ManifestTest, ParseRejectsMalformedJson) {
  for (std::string_view text : {"", "{", "[]", "42", R"({"schema":"mei.manifest.v2"})",
                                R"({"schema":"mei.manifest.v1"})"}) {
    auto parsed = ParseManifest(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error().code, Errc::kBadManifest) << text;
    EXPECT_FALSE(parsed.error().message.empty());
  }
}

TEST(ManifestTest, ParseRejectsNegativeAndNonIntegerSizes) {
  std::string json = ToJson(SampleManifest());
  const std::string needle = "\"size\":10,";
  const auto at = json.find(needle);
  ASSERT_NE(at, std::string::npos);
  for (std::string replacement : {"\"size\":-10,", "\"size\":10.5,", "\"size\":\"10\","}) {
    std::string broken = json;
    broken.replace(at, needle.size(), replacement);
    EXPECT_FALSE(ParseManifest(broken)) << replacement;
  }
}

struct BrokenCase {
  const char* what;
  void (*breakit)(Manifest&);
};

TEST(ManifestTest, ValidationRejectsEveryBrokenInvariant) {
  const BrokenCase cases[] = {
      {"gap between blocks", [](Manifest& m) { m.files[1].blocks[1].offset = 51; }},
      {"blocks short of file", [](Manifest& m) { m.files[1].size = 251; }},
      {"blocks past file", [](Manifest& m) { m.files[1].size = 249; }},
      {"zero-size block", [](Manifest& m) { m.files[0].blocks[0].size = 0; }},
      {"tensor past file", [](Manifest& m) { m.files[1].tensors[0].size = 1000; }},
      {"tensor names missing block", [](Manifest& m) { m.files[1].tensors[1].first_block = 3; }},
      {"tensor outside its blocks", [](Manifest& m) { m.files[1].tensors[1].first_block = 1; }},
      {"unknown format", [](Manifest& m) { m.files[1].format = "pickle"; }},
      {"unsorted files", [](Manifest& m) { std::swap(m.files[0], m.files[1]); }},
      {"duplicate paths", [](Manifest& m) { m.files[1].path = m.files[0].path; }},
      {"bad created", [](Manifest& m) { m.created = "yesterday"; }},
      {"bad model", [](Manifest& m) { m.model = "no-slash"; }},
      {"bad revision", [](Manifest& m) { m.revision = "../main"; }},
      {"traversal path", [](Manifest& m) { m.files[1].path = "../etc/passwd"; }},
  };
  for (const BrokenCase& c : cases) {
    Manifest m = SampleManifest();
    c.breakit(m);
    auto valid = ValidateManifest(m);
    EXPECT_FALSE(valid) << c.what;
    if (!valid) {
      EXPECT_FALSE(valid.error().message.empty()) << c.what;
    }
  }
}

TEST(ManifestTest, EmptyFileHasNoBlocks) {
  Manifest m = SampleManifest();
  m.files[0].size = 0;
  m.files[0].blocks.clear();
  EXPECT_TRUE(ValidateManifest(m));
}

TEST(FilePathTest, AcceptsOrdinaryRelativePaths) {
  for (std::string_view path :
       {"config.json", "a/b/c.safetensors", "onnx/model.onnx_data", ".gitattributes", "a..b/c"}) {
    EXPECT_TRUE(ValidateFilePath(path)) << path;
  }
}

TEST(FilePathTest, RejectsTraversalAbsoluteAndEmptyComponents) {
  using namespace std::string_view_literals;
  for (std::string_view path : std::initializer_list<std::string_view>{
           "", "/etc/passwd", "..", "../x", "a/../b", "a/..", "./a", "a/./b", "a//b", "a/", "a\\b",
           "a\0b"sv, "a\nb"}) {
    auto valid = ValidateFilePath(path);
    ASSERT_FALSE(valid) << path;
    EXPECT_EQ(valid.error().code, Errc::kBadPath);
  }
  EXPECT_FALSE(ValidateFilePath(std::string(1025, 'a')));
}

TEST(ModelNameTest, AcceptsOrgSlashName) {
  for (std::string_view model : {"acme/tiny-llama", "meta-llama/Llama-3.1-8B", "a/b", "x_y/z.z"}) {
    EXPECT_TRUE(ValidateModelName(model)) << model;
  }
}

TEST(ModelNameTest, RejectsAnythingElse) {
  for (std::string_view model : {"", "acme", "/x", "x/", "a/b/c", "../x", "a/..", ".a/b", "-a/b",
                                 "a b/c", "a/b%2e", "a/b?x"}) {
    auto valid = ValidateModelName(model);
    ASSERT_FALSE(valid) << model;
    EXPECT_EQ(valid.error().code, Errc::kBadModelName);
  }
}

TEST(RevisionNameTest, AcceptsBranchesTagsAndCommits) {
  for (std::string_view rev :
       {"main", "v1.0", "refs/pr/1", "release_2026-11",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}) {
    EXPECT_TRUE(ValidateRevisionName(rev)) << rev;
  }
}

TEST(RevisionNameTest, RejectsTraversalAndOddCharacters) {
  using namespace std::string_view_literals;
  for (std::string_view rev : std::initializer_list<std::string_view>{
           "", "/main", "main/", "a//b", "..", "a/../b", ".hidden", "a b", "a%2f", "a\0"sv}) {
    EXPECT_FALSE(ValidateRevisionName(rev)) << rev;
  }
  EXPECT_FALSE(ValidateRevisionName(std::string(129, 'a')));
}

}  // namespace
TEST(ModelRefTest, ParsesModelAndOptionalRevision) {
  const struct {
    std::string_view text;
    std::string_view model;
    std::string_view revision;
  } cases[] = {
      {"acme/tiny", "acme/tiny", "main"},
      {"acme/tiny@v1.2", "acme/tiny", "v1.2"},
      {"acme/tiny@refs/pr/1", "acme/tiny", "refs/pr/1"},
  };
  for (const auto& c : cases) {
    auto ref = ParseModelRef(c.text);
    ASSERT_TRUE(ref) << c.text << ": " << ref.error().message;
    EXPECT_EQ(ref->model, c.model) << c.text;
    EXPECT_EQ(ref->revision, c.revision) << c.text;
  }
}

TEST(ModelRefTest, RejectsBadNamesAndAnEmptyRevision) {
  for (std::string_view text : {"", "acme", "acme/tiny@", "@main", "acme/../x", "acme/tiny@a b",
                                "acme/tiny@../x", "/acme/tiny"}) {
    auto ref = ParseModelRef(text);
    ASSERT_FALSE(ref) << text;
    EXPECT_FALSE(ref.error().message.empty()) << text;
  }
}

TEST(ManifestTest, OnlySixtyFourLowercaseHexDigitsNameACommit) {
  EXPECT_TRUE(IsCommitHex(std::string(64, 'a')));
  EXPECT_TRUE(IsCommitHex("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
  EXPECT_FALSE(IsCommitHex(std::string(64, 'x')));  // a valid branch name
  EXPECT_FALSE(IsCommitHex(std::string(64, 'A')));
  EXPECT_FALSE(IsCommitHex(std::string(63, 'a')));
  EXPECT_FALSE(IsCommitHex("main"));
}

}  // namespace mei
