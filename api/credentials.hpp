#pragma once

// The credentials Secret of a PostgresUser: what it holds, who owns it, and the internal key that
// carries a pending password during rotation. Pure JSON shapes; the secret writer sends them.

#include "api/postgres_user.hpp"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace dbuser::api {

// Keys of the Secret's data.
inline constexpr const char* key_username = "username";
inline constexpr const char* key_password = "password";
// Internal: a password being rotated in, not yet proven to be the role's (see rotation.hpp).
inline constexpr const char* key_pending_password = "dbuser-operator.internal.pending-password";

// Who a Secret belongs to.
enum class secret_owner {
  absent, // no such Secret
  ours,   // its controller ownerReference is this PostgresUser (by uid)
  other,  // it exists and is not ours: never touch it
};

[[nodiscard]] secret_owner owner_of_secret(const nlohmann::json* secret, const object_meta& owner);

// "postgresql://user:password@host:port/database?sslmode=..." (or "mysql://...?ssl-mode=...")
// with every part percent-encoded.
[[nodiscard]] std::string connection_uri(const user_spec& spec, const std::string& password);
// "jdbc:postgresql://host:port/database?user=...&password=...&sslmode=..." (or jdbc:mysql)
[[nodiscard]] std::string jdbc_url(const user_spec& spec, const std::string& password);
// RFC 3986 percent-encoding of everything but unreserved characters.
[[nodiscard]] std::string percent_encode(const std::string& s);

// What the Secret says about the password (see rotation.hpp for the protocol).
struct credentials {
  std::string password;                // the one applications use
  std::optional<std::string> pending;  // a rotation in progress
  std::string rotated_for;             // the rotate annotation value last handled
  std::string updated_at;              // RFC 3339: when `password` last changed
};

// The desired Secret (for create): labels, a controller ownerReference to `owner`, our
// annotations, and the data (base64-encoded as the API expects).
[[nodiscard]] nlohmann::json credentials_secret(const user_spec& spec,
                                                const object_meta& owner, const credentials& c);

// A JSON merge patch that makes an existing Secret of ours hold exactly our keys (labels,
// annotations and ownerReference included), leaving other people's labels and annotations alone.
[[nodiscard]] nlohmann::json credentials_patch(const user_spec& spec,
                                               const object_meta& owner, const credentials& c);

// A Secret's data value, decoded; nullopt when absent or not valid base64.
[[nodiscard]] std::optional<std::string> secret_value(const nlohmann::json& secret,
                                                      const std::string& key);

} // namespace dbuser::api
