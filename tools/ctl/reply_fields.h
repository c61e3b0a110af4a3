// Reading the fields of a node's JSON reply for a table. A node of another version may lack a
// field or give it another type: the table then shows a neutral value (0, "", false, no rows)
// rather than failing, and --json passes the reply through untouched.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <string_view>

namespace mei::tools {

// `key` of `object` as a non-negative integer; 0 when absent, negative or not a number.
[[nodiscard]] std::uint64_t UintAt(const boost::json::object& object, std::string_view key);

// `key` as a number; 0 when absent or not a number.
[[nodiscard]] double NumberAt(const boost::json::object& object, std::string_view key);

// `key` as a string; "" when absent or not a string.
[[nodiscard]] std::string StringAt(const boost::json::object& object, std::string_view key);

// `key` as a bool; false when absent or not a bool.
[[nodiscard]] bool BoolAt(const boost::json::object& object, std::string_view key);

// `key` as an array; an empty one when absent or not an array. The reference lives as long as
// `object`.
[[nodiscard]] const boost::json::array& ArrayAt(const boost::json::object& object,
                                                std::string_view key);

// `key` as an object; an empty one when absent or not an object (null included).
[[nodiscard]] const boost::json::object& ObjectAt(const boost::json::object& object,
                                                  std::string_view key);

// `value` as an object; an empty one when it is not an object.
[[nodiscard]] const boost::json::object& AsObject(const boost::json::value& value);

}  // namespace mei::tools
