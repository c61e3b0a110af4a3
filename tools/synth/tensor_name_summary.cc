#include "tools/synth/tensor_name_summary.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

namespace mei::tools {
namespace {

constexpr std::string_view kLayerPrefix = "model.layers.";

struct LayerTensorName {
  std::uint64_t layer = 0;
  std::string suffix;  // after "model.layers.N."
};

std::optional<LayerTensorName> SplitLayerName(std::string_view name) {
  if (!name.starts_with(kLayerPrefix)) return std::nullopt;
  name.remove_prefix(kLayerPrefix.size());
  LayerTensorName split;
  const auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), split.layer);
  if (error != std::errc() || end == name.data() + name.size() || *end != '.') return std::nullopt;
  split.suffix = std::string(end + 1, name.data() + name.size());
  return split;
}

std::string_view ModuleOf(std::string_view suffix) { return suffix.substr(0, suffix.find('.')); }

// How many tensors each layer has, and in how many layers each suffix appears.
struct LayerCounts {
  std::map<std::uint64_t, std::size_t> per_layer;
  std::map<std::string, std::size_t> per_suffix;

  void Add(const LayerTensorName& name) {
    ++per_layer[name.layer];
    ++per_suffix[name.suffix];
  }
};

}  // namespace

std::string SummarizeTensorNames(std::span<const std::string> names,
                                 std::span<const std::string> all) {
  if (names.empty()) return "none";
  if (names.size() == all.size()) return "all";

  LayerCounts total;
  for (const std::string& name : all) {
    if (const auto split = SplitLayerName(name)) total.Add(*split);
  }
  LayerCounts chosen;
  std::vector<std::string> patterns;
  for (const std::string& name : names) {
    if (const auto split = SplitLayerName(name)) {
      chosen.Add(*split);
    } else {
      patterns.push_back(name);
    }
  }

  std::set<std::uint64_t> whole_layers;
  for (const auto& [layer, count] : chosen.per_layer) {
    if (count == total.per_layer[layer]) whole_layers.insert(layer);
  }
  if (!whole_layers.empty() && whole_layers.size() == total.per_layer.size()) {
    patterns.insert(patterns.begin(), "model.layers.*");
    return fmt::format("{}", fmt::join(patterns, ", "));
  }

  // Suffixes chosen in every layer, collapsed to their module when the whole module is chosen.
  std::set<std::string> everywhere;
  for (const auto& [suffix, count] : chosen.per_suffix) {
    if (count == total.per_layer.size()) everywhere.insert(suffix);
  }
  std::vector<std::string> layer_patterns;
  std::set<std::string_view> modules_done;
  for (const std::string& suffix : everywhere) {
    const std::string_view module = ModuleOf(suffix);
    bool whole_module = true;
    for (const auto& [candidate, count] : total.per_suffix) {
      if (ModuleOf(candidate) == module && !everywhere.contains(candidate)) whole_module = false;
    }
    if (!whole_module) {
      layer_patterns.push_back(fmt::format("{}*.{}", kLayerPrefix, suffix));
    } else if (modules_done.insert(module).second) {
      layer_patterns.push_back(fmt::format("{}*.{}.*", kLayerPrefix, module));
    }
  }
  for (const std::uint64_t layer : whole_layers) {
    layer_patterns.push_back(fmt::format("{}{}.*", kLayerPrefix, layer));
  }
  for (const std::string& name : names) {
    const auto split = SplitLayerName(name);
    if (split && !whole_layers.contains(split->layer) && !everywhere.contains(split->suffix)) {
      layer_patterns.push_back(name);
    }
  }
  patterns.insert(patterns.end(), layer_patterns.begin(), layer_patterns.end());
  return fmt::format("{}", fmt::join(patterns, ", "));
}

}  // namespace mei::tools
