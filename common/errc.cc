#include "common/errc.h"

#include <stdexcept>

namespace mei {

std::string_view CodeOf(Errc code) {
  switch (code) {
    case Errc::kBadRequest:
      return "bad_request";
    case Errc::kBadBlockId:
      return "bad_block_id";
    case Errc::kBadPath:
      return "bad_path";
    case Errc::kBadModelName:
      return "bad_model_name";
    case Errc::kBadSafetensors:
      return "bad_safetensors";
    case Errc::kBadGguf:
      return "bad_gguf";
    case Errc::kBadManifest:
      return "bad_manifest";
    case Errc::kBadFrame:
      return "bad_frame";
    case Errc::kIntegrity:
      return "integrity_failure";
    case Errc::kModelNotFound:
      return "model_not_found";
    case Errc::kRevisionNotFound:
      return "revision_not_found";
    case Errc::kFileNotFound:
      return "file_not_found";
    case Errc::kBlockNotFound:
      return "block_not_found";
    case Errc::kRangeNotSatisfiable:
      return "range_not_satisfiable";
    case Errc::kMethodNotAllowed:
      return "method_not_allowed";
    case Errc::kPayloadTooLarge:
      return "payload_too_large";
    case Errc::kHeaderTooLarge:
      return "header_too_large";
    case Errc::kUnauthorized:
      return "unauthorized";
    case Errc::kOverloaded:
      return "overloaded";
    case Errc::kStoreFull:
      return "store_full";
    case Errc::kUpstreamFailed:
      return "upstream_failed";
    case Errc::kUpstreamTimeout:
      return "upstream_timeout";
    case Errc::kIo:
      return "io_error";
    case Errc::kStorage:
      return "storage_error";
    case Errc::kInternal:
      return "internal_error";
    case Errc::kBadModelFile:
      return "bad_model_file";
  }
  return "internal_error";
}

int HttpStatusOf(Errc code) {
  switch (code) {
    case Errc::kBadRequest:
    case Errc::kBadBlockId:
    case Errc::kBadPath:
    case Errc::kBadModelName:
    case Errc::kBadSafetensors:
    case Errc::kBadGguf:
    case Errc::kBadModelFile:
    case Errc::kBadManifest:
      return 400;
    case Errc::kUnauthorized:
      return 401;
    case Errc::kModelNotFound:
    case Errc::kRevisionNotFound:
    case Errc::kFileNotFound:
    case Errc::kBlockNotFound:
      return 404;
    case Errc::kMethodNotAllowed:
      return 405;
    case Errc::kPayloadTooLarge:
      return 413;
    case Errc::kRangeNotSatisfiable:
      return 416;
    case Errc::kHeaderTooLarge:
      return 431;
    case Errc::kUpstreamFailed:
    case Errc::kIntegrity:
      return 502;
    case Errc::kOverloaded:
      return 503;
    case Errc::kUpstreamTimeout:
      return 504;
    case Errc::kStoreFull:
      return 507;
    case Errc::kBadFrame:
    case Errc::kIo:
    case Errc::kStorage:
    case Errc::kInternal:
      return 500;
  }
  return 500;
}

void throw_exception_from_error(const Error& error, const boost::source_location&) {
  throw std::runtime_error(error.message.empty() ? std::string(CodeOf(error.code)) : error.message);
}

std::optional<Errc> ErrcOfCode(std::string_view text) {
  for (int value = static_cast<int>(Errc::kBadRequest); value <= static_cast<int>(Errc::kLast);
       ++value) {
    const auto code = static_cast<Errc>(value);
    if (CodeOf(code) == text) return code;
  }
  return std::nullopt;
}

}  // namespace mei
