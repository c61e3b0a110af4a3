#include "tools/get/block_reply.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <string>

namespace mei::tools {
namespace {

namespace json = boost::json;

// An error reply's body is kept up to this size, for its message.
constexpr std::size_t kErrorBodyBytes = 64 * 1024;

// The "message" of a JSON error body, or "".
std::string MessageOf(std::span<const std::byte> body) {
  boost::system::error_code ec;
  const json::value value =
      json::parse(std::string_view(reinterpret_cast<const char*>(body.data()), body.size()), ec);
  const json::object* object = ec ? nullptr : value.if_object();
  const json::value* message = object ? object->if_contains("message") : nullptr;
  return message && message->is_string() ? std::string(message->get_string()) : "";
}

}  // namespace

BlockReply::BlockReply(std::span<const BlockNeed> needs, bool range, const http::RemoteNode& node,
                       Pacer& pacer, const std::atomic<bool>& stop)
    : needs_(needs), range_(range), node_(node), pacer_(pacer), stop_(stop) {}

Error BlockReply::NotTheBlock(std::string_view why) const {
  const std::size_t at = std::min(verified_, needs_.size() - 1);
  return Error{Errc::kIntegrity,
               fmt::format("{} sent block {} {}", node_.name, needs_[at].block.id.Hex(), why)};
}

Error BlockReply::WrongDigest(const Sha256Digest& digest) const {
  return Error{Errc::kIntegrity,
               fmt::format("{} sent bytes for block {} whose SHA-256 is {}", node_.name,
                           needs_[verified_].block.id.Hex(), digest.Hex())};
}

Result<void> BlockReply::OnHead(const ReplyHead& head) {
  status_ = head.status;
  const std::string hex = needs_.front().block.id.Hex();
  std::uint64_t size = 0;
  for (const BlockNeed& need : needs_) size += need.block.size;
  if (range_) {
    const BlockPlace& first = needs_.front().places.front();
    const std::string expected = fmt::format("bytes {}-{}/", first.offset, first.offset + size - 1);
    if (status_ == 200) {  // the whole file: never read on
      return Error{Errc::kUpstreamFailed,
                   fmt::format("{} answered a range request for block {} with the whole file",
                               node_.name, hex)};
    }
    if (status_ != 206) {
      mode_ = Mode::kError;
      return {};
    }
    if (!head.content_range.starts_with(expected) || !http::CodecOfCoding(head.content_encoding) ||
        *http::CodecOfCoding(head.content_encoding) != Codec::kRaw) {
      return Error{Errc::kUpstreamFailed,
                   fmt::format("{} answered a range request for block {} with \"{}\" in coding "
                               "\"{}\"",
                               node_.name, hex, head.content_range, head.content_encoding)};
    }
  } else if (status_ != 200) {
    mode_ = Mode::kError;
    return {};
  }
  const std::optional<Codec> codec = http::CodecOfCoding(head.content_encoding);
  if (!codec) {
    return Error{Errc::kUpstreamFailed,
                 fmt::format("{} sent block {} in coding \"{}\", which was not asked for",
                             node_.name, hex, head.content_encoding)};
  }
  codec_ = *codec;
  if (codec_ == Codec::kRaw) {
    if (head.content_length && *head.content_length != size) {
      return NotTheBlock(fmt::format("as {} bytes, not its {}", *head.content_length, size));
    }
    mode_ = Mode::kRaw;
    return {};
  }
  std::uint64_t raw_size = 0;
  const std::string_view announced = head.raw_size;
  const auto [end, error] =
      std::from_chars(announced.data(), announced.data() + announced.size(), raw_size);
  if (error != std::errc() || end != announced.data() + announced.size() || raw_size != size) {
    return NotTheBlock(
        fmt::format("encoded with X-Mei-Raw-Size \"{}\", not its {} bytes", announced, size));
  }
  // A compressed payload is never much larger than its raw bytes (zstd's bound).
  coded_limit_ = size + size / 128 + 4096;
  if (head.content_length && *head.content_length > coded_limit_) {
    return NotTheBlock(fmt::format("as {} encoded bytes, more than {} raw bytes can take",
                                   *head.content_length, size));
  }
  body_.reserve(head.content_length.value_or(0));
  mode_ = Mode::kCoded;
  return {};
}

Result<void> BlockReply::WriteAll(std::span<const std::byte> bytes, std::uint64_t at) {
  for (const BlockPlace& place : needs_[verified_].places) {
    if (auto written = place.file->Write(bytes, place.offset + at); !written) {
      local_failure_ = true;
      return written;
    }
  }
  return {};
}

Result<void> BlockReply::EndOfBlock() {
  const BlockNeed& need = needs_[verified_];
  if (const Sha256Digest digest = hasher_.Finish(); digest != need.block.id) {
    return WrongDigest(digest);
  }
  for (const BlockPlace& place : need.places) {
    place.file->StartWriteback(place.offset, need.block.size);
  }
  ++verified_;
  at_ = 0;
  hasher_ = Sha256Hasher();
  return {};
}

Result<void> BlockReply::OnBody(std::span<const std::byte> bytes) {
  pacer_.Account(bytes.size(), stop_);
  wire_bytes_ += bytes.size();
  switch (mode_) {
    case Mode::kRaw:
      while (!bytes.empty()) {
        if (verified_ == needs_.size()) return NotTheBlock("with bytes after its end");
        const std::uint64_t size = needs_[verified_].block.size;
        const std::span<const std::byte> piece = bytes.first(
            static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size(), size - at_)));
        hasher_.Update(piece);
        if (auto written = WriteAll(piece, at_); !written) return written;
        at_ += piece.size();
        bytes = bytes.subspan(piece.size());
        if (at_ == size) {
          if (auto checked = EndOfBlock(); !checked) return checked;
        }
      }
      return {};
    case Mode::kCoded:
      if (wire_bytes_ > coded_limit_) {
        return NotTheBlock(fmt::format("as more encoded bytes than its {} raw bytes can take",
                                       needs_.front().block.size));
      }
      body_.insert(body_.end(), bytes.begin(), bytes.end());
      return {};
    case Mode::kError:
      bytes = bytes.first(
          std::min(bytes.size(), kErrorBodyBytes - std::min(kErrorBodyBytes, body_.size())));
      body_.insert(body_.end(), bytes.begin(), bytes.end());
      return {};
  }
  return {};
}

Result<void> BlockReply::Finish() {
  const std::string hex = needs_[std::min(verified_, needs_.size() - 1)].block.id.Hex();
  if (mode_ == Mode::kError) {
    const std::string message = MessageOf(body_);
    if (status_ == 404) {
      return Error{Errc::kBlockNotFound, fmt::format("{} has no block {}", node_.name, hex)};
    }
    return Error{Errc::kUpstreamFailed,
                 fmt::format("{} answered {} for block {}{}{}", node_.name, status_, hex,
                             message.empty() ? "" : ": ", message)};
  }
  if (mode_ == Mode::kRaw) {
    if (verified_ != needs_.size()) return NotTheBlock("cut short");
    return {};
  }
  thread_local BlockDecoder decoder;
  std::vector<std::byte> raw;
  if (auto decoded = decoder.Decode(FrameOf(codec_, needs_[0].block.size, body_), raw); !decoded) {
    return NotTheBlock("that does not decode: " + decoded.error().message);
  }
  hasher_.Update(raw);
  if (auto written = WriteAll(raw, 0); !written) return written;
  return EndOfBlock();
}

}  // namespace mei::tools
