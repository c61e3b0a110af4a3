#include "placement/sweep.h"

#include <fmt/format.h>

#include "placement/internal/json_fields.h"

namespace mei::placement {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

}  // namespace

Result<SweepParameter> ParseSweepParameter(std::string_view name) {
  if (name == "capacity") return SweepParameter::kCapacity;
  if (name == "shared") return SweepParameter::kShared;
  if (name == "zipf") return SweepParameter::kZipf;
  return internal::BadInput(
      fmt::format("unknown sweep parameter \"{}\" (known: capacity, shared, zipf)", name));
}

std::string_view NameOf(SweepParameter parameter) {
  switch (parameter) {
    case SweepParameter::kCapacity:
      return "capacity_gib";
    case SweepParameter::kShared:
      return "shared";
    case SweepParameter::kZipf:
      return "zipf";
  }
  return "value";
}

Result<std::vector<SweepRow>> RunSweep(const Scenario* base, const GeneratorOptions& generator,
                                       const SweepOptions& options) {
  std::vector<std::unique_ptr<Algorithm>> algorithms;
  for (const std::string& name : options.algorithms) {
    auto algorithm = MakeAlgorithm(name, options.algorithm_options);
    if (!algorithm) return algorithm.error();
    algorithms.push_back(std::move(*algorithm));
  }
  std::vector<SweepRow> rows;
  for (double value : options.values) {
    if (value < 0) {
      return internal::BadInput(fmt::format("sweep value {} is negative", value));
    }
    GeneratorOptions g = generator;
    if (options.parameter == SweepParameter::kShared) g.shared_share = value;
    if (options.parameter == SweepParameter::kZipf) g.zipf = value;
    Scenario scenario;
    if (base != nullptr && options.parameter == SweepParameter::kCapacity) {
      scenario = *base;
    } else {
      auto generated = GenerateScenario(g);
      if (!generated) return generated.error();
      scenario = std::move(*generated);
    }
    if (options.parameter == SweepParameter::kCapacity) {
      for (Node& node : scenario.topology.nodes) {
        node.capacity_bytes = static_cast<std::uint64_t>(value);
      }
    }
    const Instance instance(scenario);
    SweepRow row{value, {}, {}};
    for (const auto& algorithm : algorithms) {
      auto solution = algorithm->Solve(instance);
      if (!solution) return solution.error();
      row.hit_ratio.push_back(solution->replay ? solution->replay->hit_ratio
                                               : HitRatio(instance, solution->placement));
      row.seconds.push_back(solution->seconds);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string SweepCsv(const SweepOptions& options, const std::vector<SweepRow>& rows) {
  std::string out(NameOf(options.parameter));
  for (const std::string& name : options.algorithms) out += "," + name;
  out += "\n";
  for (const SweepRow& row : rows) {
    const double value =
        options.parameter == SweepParameter::kCapacity ? row.value / kGiB : row.value;
    out += fmt::format("{:.4g}", value);
    for (double hit : row.hit_ratio) out += fmt::format(",{:.4f}", hit);
    out += "\n";
  }
  return out;
}

}  // namespace mei::placement
