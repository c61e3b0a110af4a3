// mei-placement: which model fragments each edge node holds. `gen` makes a seeded scenario, `fit`
// fits its demand to a trace or to cache-node access logs, `solve` writes a plan, `eval` replays a
// plan or an online policy, `sweep` tabulates and plots every algorithm over a parameter, `push`
// sends a plan to the nodes' admin APIs.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/atomic_file.h"
#include "common/byte_size.h"
#include "common/http/admin_auth.h"
#include "common/plan.h"
#include "common/text_file.h"
#include "placement/algorithm.h"
#include "placement/generator.h"
#include "placement/plan_io.h"
#include "placement/push.h"
#include "placement/scenario.h"
#include "placement/sweep.h"
#include "placement/trace.h"

namespace {

namespace fs = std::filesystem;
namespace mp = mei::placement;

// A byte size from the command line; negative sizes get their own sentence.
std::uint64_t ParseBytes(const std::string& text, std::string_view what) {
  if (text.starts_with("-")) throw std::runtime_error(fmt::format("{} {} is negative", what, text));
  auto bytes = mei::ParseByteSize(text);
  if (!bytes) throw std::runtime_error(fmt::format("{}: {}", what, bytes.error().message));
  return *bytes;
}

double ParseNumber(const std::string& text, std::string_view what) {
  std::size_t end = 0;
  double value = 0;
  try {
    value = std::stod(text, &end);
  } catch (const std::exception&) {
    end = 0;
  }
  if (end == 0 || end != text.size()) {
    throw std::runtime_error(fmt::format("{} \"{}\" is not a number", what, text));
  }
  return value;
}

mp::Scenario LoadScenario(const fs::path& path) {
  auto scenario = mp::ParseScenario(mei::ReadTextFile(path).value());
  if (!scenario)
    throw std::runtime_error(fmt::format("{}: {}", path.string(), scenario.error().message));
  return std::move(*scenario);
}

// Reads and concatenates traces; bad lines fail with the file and line, or are counted.
mp::Trace LoadTraces(const std::vector<fs::path>& paths, bool skip_bad) {
  mp::Trace all;
  for (const fs::path& path : paths) {
    auto trace = mp::ParseTrace(mei::ReadTextFile(path).value(), {.skip_bad = skip_bad});
    if (!trace) {
      throw std::runtime_error(fmt::format("{}: {}", path.string(), trace.error().message));
    }
    if (trace->skipped > 0) {
      fmt::print(stderr, "{}: skipped {} bad line(s); the first: {}\n", path.string(),
                 trace->skipped, trace->first_skipped);
    }
    all.skipped += trace->skipped;
    for (auto& r : trace->records) all.records.push_back(std::move(r));
  }
  return all;
}

std::vector<mp::Request> Resolve(const std::vector<fs::path>& paths, mp::Scenario& scenario,
                                 const mp::ResolveOptions& options) {
  mp::Trace trace = LoadTraces(paths, options.skip_bad);
  mp::ResolveReport report;
  auto requests = mp::ResolveTrace(trace, scenario.catalog, scenario.topology, options, &report);
  if (!requests) {
    throw std::runtime_error(fmt::format("{}: {}", paths.size() == 1 ? paths[0].string() : "trace",
                                         requests.error().message));
  }
  if (report.skipped > 0) {
    fmt::print(stderr, "skipped {} request(s) naming an unknown model, node or user\n",
               report.skipped);
  }
  if (report.cells_added > 0) {
    fmt::print(stderr, "added {} cell(s) for clients the topology does not know\n",
               report.cells_added);
  }
  return std::move(*requests);
}

void PrintMetrics(std::string_view name, const mp::Metrics& m, bool by_rate, bool json) {
  if (json) {
    boost::json::object o{{"algorithm", name},
                          {"requests", m.requests},
                          {"hit_ratio", m.hit_ratio},
                          {"origin_bytes", m.origin_bytes},
                          {"mean_download_s", m.mean_download_s},
                          {"p95_download_s", m.p95_download_s}};
    std::puts(boost::json::serialize(o).c_str());
    return;
  }
  fmt::print("{}: hit ratio {:.4f}, origin {}, download mean {:.2f} s, p95 {:.2f} s ({:.6g} {})\n",
             name, m.hit_ratio, mei::FormatByteSize(static_cast<std::uint64_t>(m.origin_bytes)),
             m.mean_download_s, m.p95_download_s, m.requests,
             by_rate ? "requests/s, origin bytes per second" : "requests");
}

struct GenFlags {
  std::string model_size = "1GiB";
  std::string capacity = "4GiB";
};

void AddGeneratorOptions(CLI::App* app, mp::GeneratorOptions& g, GenFlags& flags) {
  app->add_option("--seed", g.seed, "Random seed")->capture_default_str();
  app->add_option("--area", g.area_m, "Side of the square area, metres")->capture_default_str();
  app->add_option("--base-stations", g.base_stations, "Base stations on a grid")
      ->capture_default_str();
  app->add_option("--users", g.users, "Users placed at random")->capture_default_str();
  app->add_option("--radius", g.radius_m, "Coverage radius, metres")->capture_default_str();
  app->add_option("--peak-rate", g.peak_rate_bytes_per_s, "Link rate at distance 0, bytes/s")
      ->capture_default_str();
  app->add_option("--origin-rate", g.origin_rate_bytes_per_s, "Rate from the origin, bytes/s")
      ->capture_default_str();
  app->add_option("--deadline", g.deadline_s, "Download deadline of a hit, seconds")
      ->capture_default_str();
  app->add_option("--families", g.families, "Model families")->capture_default_str();
  app->add_option("--models-per-family", g.models_per_family, "Base plus fine-tunes per family")
      ->capture_default_str();
  app->add_option("--model-size", flags.model_size, "Mean model size")->capture_default_str();
  app->add_option("--blocks-per-model", g.blocks_per_model, "Blocks per model")
      ->capture_default_str();
  app->add_option("--shared", g.shared_share, "Share of a fine-tune's bytes shared with its base")
      ->capture_default_str();
  app->add_option("--zipf", g.zipf, "Zipf exponent of popularity")->capture_default_str();
  app->add_option("--cell-variation", g.cell_variation,
                  "Share of each cell's ranking shuffled (0: one ranking everywhere)")
      ->capture_default_str();
  app->add_option("--demand-top", g.demand_top, "Each user requests only its top N models (0: all)")
      ->capture_default_str();
  app->add_option("--capacity", flags.capacity, "Capacity of every base station")
      ->capture_default_str();
}

void FinishGeneratorOptions(mp::GeneratorOptions& g, const GenFlags& flags) {
  g.model_bytes = ParseBytes(flags.model_size, "model size");
  g.capacity_bytes = ParseBytes(flags.capacity, "capacity");
}

mp::AlgorithmOptions MakeAlgorithmOptions(const std::string& rule, bool eager, double time_limit,
                                          std::size_t requests, std::uint64_t seed) {
  mp::AlgorithmOptions o;
  if (rule == "gain") {
    o.rule = mp::GreedyRule::kMaxGain;
  } else if (rule == "ratio") {
    o.rule = mp::GreedyRule::kGainPerByte;
  } else if (rule == "best") {
    o.rule = mp::GreedyRule::kBest;
  } else {
    throw std::runtime_error(fmt::format("unknown rule \"{}\" (known: gain, ratio, best)", rule));
  }
  o.lazy = !eager;
  o.time_limit_s = time_limit;
  o.sampled_requests = requests;
  o.seed = seed;
  return o;
}

void Plot(const fs::path& csv, const fs::path& png, std::string_view x_label, std::size_t columns) {
  const fs::path script = fs::path(png).concat(".gp");
  std::string text = fmt::format(
      "set terminal pngcairo size 800,500 noenhanced\nset output '{}'\nset datafile separator ','\n"
      "set key autotitle columnhead left top\nset xlabel '{}'\nset ylabel 'hit ratio'\n"
      "set yrange [0:1]\nset grid\nplot ",
      png.string(), x_label);
  for (std::size_t c = 2; c <= columns + 1; ++c) {
    text += fmt::format("{}'{}' using 1:{} with linespoints", c > 2 ? ", " : "", csv.string(), c);
  }
  text += "\n";
  mei::WriteFileAtomically(script, text).value();
  const std::string command = fmt::format("gnuplot '{}'", script.string());
  const int rc = std::system(command.c_str());
  fs::remove(script);
  if (rc != 0) {
    throw std::runtime_error(
        fmt::format("gnuplot failed (exit {}); is gnuplot-nox installed (scripts/setup)?", rc));
  }
}

// mei-placement push: 0 when every node took the plan, 2 when some did not (each is reported).
int Push(const fs::path& plan_path, const std::vector<std::string>& admin_urls,
         const fs::path& token_file) {
  const mei::Plan plan = mei::ParsePlan(mei::ReadTextFile(plan_path).value()).value();
  std::vector<mp::PushTarget> targets;
  for (const std::string& text : admin_urls) targets.push_back(mp::ParsePushTarget(text).value());
  mp::CheckPushTargets(plan, targets).value();
  const std::string token = mei::http::ResolveAdminToken(token_file, "--token-file").value();
  int failed = 0;
  for (const mp::PushOutcome& outcome : mp::PushPlan(plan, targets, token)) {
    if (outcome.reply) {
      fmt::print("{}: applied {}\n", outcome.node_id, *outcome.reply);
    } else {
      ++failed;
      fmt::print(stderr, "{}: not applied: {}\n", outcome.node_id, outcome.reply.error().message);
    }
  }
  return failed == 0 ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mei-placement: which model fragments each edge node holds"};
  app.require_subcommand(1);

  mp::GeneratorOptions generator;
  GenFlags gen_flags;
  fs::path out;
  fs::path trace_out;
  std::size_t trace_requests = 0;
  CLI::App* gen = app.add_subcommand("gen", "Write a seeded synthetic scenario");
  AddGeneratorOptions(gen, generator, gen_flags);
  gen->add_option("--out", out, "Scenario JSON to write")->required();
  gen->add_option("--trace", trace_out, "Also write a trace CSV sampled from the demand");
  gen->add_option("--trace-requests", trace_requests, "Requests in that trace")
      ->capture_default_str();

  fs::path scenario_path;
  std::vector<fs::path> traces;
  std::vector<fs::path> manifests;
  bool skip_bad = false;
  mp::FitOptions fit_options;
  double cell_rate = 0;
  CLI::App* fit = app.add_subcommand("fit", "Fit a scenario's demand to traces or access logs");
  fit->add_option("--scenario", scenario_path, "Scenario with the topology and catalog")
      ->required();
  fit->add_option("--manifest", manifests, "Manifest JSON files to use as the catalog instead");
  fit->add_option("--trace", traces, "Trace CSV/JSONL or cache-node access logs")->required();
  fit->add_option("--window", fit_options.window_s, "Sliding window, seconds (0: whole trace)");
  fit->add_option("--half-life", fit_options.half_life_s, "EWMA half-life, seconds (0: off)");
  fit->add_option("--cell-rate", cell_rate,
                  "Attribute unknown clients to a cell of their node at this rate (bytes/s)");
  fit->add_flag("--skip-bad", skip_bad, "Read past bad lines and unknown ids, and count them");
  fit->add_option("--out", out, "Scenario JSON to write")->required();

  std::string algo = "greedy";
  std::string rule = "best";
  bool eager = false;
  double time_limit = 60;
  std::string capacity;
  std::size_t requests = 20000;
  std::uint64_t seed = 1;
  bool json = false;
  CLI::App* solve = app.add_subcommand("solve", "Compute a placement and write its plan");
  solve->add_option("--scenario", scenario_path, "Scenario JSON")->required();
  solve->add_option("--algo", algo, "greedy, independent, popularity, exact, lru, lfu, sharing")
      ->capture_default_str();
  solve->add_option("--rule", rule, "Greedy rule: gain, ratio, best")->capture_default_str();
  solve->add_flag("--eager", eager, "Greedy without lazy evaluation (same result, slower)");
  solve->add_option("--time-limit", time_limit, "Exact: seconds of branch and bound")
      ->capture_default_str();
  solve->add_option("--capacity", capacity, "Override every node's capacity");
  solve->add_option("--trace", traces, "Online policies: replay this trace");
  solve->add_option("--requests", requests, "Online policies: requests sampled from the demand")
      ->capture_default_str();
  solve->add_option("--seed", seed, "Seed for sampled requests")->capture_default_str();
  solve->add_flag("--skip-bad", skip_bad, "Read past bad trace lines and count them");
  solve->add_option("--out", out, "Plan JSON to write");

  fs::path plan_path;
  CLI::App* eval = app.add_subcommand("eval", "Replay a plan or an online policy");
  eval->add_option("--scenario", scenario_path, "Scenario JSON")->required();
  auto* plan_option = eval->add_option("--plan", plan_path, "Plan JSON to evaluate");
  eval->add_option("--algo", algo, "Or an algorithm to run first (online: replayed)")
      ->excludes(plan_option);
  eval->add_option("--trace", traces, "Replay this trace (default: the scenario's demand)");
  eval->add_option("--requests", requests, "Online policies without a trace: sampled requests")
      ->capture_default_str();
  eval->add_option("--seed", seed, "Seed for sampled requests")->capture_default_str();
  eval->add_option("--capacity", capacity, "Override every node's capacity");
  eval->add_flag("--skip-bad", skip_bad, "Read past bad trace lines and count them");
  eval->add_option("--cell-rate", cell_rate,
                   "Attribute unknown clients to a cell of their node at this rate (bytes/s)");
  eval->add_flag("--json", json, "Print the metrics as one JSON object");

  std::string parameter = "capacity";
  std::string from = "1GiB", to = "16GiB";
  std::size_t steps = 8;
  std::vector<std::string> algos = {"greedy", "independent", "popularity", "lru", "lfu", "sharing"};
  fs::path csv_out, png_out;
  CLI::App* sweep = app.add_subcommand("sweep", "Hit ratio of every algorithm over a parameter");
  AddGeneratorOptions(sweep, generator, gen_flags);
  sweep->add_option("--scenario", scenario_path, "Sweep capacity on this scenario instead");
  sweep->add_option("--param", parameter, "capacity, shared or zipf")->capture_default_str();
  sweep->add_option("--from", from, "First value (a byte size for capacity)")
      ->capture_default_str();
  sweep->add_option("--to", to, "Last value")->capture_default_str();
  sweep->add_option("--steps", steps, "Number of values")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000}));
  sweep->add_option("--algos", algos, "Algorithms (add exact for small scenarios)")
      ->capture_default_str()
      ->delimiter(',');
  sweep->add_option("--requests", requests, "Online policies: sampled requests")
      ->capture_default_str();
  sweep->add_option("--csv", csv_out, "CSV to write (default: stdout)");
  sweep->add_option("--png", png_out, "PNG plot to write with gnuplot");

  fs::path push_plan;
  std::vector<std::string> admin_urls;
  fs::path token_file;
  CLI::App* push = app.add_subcommand("push", "Send a plan to every node's admin API");
  push->add_option("plan", push_plan, "Plan JSON (from solve)")->required();
  push->add_option("--admin", admin_urls, "A node's admin API, ID=URL (one per node of the plan)")
      ->required();
  push->add_option("--token-file", token_file, "File with the admin token (or MEI_ADMIN_TOKEN)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*push) return Push(push_plan, admin_urls, token_file);
    if (*gen) {
      FinishGeneratorOptions(generator, gen_flags);
      mp::Scenario scenario = mp::GenerateScenario(generator).value();
      mei::WriteFileAtomically(out, mp::ToJson(scenario)).value();
      fmt::print("{}: {} base stations, {} users, {} models, {} blocks, {} demand entries\n",
                 out.string(), scenario.topology.nodes.size(), scenario.topology.users.size(),
                 scenario.catalog.models.size(), scenario.catalog.blocks.size(),
                 scenario.demand.size());
      if (!trace_out.empty()) {
        const auto sampled =
            mp::SampleRequests(scenario.demand, scenario.topology,
                               trace_requests > 0 ? trace_requests : 10000, generator.seed);
        std::vector<mp::TraceRecord> records;
        for (const mp::Request& r : sampled) {
          const auto& m = scenario.catalog.models[r.model];
          records.push_back(mp::TraceRecord{r.time_s, scenario.topology.users[r.user].id,
                                            scenario.topology.nodes[r.node].id, m.model, m.revision,
                                            0});
        }
        mei::WriteFileAtomically(trace_out, mp::ToCsv(records)).value();
        fmt::print("{}: {} requests\n", trace_out.string(), records.size());
      }
      return 0;
    }
    if (*fit) {
      mp::Scenario scenario = LoadScenario(scenario_path);
      if (!manifests.empty()) {
        std::vector<mei::Manifest> parsed;
        for (const fs::path& path : manifests) {
          auto m = mei::ParseManifest(mei::ReadTextFile(path).value());
          if (!m) throw std::runtime_error(fmt::format("{}: {}", path.string(), m.error().message));
          parsed.push_back(std::move(*m));
        }
        scenario.catalog = mp::CatalogFromManifests(parsed).value();
      }
      const auto resolved =
          Resolve(traces, scenario, {.cell_rate_bytes_per_s = cell_rate, .skip_bad = skip_bad});
      scenario.demand = mp::FitDemand(resolved, fit_options).value();
      mei::placement::NormalizeDemand(scenario.demand, scenario.topology, scenario.catalog).value();
      mei::WriteFileAtomically(out, mp::ToJson(scenario)).value();
      fmt::print("{}: {} requests -> {} demand entries\n", out.string(), resolved.size(),
                 scenario.demand.size());
      return 0;
    }
    if (*solve || *eval || *sweep) {
      mp::Scenario scenario;
      if (!scenario_path.empty()) scenario = LoadScenario(scenario_path);
      if (!capacity.empty()) {
        const std::uint64_t bytes = ParseBytes(capacity, "capacity");
        for (auto& node : scenario.topology.nodes) node.capacity_bytes = bytes;
      }
      std::vector<mp::Request> replay;
      if (!traces.empty()) {
        replay =
            Resolve(traces, scenario, {.cell_rate_bytes_per_s = cell_rate, .skip_bad = skip_bad});
      }
      mp::AlgorithmOptions options = MakeAlgorithmOptions(rule, eager, time_limit, requests, seed);
      options.requests = replay;
      if (*sweep) {
        FinishGeneratorOptions(generator, gen_flags);
        mp::SweepOptions s;
        s.parameter = mp::ParseSweepParameter(parameter).value();
        s.algorithms = algos;
        s.algorithm_options = options;
        const bool bytes = s.parameter == mp::SweepParameter::kCapacity;
        const double first =
            bytes ? static_cast<double>(ParseBytes(from, "--from")) : ParseNumber(from, "--from");
        const double last =
            bytes ? static_cast<double>(ParseBytes(to, "--to")) : ParseNumber(to, "--to");
        for (std::size_t k = 0; k < steps; ++k) {
          s.values.push_back(steps == 1 ? first
                                        : first + (last - first) * static_cast<double>(k) /
                                                      static_cast<double>(steps - 1));
        }
        const auto rows =
            mp::RunSweep(scenario_path.empty() ? nullptr : &scenario, generator, s).value();
        const std::string csv = mp::SweepCsv(s, rows);
        if (csv_out.empty()) {
          std::fputs(csv.c_str(), stdout);
        } else {
          mei::WriteFileAtomically(csv_out, csv).value();
        }
        if (!png_out.empty()) {
          if (csv_out.empty()) throw std::runtime_error("--png needs --csv");
          Plot(csv_out, png_out, bytes ? "capacity per node (GiB)" : parameter, algos.size());
        }
        return 0;
      }
      const mp::Instance instance(scenario);
      mp::Solution solution;
      std::string name = algo;
      if (*eval && !plan_path.empty()) {
        auto plan = mei::ParsePlan(mei::ReadTextFile(plan_path).value());
        if (!plan) {
          throw std::runtime_error(fmt::format("{}: {}", plan_path.string(), plan.error().message));
        }
        auto placement = mp::PlacementFromPlan(instance, *plan);
        if (!placement) {
          throw std::runtime_error(
              fmt::format("{}: {}", plan_path.string(), placement.error().message));
        }
        solution.placement = std::move(*placement);
        name = plan->algorithm;
      } else {
        auto algorithm = mp::MakeAlgorithm(algo, options).value();
        solution = algorithm->Solve(instance).value();
      }
      if (*solve) {
        fmt::print("{}: hit ratio {:.4f} over the demand, {:.3f} s", name,
                   mp::HitRatio(instance, solution.placement), solution.seconds);
        if (solution.upper_bound) {
          fmt::print(", {} (bound {:.4f})", solution.optimal ? "optimal" : "time limit reached",
                     *solution.upper_bound);
        }
        if (solution.replay) fmt::print(", replay hit ratio {:.4f}", solution.replay->hit_ratio);
        fmt::print("\n");
        if (!out.empty()) {
          const mei::Plan plan =
              mp::ToPlan(instance, solution.placement, std::string(name), mp::NowRfc3339());
          mei::WriteFileAtomically(out, mei::ToJson(plan)).value();
        }
        return 0;
      }
      mp::Metrics metrics;
      if (solution.replay) {
        metrics = *solution.replay;
      } else if (!replay.empty()) {
        metrics = mp::EvaluateRequests(instance, solution.placement, replay);
      } else {
        metrics = mp::EvaluateDemand(instance, solution.placement);
      }
      PrintMetrics(name, metrics, !solution.replay && replay.empty(), json);
      return 0;
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "mei-placement: {}\n", e.what());
    return 1;
  }
  return 0;
}
