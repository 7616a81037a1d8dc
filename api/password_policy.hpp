#pragma once

// spec.passwordPolicy (and the operator's --default-password-policy) as C++ values. A resource's
// policy overrides the operator's default field by field; the result must be satisfiable
// (pg::policy_problem). Pure: no I/O.
//
// JSON shape: {"length": 16..128, "lowercase": N, "uppercase": N, "digits": N, "symbols": N,
//              "classes": ["lowercase", "uppercase", "digits", "symbols"], "symbolSet": "-_.~"}
// where the four counts are minimums and `classes` lists the classes used (default all four).
//
// A policy change applies to the next password the operator generates (a rotation, or a Secret
// recreated without one), never to the current password at once.

#include "common/expected.hpp"
#include "pg/password.hpp"

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace dbuser::api {

// What a policy object says; an absent field takes the default's value.
struct password_policy_spec {
  std::optional<std::size_t> length;
  std::optional<std::size_t> lowercase, uppercase, digits, symbols; // minimums
  std::optional<std::vector<std::string>> classes;
  std::optional<std::string> symbol_set;
};

// Reads a policy object; `path` prefixes messages ("spec.passwordPolicy").
[[nodiscard]] expected<password_policy_spec, std::string>
parse_password_policy(const nlohmann::json& policy, const std::string& path);

// `base` with the fields `overrides` sets, checked: the policy, or why it cannot be satisfied
// (prefixed with `path`).
[[nodiscard]] expected<pg::password_policy, std::string>
effective_policy(const pg::password_policy& base, const password_policy_spec& overrides,
                 const std::string& path);

} // namespace dbuser::api
