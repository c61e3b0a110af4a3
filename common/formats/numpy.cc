#include "common/formats/numpy.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/internal/buffered_reader.h"
#include "common/internal/checked_math.h"

namespace mei {
namespace {

using internal::BufferedReader;
using internal::CheckedMul;
using internal::CheckedProduct;

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr std::size_t kMaxDims = 64;  // NumPy 2's NPY_MAXDIMS

Error Bad(std::string message) { return Error{Errc::kBadModelFile, std::move(message)}; }

// A plain numeric or bool dtype: its kind letter, item size, and the safetensors name of its
// little-endian form (empty where safetensors has none).
struct NumericType {
  char kind;
  std::uint64_t item_bytes;
  std::string_view safetensors_name;
};

constexpr std::array<NumericType, 17> kNumericTypes = {{
    {'b', 1, "BOOL"},
    {'i', 1, "I8"},
    {'i', 2, "I16"},
    {'i', 4, "I32"},
    {'i', 8, "I64"},
    {'u', 1, "U8"},
    {'u', 2, "U16"},
    {'u', 4, "U32"},
    {'u', 8, "U64"},
    {'f', 2, "F16"},
    {'f', 4, "F32"},
    {'f', 8, "F64"},
    {'f', 12, ""},  // long double on 32-bit x86
    {'f', 16, ""},  // long double
    {'c', 8, "C64"},
    {'c', 16, ""},
    {'c', 32, ""},
}};

struct Dtype {
  std::string name;  // safetensors name, or the descr as NumPy wrote it
  std::uint64_t item_bytes = 0;
};

// A descr is a byte order ('<', '>', '|', '=' or none), a kind letter and an item size in
// bytes: '<f4', '|u1'. Byte order does not matter for one-byte types; '|' and '=' (native) are
// taken as little-endian, the order of every machine NumPy writes them on today.
Result<Dtype> DtypeOf(std::string_view descr) {
  std::string_view rest = descr;
  char order = '=';
  if (!rest.empty() && std::string_view("<>|=").find(rest.front()) != std::string_view::npos) {
    order = rest.front();
    rest.remove_prefix(1);
  }
  if (rest.empty()) return Bad(fmt::format("descr '{}' names no type", descr));
  const char kind = rest.front();
  if (std::string_view("OSUVaMm").find(kind) != std::string_view::npos) {
    return Bad(fmt::format(
        "descr '{}' is an object, string, void or date dtype, whose bytes are not a tensor",
        descr));
  }
  std::uint64_t item_bytes = 0;
  const std::string_view digits = rest.substr(1);
  if (digits.empty() || digits.size() > 2 || digits.front() == '0' ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Bad(fmt::format("descr '{}' is not a byte order, a kind and an item size", descr));
  }
  for (const char digit : digits) item_bytes = item_bytes * 10 + static_cast<unsigned>(digit - '0');
  for (const NumericType& type : kNumericTypes) {
    if (type.kind != kind || type.item_bytes != item_bytes) continue;
    const bool little = order != '>' || item_bytes == 1;
    if (little && !type.safetensors_name.empty()) {
      return Dtype{std::string(type.safetensors_name), item_bytes};
    }
    return Dtype{std::string(descr), item_bytes};
  }
  return Bad(fmt::format("descr '{}' is not a numeric or bool dtype NumPy writes", descr));
}

struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::uint64_t> shape;
};

// Parses the header's Python dict literal: the keys 'descr' (a string), 'fortran_order' (True or
// False) and 'shape' (a tuple of non-negative integers), each exactly once in any order, with
// Python's commas and whitespace, then only whitespace up to the final newline. Python 2 wrote
// long integers with an 'L' suffix ("(3L, 4L)"); NumPy reads those in version 1.0 and 2.0 files,
// and so does this.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, bool long_suffix) : text_(text), long_suffix_(long_suffix) {}

  Result<Header> Parse() {
    if (text_.empty() || text_.back() != '\n') {
      return Bad("the header does not end with a newline");
    }
    SkipSpace();
    if (!Consume('{')) return Bad("the header is not a dict: it does not start with '{'");
    Header header;
    std::array<bool, 3> seen{};  // descr, fortran_order, shape
    SkipSpace();
    while (!Consume('}')) {
      Result<std::string_view> key = String("a key");
      if (!key) return key.error();
      SkipSpace();
      if (!Consume(':')) return Expected("':' after the key");
      SkipSpace();
      Result<void> value = Value(*key, header, seen);
      if (!value) return value.error();
      SkipSpace();
      if (Consume(',')) {
        SkipSpace();
      } else if (Peek() != '}') {
        return Expected("',' or '}' after a value");
      }
    }
    SkipSpace();
    if (at_ != text_.size()) return Expected("only spaces after the dict");
    constexpr std::array<std::string_view, 3> kKeys = {"descr", "fortran_order", "shape"};
    for (std::size_t i = 0; i < kKeys.size(); ++i) {
      if (!seen[i]) return Bad(fmt::format("the header has no '{}'", kKeys[i]));
    }
    return header;
  }

