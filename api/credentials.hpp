#pragma once

// The credentials Secret of a PostgresUser: what it holds, who owns it, and the internal key that
// carries a pending password during rotation. Pure JSON shapes; the secret writer sends them.

#include "api/postgres_user.hpp"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace dbuser::api {

// Keys of the Secret's data.
inline constexpr const char* key_username = "username";
inline constexpr const char* key_password = "password";
// The keys the operator always writes (spec.secretTemplate.data adds others).
[[nodiscard]] const std::vector<std::string>& default_secret_keys();
// Internal: a password being rotated in, not yet proven to be the role's (see rotation.hpp).
inline constexpr const char* key_pending_password = "dbuser-operator.internal.pending-password";

// Who a Secret belongs to.
enum class secret_owner {
  absent, // no such Secret
  ours,   // its controller ownerReference is this PostgresUser (by uid)
  other,  // it exists and is not ours: never touch it
};

[[nodiscard]] secret_owner owner_of_secret(const nlohmann::json* secret, const object_meta& owner);

// Releasing a Secret on uninstall (the CRD is being deleted; actors/supervisor_delete.cpp).
// The annotation a released Secret carries: the "namespace/name" of the resource it was written for.
inline constexpr const char* released_annotation = "database.example.com/released-by";
// Whether `secret` was released by the resource `owner_key` and owned by nobody since (no
// controller ownerReference): a resource of that name adopts it, so its credentials survive an
// uninstall and a reinstall. Whoever may write Secrets in the namespace may already edit the
// operator's own, so adopting gives nobody a right they did not have.
[[nodiscard]] bool released_to(const nlohmann::json& secret, const std::string& owner_key);
// The JSON patch that releases `secret` from `owner`: a test that our controller ownerReference
// is still at its index (the server refuses the patch otherwise), its removal, and the
// annotation. nullopt when the Secret is not ours.
[[nodiscard]] std::optional<nlohmann::json> release_patch(const nlohmann::json& secret,
                                                          const object_meta& owner);

// "postgresql://user:password@host:port/database?sslmode=..." (or "mysql://...?ssl-mode=...")
// with every part percent-encoded.
// `user`: the role that logs in ("" : spec.username).
[[nodiscard]] std::string connection_uri(const user_spec& spec, const std::string& password,
                                         const std::string& user = {});
// "jdbc:postgresql://host:port/database?user=...&password=...&sslmode=..." (or jdbc:mysql)
[[nodiscard]] std::string jdbc_url(const user_spec& spec, const std::string& password,
                                   const std::string& user = {});

// What the Secret says about the password (see rotation.hpp for the protocol).
struct credentials {
  // The role that logs in with `password` ("" : spec.username). With strategy Alternating one of
  // its login roles; the Secret's `username` says which.
  std::string username;
  std::string password;                // the one applications use
  std::optional<std::string> pending;  // a rotation in progress
  std::string rotated_for;             // the rotate annotation value last handled
  std::string updated_at;              // RFC 3339: when `password` last changed
  // The credentials before the last rotation that changed the login role: that role logs in
  // with its password until `previous_until` (RFC 3339); both "" when there is none.
  std::string previous;
  std::string previous_until;

  [[nodiscard]] const std::string& login(const user_spec& spec) const {
    return username.empty() ? spec.username : username;
  }
};

// Key of the Secret's data: the role that owns the objects, when it is not `username` (strategy
// Alternating: the NOLOGIN owner role; stable across rotations).
inline constexpr const char* key_owner_role = "owner-role";

// Annotation on the Secret: what spec.secretTemplate added (JSON {"annotations": [...], "data":
// [...], "labels": [...]}), so that what a template no longer asks for is removed and what others
// added is not.
inline constexpr const char* template_keys_annotation = "database.example.com/template-keys";

// The desired Secret (for create): its type, labels, a controller ownerReference to `owner`, our
// annotations, and the data (base64-encoded as the API expects), spec.secretTemplate's included.
[[nodiscard]] nlohmann::json credentials_secret(const user_spec& spec,
                                                const object_meta& owner, const credentials& c);

// A JSON merge patch that makes an existing Secret of ours (`current`, as last read; may be null)
// hold exactly our keys (labels, annotations and ownerReference included), leaving other
// people's labels, annotations and keys alone; what an earlier template added and the current
// one does not is removed. The type is not patched (it is immutable): see secret_type_differs.
[[nodiscard]] nlohmann::json credentials_patch(const user_spec& spec, const object_meta& owner,
                                               const credentials& c,
                                               const nlohmann::json* current);

// The Secret's type is not the one the spec asks for (Kubernetes cannot change it in place).
[[nodiscard]] bool secret_type_differs(const nlohmann::json& secret, const user_spec& spec);

// The values of a template's fields for `spec` and `password`.
[[nodiscard]] template_values template_values_of(const user_spec& spec,
                                                 const std::string& password,
                                                 const std::string& user = {});

// A Secret's data value, decoded; nullopt when absent or not valid base64.
[[nodiscard]] std::optional<std::string> secret_value(const nlohmann::json& secret,
                                                      const std::string& key);

} // namespace dbuser::api
