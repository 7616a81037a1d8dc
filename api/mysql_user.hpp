#pragma once

// The MySQLUser API (database.example.com/v1alpha1, short name myuser): a MariaDB/MySQL account
// with privileges on `database`.* (and further databases), its credentials in a Secret. The spec
// parses into the same api::user_spec as a PostgresUser (engine = mysql), so one supervisor
// serves both; the desired account is mysql/'s.

#include "api/postgres_user.hpp"
#include "mysql/plan.hpp"

namespace dbuser::api::mysql_user {

inline constexpr const char* kind = "MySQLUser";
inline constexpr const char* plural = "mysqlusers";
inline constexpr const char* owner_label = "database.example.com/mysqluser";

// The spec, structurally checked and validated with mysql/'s rules (user names of at most 32
// bytes, accountHost, database names, the privilege allowlist, tlsMode).
[[nodiscard]] expected<user_spec, spec_error> parse_spec(const nlohmann::json& object);

// The account the spec asks for, owned by `owner_key`; the password hash is left to the caller.
// connectionLimit -1 (no limit) becomes MySQL's 0.
[[nodiscard]] mysql::desired_account desired_account(const user_spec& spec,
                                                     const std::string& owner_key);

} // namespace dbuser::api::mysql_user
