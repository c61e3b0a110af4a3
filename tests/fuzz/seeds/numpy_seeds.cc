#include "tests/fuzz/seeds/numpy_seeds.h"

#include <cstdint>
#include <string_view>

#include "tools/synth/npy_writer.h"

namespace mei::fuzz {
namespace {

std::string Data(std::size_t bytes) {
  std::string data(bytes, '\0');
  for (std::size_t i = 0; i < bytes; ++i) data[i] = static_cast<char>(i * 37 + 11);
  return data;
}

std::string Npy(std::string_view descr, const std::vector<std::uint64_t>& shape,
                std::size_t data_bytes, bool fortran_order = false) {
  return tools::NpyHeader(descr, shape, fortran_order) + Data(data_bytes);
}

std::string WithDict(std::string_view dict, int version, std::size_t data_bytes) {
  return tools::WrapNpyHeader(dict, version) + Data(data_bytes);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> NumpySeeds() {
  return {
      {"f4-matrix", Npy("<f4", {2, 3}, 24)},
      {"u1-vector", Npy("|u1", {5}, 5)},
      {"b1-scalar", Npy("|b1", {}, 1)},
      {"i8-fortran", Npy("<i8", {2, 2}, 32, /*fortran_order=*/true)},
      {"big-endian-f4", Npy(">f4", {3}, 12)},
      {"empty", Npy("<f2", {0, 4}, 0)},
      {"version-2", WithDict("{'descr': '<f2', 'fortran_order': False, 'shape': (4,), }", 2, 8)},
      {"version-3", WithDict("{'descr': '<c8', 'fortran_order': False, 'shape': (1, 2), }", 3, 16)},
      {"keys-reordered",
       WithDict(R"({"shape": (2,3,), 'fortran_order':False,'descr':'<i2'})", 1, 12)},
      {"long-suffix",
       WithDict("{'descr': '<u4', 'fortran_order': False, 'shape': (2L, 1L), }", 1, 8)},
      {"object-dtype", WithDict("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 1, 16)},
      {"structured-dtype",
       WithDict("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 1, 8)},
      {"shape-without-comma",
       WithDict("{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", 1, 8)},
      {"data-short", Npy("<f4", {3, 4}, 47)},
      {"unknown-key",
       WithDict("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}", 1, 4)},
  };
}

}  // namespace mei::fuzz
