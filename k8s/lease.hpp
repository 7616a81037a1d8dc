#pragma once

// coordination.k8s.io/v1 Lease primitives for leader election (the election itself is the
// actors' business). Updates are optimistic: a stale resourceVersion fails with kind::conflict,
// which is how a candidate learns someone else renewed first.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "k8s/client.hpp"

namespace dbuser::k8s {

struct lease_spec {
  std::string holder;
  int lease_duration_seconds = 15;
  std::optional<std::chrono::system_clock::time_point> acquire_time, renew_time;
  int transitions = 0;
};

// Pure: the Lease object, and the spec read back from one (MicroTime parsed to seconds precision+µs).
[[nodiscard]] nlohmann::json make_lease(const std::string& ns, const std::string& name, const lease_spec& spec);
[[nodiscard]] lease_spec lease_spec_of(const nlohmann::json& lease);
[[nodiscard]] std::optional<std::chrono::system_clock::time_point> parse_time(const std::string& rfc3339);

void get_lease(const std::shared_ptr<client>& c, const std::string& ns, const std::string& name,
               callback<nlohmann::json> cb);
void create_lease(const std::shared_ptr<client>& c, const std::string& ns, const std::string& name,
                  const lease_spec& spec, callback<nlohmann::json> cb);
// PUT with `current`'s resourceVersion.
void update_lease(const std::shared_ptr<client>& c, const nlohmann::json& current, const lease_spec& spec,
                  callback<nlohmann::json> cb);

} // namespace dbuser::k8s
