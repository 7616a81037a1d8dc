#pragma once

// The PostgresUser API (database.example.com/v1alpha1) as C++ values: the constants of the
// contract, the spec parsed from the object's JSON and validated, and the desired PostgreSQL role
// it asks for. Pure: no I/O. The CRD schema (deploy/crd/) rejects most bad input at `kubectl
// apply`; parse() re-checks everything, because the operator must never trust its input.

#include "api/password_policy.hpp"
#include "api/secret_template.hpp"
#include "common/expected.hpp"
#include "pg/plan.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace dbuser::api {

inline constexpr const char* group = "database.example.com";
inline constexpr const char* version = "v1alpha1";
inline constexpr const char* api_version = "database.example.com/v1alpha1";
inline constexpr const char* kind = "PostgresUser";
inline constexpr const char* plural = "postgresusers";
inline constexpr const char* finalizer = "database.example.com/finalizer";
inline constexpr const char* rotate_annotation = "database.example.com/rotate";
inline constexpr const char* owner_label = "database.example.com/postgresuser";
inline constexpr const char* managed_by_label = "app.kubernetes.io/managed-by";
inline constexpr const char* managed_by_value = "dbuser-operator";
inline constexpr const char* field_manager = "dbuser-operator";
// The shortest rotation interval accepted.
inline constexpr std::chrono::seconds min_rotation_interval{10};
// spec.passwordRotation.overlap: its default and its shortest value (Alternating).
inline constexpr std::chrono::seconds default_rotation_overlap{24 * 3600};
inline constexpr std::chrono::seconds min_rotation_overlap{60};

// Strategy Alternating's login roles are the username with "-a" and "-b" (api/rotation.hpp).
inline constexpr std::size_t alternating_suffix_size = 2;

// How a password rotation replaces the credentials (see api/rotation.hpp).
enum class rotation_strategy {
  in_place,    // the role's password changes: the old one stops working at once
  alternating, // a NOLOGIN owner role and two login roles; the previous credentials overlap
};

enum class deletion_policy { remove, retain };

struct admin_secret_ref {
  std::string name;
  std::string username_key = "username";
  std::string password_key = "password";
};

struct secret_key_ref {
  std::string name;
  std::string key = "ca.crt";
};

struct grant {
  std::string database;
  std::string schema = "public";
  std::vector<std::string> privileges;
  std::vector<std::string> default_privileges_for; // PostgreSQL: creators of future tables
  // PostgreSQL: sequencePrivileges as written; nullopt: what the table privileges need.
  std::optional<std::vector<std::string>> sequence_privileges;
  std::vector<std::string> schema_privileges;   // PostgreSQL: USAGE, CREATE on the schema
  std::vector<std::string> function_privileges; // PostgreSQL: EXECUTE on its routines
};

// The two database engines a user resource can target.
enum class engine { postgres, mysql };

// The spec of a PostgresUser or a MySQLUser: what the supervisor needs, engine-neutral, plus the
// few fields only one engine reads (schema in grants, accountHost).
struct user_spec {
  engine eng = engine::postgres;
  // false: a PostgresRole (engine_rules::has_credentials): NOLOGIN, no Secret, no password.
  bool credentials = true;
  std::string username;
  std::string database;
  std::string host;
  int port = 5432;
  std::string ssl_mode = "prefer"; // PostgreSQL sslMode, or MySQL tlsMode
  std::string account_host = "%";  // MySQL only: the account's host part
  std::optional<secret_key_ref> ca_secret_ref;
  admin_secret_ref admin;
  std::vector<std::string> privileges;
  std::vector<std::string> member_of;
  // PostgreSQL: the roles whose future tables spec.privileges covers (empty: the admin).
  std::vector<std::string> default_privileges_for;
  // PostgreSQL: spec.sequencePrivileges (schema public of spec.database); nullopt: derived.
  std::optional<std::vector<std::string>> sequence_privileges;
  // PostgreSQL: spec.schemaPrivileges and spec.functionPrivileges (schema public of spec.database).
  std::vector<std::string> schema_privileges;
  std::vector<std::string> function_privileges;
  // PostgreSQL: spec.databaseOwner (the role owns spec.database) and spec.ownedSchemas (schemas of
  // spec.database it owns): created or handed over, never taken from another role.
  bool database_owner = false;
  std::vector<std::string> owned_schemas;
  std::vector<grant> grants;
  int connection_limit = -1;
  std::optional<std::chrono::seconds> rotation_interval;
  rotation_strategy strategy = rotation_strategy::in_place;
  std::chrono::seconds overlap = default_rotation_overlap; // Alternating: how long the previous
                                                           // credentials keep logging in
  deletion_policy deletion = deletion_policy::remove;
  std::string secret_name;
  // spec.passwordPolicy as written; the operator's default fills what it leaves out.
  password_policy_spec password_policy;
  secret_template secret_tmpl; // spec.secretTemplate
};

