#pragma once

// The operator's view of the DatabaseTargetPolicies and of the Namespaces' labels (two informers)
// and the one question supervisors ask it: may this user's namespace use this target? The
// decision itself is api/target_policy.hpp's (pure); this only feeds it from the caches.
//
// Guarantees
//   - Until both caches have listed once, synced() is false and supervisors start no reconcile
//     (an unknown policy is never taken for "no policy").
//   - No policy object at all allows every target (the behaviour before policies existed).

#include "api/target_policy.hpp"
#include "k8s/informer.hpp"

#include <memory>

namespace dbuser::actors {

struct target_gate {
  std::shared_ptr<k8s::informer> policies;   // DatabaseTargetPolicies (cluster-scoped)
  std::shared_ptr<k8s::informer> namespaces; // Namespaces: their labels

  [[nodiscard]] bool synced() const;
  [[nodiscard]] api::target_policy::decision decide(const api::target_policy::target& t) const;
  // Whether namespace `ns` is being deleted (its deletionTimestamp, as the cache shows it).
  [[nodiscard]] bool namespace_terminating(const std::string& ns) const;
};

// The DatabaseTargetPolicy resource.
[[nodiscard]] k8s::resource target_policy_resource();

} // namespace dbuser::actors