 private:
  Result<void> Value(std::string_view key, Header& header, std::array<bool, 3>& seen) {
    std::size_t index = 0;
    if (key == "descr") {
      index = 0;
    } else if (key == "fortran_order") {
      index = 1;
    } else if (key == "shape") {
      index = 2;
    } else {
      return Bad(fmt::format(
          "the header has key '{}'; only 'descr', 'fortran_order' and 'shape' are allowed", key));
    }
    if (seen[index]) return Bad(fmt::format("the header has '{}' more than once", key));
    seen[index] = true;
    if (index == 0) {
      if (Peek() == '[') return Bad("the descr is a list: structured dtypes are not supported");
      Result<std::string_view> descr = String("the descr");
      if (!descr) return descr.error();
      header.descr = *descr;
      return {};
    }
    if (index == 1) {
      Result<bool> fortran_order = Bool();
      if (!fortran_order) return fortran_order.error();
      header.fortran_order = *fortran_order;
      return {};
    }
    Result<std::vector<std::uint64_t>> shape = Shape();
    if (!shape) return shape.error();
    header.shape = std::move(*shape);
    return {};
  }

  // A quoted string without escapes: dtype names and keys need none.
  Result<std::string_view> String(std::string_view what) {
    const char quote = Peek();
    if (quote != '\'' && quote != '"') {
      return Expected(fmt::format("a quoted string for {}", what));
    }
    const std::size_t start = ++at_;
    while (at_ < text_.size() && text_[at_] != quote) {
      const auto c = static_cast<unsigned char>(text_[at_]);
      if (c < 0x20 || c >= 0x7F || c == '\\') {
        return Bad(fmt::format("{} at byte {} of the header holds byte {:#04x}", what, start - 1,
                               static_cast<unsigned>(c)));
      }
      ++at_;
    }
    if (at_ == text_.size()) return Bad(fmt::format("{} is not closed", what));
    return text_.substr(start, at_++ - start);
  }

  Result<bool> Bool() {
    for (const auto& [word, value] : {std::pair{"True", true}, std::pair{"False", false}}) {
      if (text_.substr(at_).starts_with(word)) {
        at_ += std::strlen(word);
        return value;
      }
    }
    return Expected("True or False for 'fortran_order'");
  }

  // '()', '(3,)', '(2, 3)' or '(2, 3,)': Python's tuple syntax, where one element needs a
  // trailing comma ('(3)' is the integer 3).
  Result<std::vector<std::uint64_t>> Shape() {
    if (!Consume('(')) return Expected("a tuple for 'shape'");
    std::vector<std::uint64_t> shape;
    bool trailing_comma = false;
    SkipSpace();
    while (!Consume(')')) {
      if (shape.size() == kMaxDims) {
        return Bad(fmt::format("the shape has more than {} dimensions", kMaxDims));
      }
      Result<std::uint64_t> dim = Integer();
      if (!dim) return dim.error();
      shape.push_back(*dim);
      SkipSpace();
      trailing_comma = Consume(',');
      SkipSpace();
      if (!trailing_comma && Peek() != ')') return Expected("',' or ')' in the shape");
    }
    if (shape.size() == 1 && !trailing_comma) {
      return Bad("the shape is a parenthesized integer, not a tuple: '(n)' needs a comma, '(n,)'");
    }
    return shape;
  }

  Result<std::uint64_t> Integer() {
    const std::size_t start = at_;
    std::uint64_t value = 0;
    while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') {
      const std::optional<std::uint64_t> times_ten = CheckedMul(value, 10);
      const auto digit = static_cast<std::uint64_t>(text_[at_] - '0');
      if (!times_ten || *times_ten > ~std::uint64_t{0} - digit) {
        return Bad(fmt::format("a dimension at byte {} of the header does not fit 64 bits", start));
      }
      value = *times_ten + digit;
      ++at_;
    }
    if (at_ == start) return Expected("a non-negative integer in the shape");
    if (text_[start] == '0' && at_ - start > 1) {
      return Bad(fmt::format("a dimension at byte {} of the header has a leading zero", start));
    }
    if (long_suffix_) Consume('L');
    return value;
  }

  char Peek() const { return at_ < text_.size() ? text_[at_] : '\0'; }

  bool Consume(char c) {
    if (Peek() != c) return false;
    ++at_;
    return true;
  }

  void SkipSpace() {
    while (at_ < text_.size() &&
           std::string_view(" \t\r\n").find(text_[at_]) != std::string_view::npos) {
      ++at_;
    }
  }

  Error Expected(std::string_view what) const {
    if (at_ == text_.size()) return Bad(fmt::format("the header ends where {} should be", what));
    const auto c = static_cast<unsigned char>(text_[at_]);
    if (c >= 0x20 && c < 0x7F) {
      return Bad(fmt::format("expected {} at byte {} of the header, found '{}'", what, at_,
                             static_cast<char>(c)));
    }
    return Bad(fmt::format("expected {} at byte {} of the header, found byte {:#04x}", what, at_,
                           static_cast<unsigned>(c)));
  }

  std::string_view text_;
  bool long_suffix_;
  std::size_t at_ = 0;
};

