// ProtobufReader: reads protobuf wire format (https://protobuf.dev/programming-guides/encoding/)
// field by field over a ByteSource, for parsers that read a few fields of a large message (an
// ONNX model's tensors) without generated code and without reading the payloads they skip.
//
// It trusts nothing: every tag, varint (at most 10 bytes, no overflow) and length is checked
// against the message that holds it, groups and unknown wire types are refused, and a field read
// as a given kind must have that kind's wire type. Every such violation is an Error with the code
// given at construction and a sentence naming the message, the field and the byte offsets; errors
// of the source (kIo) pass through. Not thread-safe; the source must outlive the reader.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "common/byte_source.h"
#include "common/errc.h"
#include "common/internal/buffered_reader.h"
#include "common/internal/utf8.h"

namespace mei::internal {

enum class WireType : std::uint8_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

// A message being read: what it is (for errors) and the absolute offsets it spans.
struct ProtoScope {
  std::string_view kind;  // "ModelProto", "TensorProto", ...
  std::uint64_t start = 0;
  std::uint64_t end = 0;
};

// A field's tag.
struct ProtoField {
  std::uint32_t number = 0;
  WireType wire_type = WireType::kVarint;
  std::uint64_t at = 0;  // offset of its tag
};

// Where a length-delimited value lies: [offset, offset + length).
struct ProtoPayload {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

class ProtobufReader {
 public:
  static constexpr int kMaxVarintBytes = 10;

  ProtobufReader(const ByteSource& source, Errc code)
      : reader_(source, code), code_(code), size_(source.size()) {}

  [[nodiscard]] std::uint64_t position() const { return reader_.position(); }
  [[nodiscard]] std::uint64_t size() const { return size_; }

  // The whole source as the outermost message.
  [[nodiscard]] ProtoScope WholeSource(std::string_view kind) const { return {kind, 0, size_}; }

  // True while `scope` has fields left to read.
  [[nodiscard]] bool Within(const ProtoScope& scope) const { return position() < scope.end; }

  // A varint ending within `scope`: at most 10 bytes, the tenth holding only bit 63. Protobuf
  // writers emit minimal varints, but padded ones (0x80 0x00) decode as protobuf decodes them.
  [[nodiscard]] Result<std::uint64_t> ReadVarint(const ProtoScope& scope, std::string_view what) {
    const std::uint64_t at = position();
    std::uint64_t value = 0;
    for (int i = 0; i < kMaxVarintBytes; ++i) {
      if (position() >= scope.end) {
        return Bad(fmt::format("{} at byte {}: {} at byte {} runs past its end at byte {}",
                               scope.kind, scope.start, what, at, scope.end));
      }
      Result<std::uint8_t> byte = reader_.ReadUint<std::uint8_t>(what);
      if (!byte) return byte.error();
      if (i == kMaxVarintBytes - 1 && (*byte & 0x80) != 0) {
        return Bad(fmt::format("{} at byte {}: {} at byte {} is a varint longer than 10 bytes",
                               scope.kind, scope.start, what, at));
      }
      if (i == kMaxVarintBytes - 1 && *byte > 1) {
        return Bad(fmt::format("{} at byte {}: {} at byte {} is a varint that overflows 64 bits",
                               scope.kind, scope.start, what, at));
      }
      value |= std::uint64_t{*byte & 0x7Fu} << (7 * i);
      if ((*byte & 0x80) == 0) break;
    }
    return value;
  }

  // The next field's tag. REQUIRES: Within(scope).
  [[nodiscard]] Result<ProtoField> ReadField(const ProtoScope& scope) {
    const std::uint64_t at = position();
    Result<std::uint64_t> tag = ReadVarint(scope, "a tag");
    if (!tag) return tag.error();
    if (*tag > std::numeric_limits<std::uint32_t>::max()) {
      return Bad(fmt::format("{} at byte {}: tag {} at byte {} does not fit 32 bits", scope.kind,
                             scope.start, *tag, at));
    }
    const auto number = static_cast<std::uint32_t>(*tag >> 3);
    const auto wire_type = static_cast<std::uint8_t>(*tag & 7);
    if (number == 0) {
      return Bad(fmt::format("{} at byte {}: the tag at byte {} has field number 0", scope.kind,
                             scope.start, at));
    }
    if (wire_type == 3 || wire_type == 4) {
      return Bad(
          fmt::format("{} at byte {}: field {} at byte {} is a group (wire type {}), a "
                      "deprecated encoding this reader refuses",
                      scope.kind, scope.start, number, at, wire_type));
    }
    if (wire_type > 5) {
      return Bad(
          fmt::format("{} at byte {}: field {} at byte {} has wire type {}, which is not a "
                      "protobuf wire type",
                      scope.kind, scope.start, number, at, wire_type));
    }
    return ProtoField{number, static_cast<WireType>(wire_type), at};
  }

