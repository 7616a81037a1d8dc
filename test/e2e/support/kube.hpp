#pragma once

// The test's own view of the Kubernetes API: kubectl, exactly as a user would drive it, against
// the dev environment's kube-apiserver. Independent of the operator's k8s/ client on purpose.

#include "test/e2e/support/process.hpp"

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace dbuser::test::e2e {

class kube {
public:
  explicit kube(std::string kubeconfig);

  // `kubectl <args>` with KUBECONFIG set; `input` on stdin.
  [[nodiscard]] exec_result kubectl(const std::vector<std::string>& args,
                                    const std::string& input = "") const;
  // As kubectl(), but throws std::runtime_error with kubectl's stderr when it fails.
  std::string must(const std::vector<std::string>& args, const std::string& input = "") const;

  // kubectl apply -f - (the object carries its namespace, or pass one).
  [[nodiscard]] exec_result apply(const nlohmann::json& object, const std::string& ns = "") const;
  // The object, or nullopt when it does not exist (ns empty: cluster-scoped).
  [[nodiscard]] std::optional<nlohmann::json> get(const std::string& kind, const std::string& ns,
                                                  const std::string& name) const;
  // Every object of `kind` in `ns` (the List's items).
  [[nodiscard]] std::vector<nlohmann::json> list(const std::string& kind,
                                                 const std::string& ns) const;
  // Deletes without waiting for finalizers; absent is fine.
  void remove(const std::string& kind, const std::string& ns, const std::string& name) const;
  // JSON merge patch of the object (or of its status with subresource "status").
  void merge_patch(const std::string& kind, const std::string& ns, const std::string& name,
                   const nlohmann::json& patch) const;
  // The Events whose involvedObject is `name` in `ns` (optionally of one type, e.g. Warning).
  [[nodiscard]] std::vector<nlohmann::json> events(const std::string& ns, const std::string& name,
                                                   const std::string& type = "") const;

  [[nodiscard]] const std::string& kubeconfig() const { return kubeconfig_; }

private:
  std::string kubeconfig_;
};

// A Secret object with string data (kubectl apply turns stringData into data).
nlohmann::json secret_manifest(const std::string& ns, const std::string& name,
                               const std::map<std::string, std::string>& string_data);

// The decoded data of a Secret.
std::map<std::string, std::string> secret_data(const nlohmann::json& secret);

std::string base64_decode(const std::string& in);

} // namespace dbuser::test::e2e
