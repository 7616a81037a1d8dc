#pragma once

// The desired and observed state of one managed role, and the pure plan that turns the difference
// into statements. The executor observes, plans and applies; converging is level-triggered: when
// the world matches, plan() returns nothing.

#include "pg/error.hpp"
#include "pg/privileges.hpp"
#include "pg/scram.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dbuser::pg {

// Table privileges on every table of `schema` in `database` (existing ones and, through default
// privileges, those that `default_creators` create later), with CONNECT on the database and USAGE
// on the schema; on every sequence of the schema, likewise, what the table privileges need
// (sequences_for) unless `sequence_privileges` says otherwise; CREATE on the schema; EXECUTE on
// its functions and procedures.
struct grant_scope {
  std::string database;
  std::string schema = "public";
  privilege_set privileges;
  bool create_database = false; // created (outside a transaction) when missing; never dropped
  // The roles whose future tables the grant covers (ALTER DEFAULT PRIVILEGES FOR ROLE ...);
  // empty: the admin alone.
  std::vector<std::string> default_creators = {};
  std::optional<sequence_privilege_set> sequence_privileges = std::nullopt; // nullopt: derived
  schema_privilege_set schema_privileges = {};     // CREATE on the schema; USAGE always
  function_privilege_set function_privileges = {}; // EXECUTE on every routine, now and later

  // The sequence privileges it holds: the explicit ones, else those its table privileges need.
  [[nodiscard]] sequence_privilege_set sequences() const {
    return sequence_privileges ? *sequence_privileges : sequences_for(privileges);
  }
};

// Whether a role may log in, and with which password.
enum class login_mode : std::uint8_t {
  active,   // LOGIN with the password of the credentials (`desired_role::verifier`)
  keep,     // previous credentials within their overlap: LOGIN and password left as they are
  disabled, // NOLOGIN PASSWORD NULL (a role that does not exist is not created)
};

// A login role of strategy Alternating (api/rotation.hpp): LOGIN, member of the owner role
// (desired_role::name) and nothing else, `SET role` to it so that what it creates belongs to the
// owner; marked like the owner.
struct login_role {
  std::string name;
  login_mode mode = login_mode::disabled;
};

struct desired_role {
  std::string name;
  std::string marker;             // the role comment, owner_marker("namespace/name")
  int connection_limit = -1;
  std::vector<std::string> member_of; // existing roles to be a member of; others are revoked
  std::vector<grant_scope> grants;    // the first is spec.database/public; others are `grants`
  login_mode login = login_mode::active; // this role's own (InPlace: active)
  std::vector<login_role> logins;        // Alternating: its login roles; InPlace: usually none
  // SCRAM verifier of the active role (this one or a login role); needed to create it, or to
  // set its password (set_password: a rotation or a strategy switch).
  std::string verifier;
  bool set_password = false;
  int scram_iterations = pg::scram_iterations; // of the verifier made for it (--scram-iterations)

  // The role that logs in with the credentials' password ("" when none is active).
  [[nodiscard]] std::string active_name() const;
  // The grants are held through privilege groups (pg/groups.hpp): the role is made a member of
  // one group per (database, schema) and holds nothing directly (what it holds directly is
  // revoked once it is a member). false: granted to the role itself (what a group does).
  bool use_groups = true;
  // Ownership: the role owns grants.front().database (owns_database) and these schemas of it,
  // created when missing (a database by the admin, then handed over), handed over from the admin
  // when it holds no other role's objects (a database), never taken from another role.
  bool owns_database = false;
  std::vector<std::string> owned_schemas;
};

struct observed_role {
  bool exists = false;
  bool login = false;
  bool superuser = false;
  bool createrole = false;
  bool createdb = false;
  bool replication = false;
  bool bypassrls = false;
  int connection_limit = -1;
  std::optional<std::string> comment;
  std::vector<std::string> member_of; // sorted; without privilege groups
  std::vector<std::string> groups;    // memberships in privilege groups (pg/groups.hpp), sorted
  std::vector<std::string> config;    // rolconfig: "name=value" settings for every database
};

struct observed_login {
  std::string name;
  observed_role role;
};

struct observed_database {
  std::string name;
  bool exists = false;
  bool connect = false; // the role holds an explicit CONNECT grant
};

