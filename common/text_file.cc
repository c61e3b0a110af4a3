#include "common/text_file.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>
#include <utility>

namespace mei {
namespace {

Error IoError(const std::filesystem::path& path, std::string_view what) {
  return Error{Errc::kIo,
               fmt::format("cannot {} {}: {}", what, path.string(), std::strerror(errno))};
}

}  // namespace

Result<std::string> ReadTextFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError(path, "open");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return IoError(path, "read");
  return std::move(text).str();
}

}  // namespace mei
