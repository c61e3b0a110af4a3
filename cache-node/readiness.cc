#include "cache-node/readiness.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <utility>

#include "common/http/client.h"
#include "common/http/data_plane.h"

namespace mei::cache_node {
namespace {

// "3.2 s" since `then`, for messages.
std::string AgeOf(std::chrono::system_clock::time_point then) {
  const auto age = std::chrono::system_clock::now() - then;
  return fmt::format("{:.1f} s", std::chrono::duration<double>(age).count());
}

}  // namespace

Readiness::Readiness(const Store& store, const BlockIndex& index, UpstreamHealth& health,
                     Upstream parent, ReadinessOptions options)
    : store_(store),
      index_(index),
      health_(health),
      parent_(std::move(parent)),
      options_(std::move(options)),
      prober_([this] { RunProber(); }) {}

Readiness::~Readiness() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  prober_.join();
}

void Readiness::RunProber() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    Probe();
    lock.lock();
    wake_.wait_for(lock, options_.health_interval, [this] { return stopping_; });
  }
}

void Readiness::Probe() {
  http::ClientRequest request;
  request.url = parent_.base_url + "/healthz";
  if (!options_.fetch.client_id.empty()) {
    request.headers.emplace_back("X-Mei-Client", options_.fetch.client_id);
  }
  http::ClientOptions client = options_.fetch.client;
  client.connect_timeout = std::min(client.connect_timeout, options_.health_interval);
  client.idle_timeout = options_.health_interval;
  client.deadline = options_.health_interval;
  client.max_body_bytes = 64 << 10;
  auto response = http::Fetch(request, client);
  if (!response) {
    health_.Record(parent_.name, response.error());
  } else if (response->status != 200) {
    health_.Record(parent_.name,
                   Error{Errc::kUpstreamFailed,
                         fmt::format("GET {} answered {}", request.url, response->status)});
  } else {
    health_.Record(parent_.name, {});
  }
}

Result<void> Readiness::Check() const {
  if (auto readable = CheckReadable(store_); !readable) return readable.error();
  const std::optional<UpstreamHealth::Entry> parent = health_.Of(parent_.name);
  // Probes come one interval after the last one ended, and one may take an interval itself.
  const auto fresh = std::chrono::system_clock::now() - 3 * options_.health_interval;
  if (parent && parent->consecutive_failures == 0 && parent->last_success >= fresh) return {};

  const BlockIndex::PlanCoverage plan = index_.plan_coverage();
  if (plan.planned > 0 && plan.held == plan.planned) return {};

  std::string why;
  if (!parent || (parent->successes == 0 && parent->failures == 0)) {
    why = "has not answered yet";
  } else if (parent->consecutive_failures > 0) {
    why = fmt::format("failed {} time(s) in a row ({})", parent->consecutive_failures,
                      parent->last_error);
  } else {
    why = "last answered " + AgeOf(parent->last_success) + " ago";
  }
  const std::string plan_part =
      plan.planned == 0 ? "the node has no plan to serve without it"
                        : fmt::format("the node holds {} of the {} blocks its plan pins", plan.held,
                                      plan.planned);
  return Error{Errc::kUpstreamFailed, fmt::format("not ready: the parent {} {}, and {}",
                                                  parent_.base_url, why, plan_part)};
}

}  // namespace mei::cache_node
