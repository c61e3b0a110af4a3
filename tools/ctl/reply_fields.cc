#include "tools/ctl/reply_fields.h"

#include <boost/json.hpp>

namespace mei::tools {
namespace {

namespace json = boost::json;

const json::object kNoObject;
const json::array kNoArray;

}  // namespace

std::uint64_t UintAt(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr) return 0;
  if (const auto* u = value->if_uint64()) return *u;
  if (const auto* i = value->if_int64()) return *i < 0 ? 0 : static_cast<std::uint64_t>(*i);
  if (const auto* d = value->if_double()) return *d < 0 ? 0 : static_cast<std::uint64_t>(*d);
  return 0;
}

double NumberAt(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr || !value->is_number()) return 0;
  return value->to_number<double>();
}

std::string StringAt(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->get_string()) : std::string();
}

bool BoolAt(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value != nullptr && value->is_bool() && value->get_bool();
}

const json::array& ArrayAt(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value != nullptr && value->is_array() ? value->get_array() : kNoArray;
}

const json::object& ObjectAt(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value != nullptr ? AsObject(*value) : kNoObject;
}

const json::object& AsObject(const json::value& value) {
  return value.is_object() ? value.get_object() : kNoObject;
}

}  // namespace mei::tools