  // Fails unless `field` (called `name` in errors) has `wire_type`.
  [[nodiscard]] Result<void> Expect(const ProtoField& field, WireType wire_type,
                                    const ProtoScope& scope, std::string_view name) const {
    if (field.wire_type == wire_type) return {};
    return Bad(fmt::format("{} at byte {}: field {} ({}) at byte {} has wire type {}, not {}",
                           scope.kind, scope.start, field.number, name, field.at,
                           static_cast<int>(field.wire_type), static_cast<int>(wire_type)));
  }

  // Reads the length of a length-delimited field and returns where its payload lies, with the
  // reader at the payload's first byte.
  [[nodiscard]] Result<ProtoPayload> ReadPayload(const ProtoField& field, const ProtoScope& scope) {
    Result<std::uint64_t> length = ReadVarint(scope, "a length");
    if (!length) return length.error();
    const std::uint64_t offset = position();
    if (*length > scope.end - offset) {
      return Bad(fmt::format(
          "{} at byte {}: field {} at byte {} claims {} bytes but the {} ends {} bytes later, at "
          "byte {}",
          scope.kind, scope.start, field.number, field.at, *length, scope.kind, scope.end - offset,
          scope.end));
    }
    return ProtoPayload{offset, *length};
  }

  // Moves past a payload ReadPayload returned, without reading it.
  [[nodiscard]] Result<void> SkipPayload(const ProtoPayload& payload, std::string_view what) {
    return reader_.Seek(payload.offset + payload.length, what);
  }

  // Moves past `count` bytes of `field`'s value, which must end within `scope`.
  [[nodiscard]] Result<void> SkipBytes(const ProtoField& field, const ProtoScope& scope,
                                       std::uint64_t count) {
    if (count > scope.end - position()) {
      return Bad(
          fmt::format("{} at byte {}: the {}-byte value of field {} at byte {} runs past "
                      "its end at byte {}",
                      scope.kind, scope.start, count, field.number, field.at, scope.end));
    }
    return reader_.Skip(count, "a field");
  }

  // Moves past `field`'s value, whatever its wire type.
  [[nodiscard]] Result<void> SkipValue(const ProtoField& field, const ProtoScope& scope) {
    switch (field.wire_type) {
      case WireType::kVarint: {
        Result<std::uint64_t> value = ReadVarint(scope, "a varint value");
        if (!value) return value.error();
        return {};
      }
      case WireType::kFixed64:
        return SkipBytes(field, scope, 8);
      case WireType::kFixed32:
        return SkipBytes(field, scope, 4);
      case WireType::kLengthDelimited: {
        Result<ProtoPayload> payload = ReadPayload(field, scope);
        if (!payload) return payload.error();
        return SkipPayload(*payload, "a field");
      }
      case WireType::kStartGroup:
      case WireType::kEndGroup:
        break;
    }
    return Bad("unreachable: groups are refused when their tag is read");
  }

  // The scope of the embedded message `field` (called `name`) holds, a `kind`, with the reader
  // at its first byte.
  [[nodiscard]] Result<ProtoScope> EnterMessage(const ProtoField& field, const ProtoScope& scope,
                                                std::string_view name, std::string_view kind) {
    if (Result<void> ok = Expect(field, WireType::kLengthDelimited, scope, name); !ok) {
      return ok.error();
    }
    Result<ProtoPayload> payload = ReadPayload(field, scope);
    if (!payload) return payload.error();
    return ProtoScope{kind, payload->offset, payload->offset + payload->length};
  }

  // A string field (called `name`) of at most `max_bytes` of UTF-8.
  [[nodiscard]] Result<std::string> ReadText(const ProtoField& field, const ProtoScope& scope,
                                             std::string_view name, std::uint64_t max_bytes) {
    if (Result<void> ok = Expect(field, WireType::kLengthDelimited, scope, name); !ok) {
      return ok.error();
    }
    Result<ProtoPayload> payload = ReadPayload(field, scope);
    if (!payload) return payload.error();
    if (payload->length > max_bytes) {
      return Bad(fmt::format("{} at byte {}: {} at byte {} is {} bytes, more than the limit of {}",
                             scope.kind, scope.start, name, field.at, payload->length, max_bytes));
    }
    std::string text(payload->length, '\0');
    if (Result<void> read = reader_.Read(std::as_writable_bytes(std::span(text)), name); !read) {
      return read.error();
    }
    if (!IsValidUtf8(text)) {
      return Bad(fmt::format("{} at byte {}: {} at byte {} is not valid UTF-8", scope.kind,
                             scope.start, name, field.at));
    }
    return text;
  }

 private:
  [[nodiscard]] Error Bad(std::string message) const { return Error{code_, std::move(message)}; }

  BufferedReader reader_;
  Errc code_;
  std::uint64_t size_;
};

}  // namespace mei::internal
