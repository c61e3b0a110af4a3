#include "tools/ctl/origin_commands.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace mei::tools {
namespace {

namespace json = boost::json;

TEST(CtlOriginCommandsTest, MakesPathsAbsoluteFromTheCurrentDirectory) {
  EXPECT_EQ(AbsolutePaths({"models/base", "./a/../b.safetensors", "/srv/x", "/srv/y/../z"},
                          "/home/op/work"),
            (std::vector<std::string>{"/home/op/work/models/base", "/home/op/work/b.safetensors",
                                      "/srv/x", "/srv/z"}));
}

TEST(CtlOriginCommandsTest, RendersTheModelListAndTheIngestSummary) {
  const std::vector<NodeOutcome> models = {
      {{"origin", "http://h:8088"},
       json::parse(R"({"models":[{"model":"acme/base","revision":"main","commit":"c0ffee"},)"
                   R"({"model":"acme/chat-7b","revision":"v2","commit":"beef"}]})")}};
  EXPECT_EQ(RenderModelList(models),
            "MODEL         REVISION  COMMIT\n"
            "acme/base     main      c0ffee\n"
            "acme/chat-7b  v2        beef\n");

  const std::vector<NodeOutcome> ingest = {
      {{"origin", "http://h:9099"},
       json::parse(R"({"model":"acme/base","revision":"main","commit":"c0ffee","files":3,)"
                   R"("tensors":12,"blocks":40,"new_blocks":35,"raw_bytes":16777216,)"
                   R"("new_raw_bytes":14680064,"dedup_raw_bytes":2097152,)"
                   R"("stored_bytes":12582912,"seconds":3.25})")}};
  EXPECT_EQ(RenderIngest(ingest),
            "acme/base@main: commit c0ffee\n"
            "  3 files, 12 tensors, 40 blocks (35 new)\n"
            "  raw 16.0 MiB (14.0 MiB new, 2.00 MiB deduplicated), stored 12.0 MiB, 3.2 s\n");

  const std::vector<NodeOutcome> by_format = {
      {{"origin", "http://h:9099"},
       json::parse(R"({"model":"acme/ft","revision":"main","commit":"beef","files":3,)"
                   R"("tensors":12,"blocks":40,"new_blocks":5,"raw_bytes":16777216,)"
                   R"("new_raw_bytes":2097152,"dedup_raw_bytes":14680064,)"
                   R"("stored_bytes":1048576,"seconds":1.5,"formats":{)"
                   R"("other":{"files":2,"tensors":0,"blocks":2,"raw_bytes":1048576,)"
                   R"("new_raw_bytes":0,"dedup_raw_bytes":1048576,"stored_bytes":0},)"
                   R"("safetensors":{"files":1,"tensors":12,"blocks":38,"raw_bytes":15728640,)"
                   R"("new_raw_bytes":2097152,"dedup_raw_bytes":13631488,)"
                   R"("stored_bytes":1048576}}})")}};
  EXPECT_EQ(
      RenderIngest(by_format),
      "acme/ft@main: commit beef\n"
      "  3 files, 12 tensors, 40 blocks (5 new)\n"
      "  raw 16.0 MiB (2.00 MiB new, 14.0 MiB deduplicated), stored 1.00 MiB, 1.5 s\n"
      "  other: 2 files, 0 tensors, 2 blocks, raw 1.00 MiB (1.00 MiB deduplicated)\n"
      "  safetensors: 1 files, 12 tensors, 38 blocks, raw 15.0 MiB (13.0 MiB deduplicated)\n");
}

}  // namespace
}  // namespace mei::tools
