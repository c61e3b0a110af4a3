#include "common/dtype.h"

#include <array>

namespace mei {
namespace {

struct SafetensorsDtype {
  std::string_view name;
  std::uint32_t bits;
};

constexpr std::array<SafetensorsDtype, 20> kSafetensorsDtypes = {{
    {"BOOL", 8}, {"F4", 4},      {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"U8", 8},
    {"I8", 8},   {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"I16", 16},
    {"U16", 16}, {"F16", 16},    {"BF16", 16},   {"I32", 32},    {"U32", 32},
    {"F32", 32}, {"C64", 64},    {"F64", 64},    {"I64", 64},    {"U64", 64},
}};

}  // namespace

std::optional<std::uint32_t> SafetensorsDtypeBits(std::string_view dtype) {
  for (const SafetensorsDtype& known : kSafetensorsDtypes) {
    if (known.name == dtype) return known.bits;
  }
  return std::nullopt;
}

std::uint8_t ByteGroupingWidth(std::string_view dtype) {
  if (dtype == "F16" || dtype == "BF16") return 2;
  if (dtype == "F32") return 4;
  return 0;
}

}  // namespace mei
