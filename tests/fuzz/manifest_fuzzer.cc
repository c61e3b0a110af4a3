// Fuzz target: the manifest JSON reader (ParseManifest in common/manifest.h).
//
// Manifests arrive from a parent node or the origin (a cache node parses what it is sent), so the
// input is any text. A rejection must be kBadManifest with a sentence. A manifest that parses must
// pass ValidateManifest, carry the commit CommitOf computes, and survive a round trip: ToJson of it
// parses again to an equal manifest.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/manifest.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mei;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const Result<Manifest> manifest = ParseManifest(text);
  if (!manifest) {
    FUZZ_CHECK(manifest.error().code == Errc::kBadManifest && !manifest.error().message.empty(),
               "rejected with code %d: %s", static_cast<int>(manifest.error().code),
               manifest.error().message.c_str());
    return 0;
  }
  const Result<void> valid = ValidateManifest(*manifest);
  FUZZ_CHECK(valid.has_value(), "a parsed manifest does not validate: %s",
             valid.error().message.c_str());
  FUZZ_CHECK(CommitOf(*manifest) == manifest->commit, "a parsed manifest has a wrong commit");
  const std::string json = ToJson(*manifest);
  const Result<Manifest> again = ParseManifest(json);
  FUZZ_CHECK(again.has_value(), "ToJson of a parsed manifest does not parse: %s (%s)",
             again.error().message.c_str(), json.c_str());
  FUZZ_CHECK(*again == *manifest, "the manifest changed in a ToJson round trip: %s", json.c_str());
  return 0;
}
