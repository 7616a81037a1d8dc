#include "actors/target_gate.hpp"

#include "api/postgres_user.hpp"

namespace dbuser::actors {

using nlohmann::json;

bool target_gate::synced() const {
  return (!policies || policies->synced()) && (!namespaces || namespaces->synced());
}

api::target_policy::decision target_gate::decide(const api::target_policy::target& t) const {
  std::vector<api::target_policy::policy> all;
  if (policies)
    for (const auto& p : policies->list())
      all.push_back(api::target_policy::parse(p));
  api::target_policy::labels labels;
  if (namespaces)
    if (auto n = namespaces->get(t.ns)) {
      const auto l = n->value("/metadata/labels"_json_pointer, json::object());
      for (auto i = l.begin(); i != l.end(); ++i)
        if (i.value().is_string())
          labels[i.key()] = i.value().get<std::string>();
    }
  return api::target_policy::evaluate(all, t, labels);
}

bool target_gate::namespace_terminating(const std::string& ns) const {
  if (!namespaces)
    return false;
  const auto n = namespaces->get(ns);
  return n && n->contains("/metadata/deletionTimestamp"_json_pointer);
}

k8s::resource target_policy_resource() {
  return k8s::resource{api::group, api::version, api::target_policy::plural, false};
}

} // namespace dbuser::actors