// What the role holds in one schema. Tables the role owns itself, and tables whose owner's
// privileges the admin does not have (it could not grant on them), are not counted.
struct observed_schema {
  std::string database;
  std::string schema;
  bool usage = false;            // granted to the role itself
  bool usage_via_public = false; // PUBLIC holds USAGE (the default for schema public)
  int tables = 0;                // tables, views, matviews, foreign and partitioned tables
  privilege_set on_every_table;  // held on each of them (all privileges when there are none)
  privilege_set on_some_table;   // held on at least one
  // Default privileges on new tables granted to it, by the creator role they apply to.
  std::map<std::string, privilege_set> defaults;
  // The same for sequences (owned by another role and within the admin's reach, as tables).
  int sequences = 0;
  sequence_privilege_set on_every_sequence; // all when there are none
  sequence_privilege_set on_some_sequence;
  std::map<std::string, sequence_privilege_set> sequence_defaults;
  bool create = false; // CREATE on the schema, granted to the role itself
  // The same for functions and procedures.
  int functions = 0;
  function_privilege_set on_every_function; // all when there are none
  function_privilege_set on_some_function;
  std::map<std::string, function_privilege_set> function_defaults;
};

// Who owns what desired_role::owns_database and ::owned_schemas name (read only when it asks).
struct observed_ownership {
  std::string database_owner; // of grants.front().database; "" when it does not exist
  // Objects in that database owned by roles other than the admin and the role (a database is
  // handed over only when there are none); counted only when the role does not own it already.
  int foreign_objects = 0;
  std::map<std::string, std::string> schema_owners; // existing owned_schemas → their owner
  bool admin_acts_as_role = false; // superuser, or may SET ROLE to it (16+) / is a member
};

struct observed_state {
  observed_role role;
  observed_ownership ownership;
  std::vector<observed_login> logins; // those of desired_role::logins, in its order
  std::vector<observed_database> databases; // desired ones, and any where it holds CONNECT
  std::vector<observed_schema> schemas;     // desired ones, and any where it holds something
  int server_version_num = 0;               // 150005; decides the group membership options
};

struct action {
  std::string database;     // where it runs; empty: the maintenance database
  std::string sql;          // may hold a verifier: never log it (see `sensitive`)
  std::string description;  // past tense, for Events: "granted SELECT on myapp_db.public"
  std::string context;      // for errors: "while granting SELECT on myapp_db.public to myapp"
  bool outside_transaction = false; // CREATE DATABASE
  bool sensitive = false;           // sql holds a verifier
  // When the server answers 42501 (insufficient privilege): the right the admin lacks and the
  // way out, for the message ("the admin lacks CREATEDB: create database X or grant CREATEDB").
  std::string if_denied = {};
  // Starts a transaction of its own (apply() does not join it to the statements before it): a
  // batch that fails is echoed in the server's log whole, and the role's statements (its
  // verifier) must not share a batch with its privilege groups' (which race with other users').
  bool new_batch = false;
};

// The statements that take `observed` to `desired`, in order: databases, role, memberships
// (privilege groups joined in their own database), then memberships left, CONNECT/USAGE/table/
// default privileges, then revocations of what is no longer desired. With use_groups the role
// itself is granted nothing: the groups' own plans (pg/groups.hpp) create the databases and grant. Statements
// of one database that follow each other run in one transaction (CREATE ROLE and its marker
// commit together). `invalid` when the role is missing and no verifier is given, or a database
// is missing and may not be created.
[[nodiscard]] result<std::vector<action>> plan(const desired_role& desired,
                                               const observed_state& observed,
                                               std::string_view admin_user);

// Ownership marker: the role comment naming the owning resource.
inline constexpr std::string_view marker_prefix = "dbuser-operator:owner=";
// "dbuser-operator:owner=<namespace>/<name>" for owner "<namespace>/<name>".
[[nodiscard]] std::string owner_marker(std::string_view owner);
// The owner named by a role comment, if it is one of our markers.
[[nodiscard]] std::optional<std::string> marker_owner(std::string_view comment);

enum class ownership {
  absent,         // no such role: creating it is fine
  ours,           // our marker names expected_owner
  unmanaged,      // the role exists without a marker: never adopt it
  owned_by_other, // our marker names another resource
};

struct ownership_result {
  ownership state = ownership::absent;
  std::string owner; // for owned_by_other: who owns it
};

[[nodiscard]] ownership_result ownership_of(const observed_role& observed,
                                            std::string_view expected_owner);

} // namespace dbuser::pg
