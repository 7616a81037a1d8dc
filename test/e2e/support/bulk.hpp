#pragma once

// Bulks of objects for the scale tests (fairness, log cost): created and deleted by several
// kubectl processes at once, as a person or a pipeline applying many manifests would. One kubectl
// process sends one request after the other (about 30 a second here): several at once send
// faster than the operator serves them, so the bulk waits in the operator, not in kubectl.

#include "test/e2e/support/e2e_env.hpp"
#include "test/e2e/support/kube.hpp"

#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace dbuser::test::e2e {

inline constexpr int bulk_writers = 4;

// A bulk of PostgresUsers of one namespace: their manifests and names.
struct user_bulk {
  std::vector<nlohmann::json> users;
  std::vector<std::string> names;
};

// PostgresUsers u-0 … u-<n-1> of `env`'s namespace: roles <role_prefix><i>, database `db`,
// Secrets u-<i>.
inline user_bulk bulk_of_users(const e2e_env& env, int n, const std::string& role_prefix,
                               const std::string& db) {
  user_bulk b;
  for (int i = 0; i < n; ++i) {
    const auto name = "u-" + std::to_string(i);
    b.users.push_back(env.user_manifest(name, role_prefix + std::to_string(i), db, name));
    b.names.push_back(name);
  }
  return b;
}

// Creates `objects` with `bulk_writers` kubectl processes at once (each a List of every
// bulk_writers-th object); returns when all have returned.
inline void create_bulk(const kube& k8s, const std::vector<nlohmann::json>& objects) {
  std::vector<nlohmann::json> lists(
    bulk_writers,
    nlohmann::json{{"apiVersion", "v1"}, {"kind", "List"}, {"items", nlohmann::json::array()}});
  for (std::size_t i = 0; i < objects.size(); ++i)
    lists[i % bulk_writers]["items"].push_back(objects[i]);
  std::vector<std::thread> writers;
  for (const auto& list : lists)
    writers.emplace_back([&k8s, &list] {
      (void)k8s.kubectl({"create", "-f", "-", "-o", "name"}, list.dump());
    });
  for (auto& t : writers)
    t.join();
}

// Deletes the objects `names` of `kind` in `ns` with `bulk_writers` kubectl processes at once,
// without waiting for them to go (finalizers); true when every kubectl succeeded.
inline bool delete_bulk(const kube& k8s, const std::string& kind, const std::string& ns,
                        const std::vector<std::string>& names) {
  std::vector<std::vector<std::string>> args(
    bulk_writers, std::vector<std::string>{"delete", kind, "-n", ns, "--wait=false"});
  for (std::size_t i = 0; i < names.size(); ++i)
    args[i % bulk_writers].push_back(names[i]);
  std::vector<char> ok(bulk_writers, 0);
  std::vector<std::thread> writers;
  for (std::size_t w = 0; w < args.size(); ++w) {
    if (w >= names.size()) { // fewer names than processes
      ok[w] = 1;
      continue;
    }
    writers.emplace_back([&, w] { ok[w] = k8s.kubectl(args[w]).ok() ? 1 : 0; });
  }
  for (auto& t : writers)
    t.join();
  for (char o : ok)
    if (o == 0)
      return false;
  return true;
}

} // namespace dbuser::test::e2e
