// One error vocabulary for the whole project.
//
// Every failure that input, the network or a disk can cause is a value: `Result<T>` holds either a
// T or an `Error` (a stable code plus one human sentence). The HTTP layer maps the code to a
// status and a JSON body `{"error": CodeOf(code), "message": message}`; command-line tools print
// the message and exit non-zero. Codes are part of the API: never renumber or rename one.
#pragma once

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace mei {

enum class Errc {
  kBadRequest = 1,  // malformed request or argument
  kBadBlockId,      // not 64 lowercase hex digits (or 32 binary bytes)
  kBadPath,         // path with "..", empty or absolute components
  kBadModelName,    // model id not of the form org/name
  kBadSafetensors,  // safetensors file that does not add up
  kBadGguf,         // GGUF file that does not add up
  kBadManifest,     // manifest JSON that fails validation
  kBadFrame,        // stored frame that is truncated or fails its checksum
  kIntegrity,       // bytes whose SHA-256 is not the block id they claim
  kModelNotFound,
  kRevisionNotFound,
  kFileNotFound,
  kBlockNotFound,
  kRangeNotSatisfiable,
  kMethodNotAllowed,
  kPayloadTooLarge,
  kHeaderTooLarge,
  kUnauthorized,
  kOverloaded,
  kStoreFull,
  kUpstreamFailed,
  kUpstreamTimeout,
  kIo,       // local file system error
  kStorage,  // RocksDB error
  kInternal,
  kBadModelFile,  // ONNX, TFLite, NumPy, zip or TF.js file that does not add up (the sentence
                  // names the format)
  kLast = kBadModelFile,  // not a code: the highest one, for iterating over them
};

// The stable string code of `code`, e.g. "bad_block_id". Thread-safe; static storage.
[[nodiscard]] std::string_view CodeOf(Errc code);

// The code whose CodeOf is `text` (e.g. from another node's JSON error body), or nullopt.
[[nodiscard]] std::optional<Errc> ErrcOfCode(std::string_view text);

// The HTTP status that answers `code` (400, 404, 416, 502, 507, ...).
[[nodiscard]] int HttpStatusOf(Errc code);

struct Error {
  Errc code = Errc::kInternal;
  std::string message;  // one sentence for a human; never contains secrets
};

template <class T>
using Result = boost::system::result<T, Error>;

// `result.value()` on an error throws std::runtime_error carrying the message. Only start-up and
// command-line code may call value() without checking; the data plane checks has_value().
[[noreturn]] void throw_exception_from_error(const Error& error,
                                             const boost::source_location& location);

}  // namespace mei