class NpyParser {
 public:
  explicit NpyParser(const ByteSource& file)
      : reader_(file, Errc::kBadModelFile), size_(file.size()) {}

  Result<NpyArray> Parse() {
    std::array<char, 8> prefix{};
    if (Result<void> read = reader_.Read(std::as_writable_bytes(std::span(prefix)), "the magic");
        !read) {
      return read.error();
    }
    if (std::string_view(prefix.data(), kMagic.size()) != kMagic) {
      return Bad("it does not start with \"\\x93NUMPY\"");
    }
    const auto major = static_cast<unsigned char>(prefix[6]);
    const auto minor = static_cast<unsigned char>(prefix[7]);
    if (major < 1 || major > 3 || minor != 0) {
      return Bad(
          fmt::format("version {}.{} is not supported (1.0, 2.0 and 3.0 are)", major, minor));
    }
    Result<std::uint64_t> header_bytes = ReadHeaderLength(major);
    if (!header_bytes) return header_bytes.error();
    std::string text(static_cast<std::size_t>(*header_bytes), '\0');
    if (Result<void> read = reader_.Read(std::as_writable_bytes(std::span(text)), "the header");
        !read) {
      return read.error();
    }
    Result<Header> header = HeaderParser(text, major < 3).Parse();
    if (!header) return header.error();
    Result<Dtype> dtype = DtypeOf(header->descr);
    if (!dtype) return dtype.error();
    return Place(std::move(*header), std::move(*dtype));
  }

 private:
  Result<std::uint64_t> ReadHeaderLength(unsigned major) {
    std::uint64_t length = 0;
    if (major == 1) {
      Result<std::uint16_t> short_length = reader_.ReadUint<std::uint16_t>("the header length");
      if (!short_length) return short_length.error();
      length = *short_length;
    } else {
      Result<std::uint32_t> long_length = reader_.ReadUint<std::uint32_t>("the header length");
      if (!long_length) return long_length.error();
      length = *long_length;
    }
    if (length > kMaxNpyHeaderBytes) {
      return Bad(fmt::format("the header claims {} bytes, more than the limit of {}", length,
                             kMaxNpyHeaderBytes));
    }
    if (length > reader_.remaining()) {
      return Bad(fmt::format("the header claims {} bytes but only {} follow", length,
                             reader_.remaining()));
    }
    return length;
  }

  Result<NpyArray> Place(Header header, Dtype dtype) const {
    const std::uint64_t data_start = reader_.position();
    const std::uint64_t data_bytes = size_ - data_start;
    const std::optional<std::uint64_t> elements = CheckedProduct(header.shape);
    const std::optional<std::uint64_t> needed =
        elements ? CheckedMul(*elements, dtype.item_bytes) : std::nullopt;
    if (!needed || *needed != data_bytes) {
      return Bad(fmt::format("shape ({}) of '{}' needs {} bytes of data but {} follow the header",
                             fmt::join(header.shape, ", "), header.descr,
                             needed ? fmt::format("{}", *needed) : std::string("more than 2^64"),
                             data_bytes));
    }
    NpyArray array;
    array.data_start = data_start;
    array.fortran_order = header.fortran_order;
    array.tensor = TensorEntry{.name = "array",
                               .dtype = std::move(dtype.name),
                               .shape = std::move(header.shape),
                               .offset = data_start,
                               .size = data_bytes};
    return array;
  }

  BufferedReader reader_;
  std::uint64_t size_;
};

}  // namespace

Result<NpyArray> ParseNpy(const ByteSource& file) {
  Result<NpyArray> array = NpyParser(file).Parse();
  if (!array && array.error().code == Errc::kBadModelFile) {
    return Bad(
        fmt::format("{}: not a valid NumPy .npy file: {}", file.name(), array.error().message));
  }
  return array;
}

}  // namespace mei
