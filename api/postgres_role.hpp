#pragma once

// The PostgresRole API (database.example.com/v1alpha1, short name pgrole): a NOLOGIN PostgreSQL
// role that holds privileges — the same per database and schema as a PostgresUser's (tables,
// sequences, schemas, functions, default privileges for creators) — and that users join through
// their memberOf. It has no credentials: no Secret, no password, no rotation. Its spec parses into
// an api::user_spec (username = spec.roleName) under PostgreSQL's rules, so the supervisor and
// the executor serve it like a user whose role never logs in.

#include "api/postgres_user.hpp"

namespace dbuser::api::postgres_role {

inline constexpr const char* kind = "PostgresRole";
inline constexpr const char* plural = "postgresroles";

// The spec, structurally checked and validated (roleName like a username; no secretName,
// passwordRotation, passwordPolicy or secretTemplate).
[[nodiscard]] expected<user_spec, spec_error> parse_spec(const nlohmann::json& object);

// The owner a role's marker names: "PostgresRole <namespace>/<name>", never a PostgresUser's
// "<namespace>/<name>", so that neither kind can adopt the other's role.
[[nodiscard]] std::string owner_key(const object_meta& meta);

// The role the spec asks for: NOLOGIN (PASSWORD NULL), no connection limit, its privileges
// through privilege groups, owned by `owner_key`.
[[nodiscard]] pg::desired_role desired_role(const user_spec& spec, const std::string& owner_key);

} // namespace dbuser::api::postgres_role
