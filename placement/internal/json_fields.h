// Typed access to the fields of a JSON object for the placement file formats (scenario, catalog,
// demand). Each accessor names the JSON path of the problem in its error sentence.
#pragma once

#include <fmt/format.h>

#include <boost/json.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/errc.h"

namespace mei::placement::internal {

inline Error BadInput(std::string message) { return Error{Errc::kBadRequest, std::move(message)}; }

class JsonFields {
 public:
  // REQUIRES: `value` outlives this object.
  static Result<JsonFields> Of(const boost::json::value& value, std::string where) {
    if (!value.is_object()) return BadInput(fmt::format("{} is not a JSON object", where));
    return JsonFields(value.get_object(), std::move(where));
  }

  const std::string& where() const { return where_; }

  bool Has(std::string_view key) const { return object_.contains(key); }

  Result<const boost::json::value*> Field(std::string_view key) const {
    const boost::json::value* v = object_.if_contains(key);
    if (v == nullptr) return BadInput(fmt::format("{} has no \"{}\"", where_, key));
    return v;
  }

  Result<std::string> String(std::string_view key) const {
    auto v = Field(key);
    if (!v) return v.error();
    if (!(*v)->is_string()) return BadInput(fmt::format("{}.{} is not a string", where_, key));
    return std::string((*v)->get_string());
  }

  // `fallback` when the key is absent or not a string (a wrong type is not an error).
  std::string StringOr(std::string_view key, std::string fallback) const {
    auto s = String(key);
    return s ? std::move(*s) : std::move(fallback);
  }

  Result<double> Number(std::string_view key) const {
    auto v = Field(key);
    if (!v) return v.error();
    if (!(*v)->is_number()) return BadInput(fmt::format("{}.{} is not a number", where_, key));
    return (*v)->to_number<double>();
  }

  // `fallback` when the key is absent.
  Result<double> NumberOr(std::string_view key, double fallback) const {
    return Has(key) ? Number(key) : Result<double>(fallback);
  }

  // A number that must be > 0 (or >= 0 when `allow_zero`).
  Result<double> Positive(std::string_view key, bool allow_zero = false) const {
    auto n = Number(key);
    if (!n) return n;
    if (*n < 0 || (!allow_zero && *n == 0)) {
      return BadInput(fmt::format("{}.{} is {}, which is not {}", where_, key, *n,
                                  allow_zero ? "non-negative" : "positive"));
    }
    return n;
  }

  Result<std::uint64_t> Uint(std::string_view key) const {
    auto v = Field(key);
    if (!v) return v.error();
    if ((*v)->is_uint64()) return (*v)->get_uint64();
    if ((*v)->is_int64() && (*v)->get_int64() >= 0) {
      return static_cast<std::uint64_t>((*v)->get_int64());
    }
    return BadInput(fmt::format("{}.{} is not a non-negative integer", where_, key));
  }

  Result<const boost::json::array*> Array(std::string_view key) const {
    auto v = Field(key);
    if (!v) return v.error();
    if (!(*v)->is_array()) return BadInput(fmt::format("{}.{} is not an array", where_, key));
    return &(*v)->get_array();
  }

  Result<const boost::json::object*> Object(std::string_view key) const {
    auto v = Field(key);
    if (!v) return v.error();
    if (!(*v)->is_object()) return BadInput(fmt::format("{}.{} is not an object", where_, key));
    return &(*v)->get_object();
  }

 private:
  JsonFields(const boost::json::object& object, std::string where)
      : object_(object), where_(std::move(where)) {}

  const boost::json::object& object_;
  std::string where_;
};

}  // namespace mei::placement::internal