struct object_meta {
  std::string ns;
  std::string name;
  std::string uid;
  std::string resource_version;
  std::int64_t generation = 0;
  bool deleting = false; // metadata.deletionTimestamp is set
  std::vector<std::string> finalizers;
  std::map<std::string, std::string> annotations;

  [[nodiscard]] std::string key() const { return ns + "/" + name; }
  [[nodiscard]] bool has_finalizer(const std::string& f) const;
  [[nodiscard]] std::string annotation(const std::string& k) const;
};

// Reads the metadata every object has. Missing fields stay empty.
[[nodiscard]] object_meta parse_meta(const nlohmann::json& object);

// What a reconcile depends on in a user object, as one comparable value: its identity (uid),
// spec (generation), deletion, finalizers, annotations and labels — not its status or
// resourceVersion, which the operator's own status writes change.
[[nodiscard]] std::string reconcile_inputs(const nlohmann::json& object);

// Why a spec is refused: a message naming the field, for the InvalidSpec condition.
struct spec_error {
  std::string message;
};

// The spec, structurally checked and validated (names, privileges, durations, ranges).
[[nodiscard]] expected<user_spec, spec_error> parse_spec(const nlohmann::json& object);

// What differs between engines when a spec is read: defaults and the validation rules (each
// returns why a value is refused, or nothing).
struct engine_rules {
  engine eng = engine::postgres;
  int default_port = 5432;
  std::string default_tls_mode;
  const char* tls_field = "sslMode";
  std::vector<std::string> tls_modes;
  std::function<bool(const std::string&)> needs_ca;
  std::function<std::optional<std::string>(const std::string&)> user, database, schema,
    account_host, member_of;
  std::function<std::optional<std::string>(const std::vector<std::string>&)> privileges;
  bool has_schema = false;
  bool has_member_of = false;
  // The field that names the role or account ("username"; a PostgresRole's "roleName").
  const char* name_field = "username";
  // Whether it logs in with credentials of its own: secretName, passwordRotation, passwordPolicy
  // and secretTemplate (a PostgresRole has none, and refuses them).
  bool has_credentials = true;
};

// PostgreSQL's rules (a PostgresUser's; a PostgresRole's start from them).
[[nodiscard]] const engine_rules& postgres_rules();

// The engine-neutral reading of a user resource's spec under `rules`.
[[nodiscard]] expected<user_spec, spec_error> parse_user_spec(const nlohmann::json& object,
                                                              const engine_rules& rules);

// A Go-style duration ("720h", "1h30m", "90s", "1.5h") in whole seconds.
[[nodiscard]] std::optional<std::chrono::seconds> parse_duration(const std::string& text);

// The role the spec asks for, owned by `owner_key` ("namespace/name"): the main database first
// (created when missing), then each extra grant. The verifier is left empty for the caller.
[[nodiscard]] pg::desired_role desired_role(const user_spec& spec,
                                            const std::string& owner_key);

} // namespace dbuser::api
