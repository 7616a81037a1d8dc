#pragma once

// The desired and observed state of one managed account, the ownership protocol, and the pure
// plan that turns the difference into statements. The executor observes, plans and applies;
// converging is level-triggered: when the world matches, plan() returns nothing.
//
// ## Ownership marker: a row in `dbuser_operator`.`owners`, not a user comment
//
// PostgreSQL keeps the marker in the role comment, created in the same transaction as the role.
// MariaDB 10.11 has no such thing: `CREATE USER ... COMMENT '...'` and `ATTRIBUTE '{json}'` are
// syntax errors (1064) there and information_schema.USER_ATTRIBUTES does not exist (checked on
// 10.11.19; they exist only on MySQL 8.0.21+). Writing JSON into mysql.global_priv by hand would
// bypass the server's account management. So the operator keeps its own table, created on demand
// by the admin in a schema of its own:
//
//   CREATE TABLE `dbuser_operator`.`owners` (user, host, owner, claimed_at,
//                                            PRIMARY KEY (user, host))
//
// `dbuser_operator` is refused as a user database (validation.hpp), so no managed account is ever
// granted anything on it. CREATE USER commits implicitly (it is DDL), so the row and the account
// cannot share a transaction; the order below makes every crash point safe.
//
// Expected flow (creating an account for owner O):
//   1. observe: the account ('user'@'host' in mysql.user) and the row of (user, host).
//   2. No account, no row → plan: ensure the schema and table (IF NOT EXISTS), INSERT the row
//      naming O (the claim), then CREATE USER — never IF NOT EXISTS: it fails with 1396 if the
//      account appeared meanwhile.
//   3. If CREATE USER fails, apply() deletes the claim (DELETE ... WHERE owner = O) before
//      returning the error, so a hand-made account that raced us is not adopted later.
//   4. Account and row naming O → ours: converge max connections and grants.
//   5. Deletion (executor::drop_user): DROP USER IF EXISTS, then DELETE the row naming O.
//
// Guarantees:
//   - An account that existed before O claimed it is never adopted: without a row it is
//     `unmanaged`; the INSERT fails on the primary key if another owner's row exists.
//   - A second owner never takes an account (or a pending claim) of the first: `owned_by_other`.
//   - A crash between 2's INSERT and CREATE USER leaves a claim without an account: the next
//     reconcile of O sees `absent` and creates it; no other owner can claim it meanwhile.
//   - A crash between 5's DROP and DELETE leaves a stale claim of O; drop_user deletes it when
//     run again, and O re-creating the account is the intended outcome anyway.
//
// Assumptions:
//   - Nobody but the operator's admin writes `dbuser_operator`.`owners`.
//   - If a DBA drops a managed account by hand and creates one of the same name by hand while
//     the claim row remains, it is treated as ours (there is no account id to tell them apart).
//     As for PostgreSQL's SUPERUSER, the plan then strips what it did not grant: global
//     privileges, GRANT OPTION, and database grants outside the desired set.
//
// Hosts: the server folds the host part of an account to lower case ('u'@'LocalHost' is
// 'u'@'localhost'); plan() and the executor compare and write it lower-cased.

#include "mysql/error.hpp"
#include "mysql/privileges.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dbuser::mysql {

// Privileges on `database`.* (tables that exist now and those created later: MySQL grants at
// database level cover both).
struct database_grant {
  std::string database;
  privilege_set privileges;
  bool create_database = false; // CREATE DATABASE IF NOT EXISTS when missing; never dropped
};

struct desired_account {
  std::string user;
  std::string host = "%";          // the account's host part (spec.accountHost)
  std::string owner;               // "namespace/name" of the owning resource
  int max_user_connections = 0;    // 0: no limit (MySQL's meaning)
  std::vector<database_grant> grants; // the first is spec.database; others are `grants`
  std::string password_hash;       // mysql_native_password hash; needed only to create
};

struct observed_account {
  bool exists = false;
  std::optional<std::string> owner; // the claim row, whether or not the account exists
  int max_user_connections = 0;
  std::vector<std::string> global_privileges; // on *.*, other than USAGE
  bool global_grant_option = false;
};

struct observed_database {
  std::string name;
  bool exists = false;
};

// What the account holds at database level on one grant pattern (as the server stores it:
// `app\_db` for a grant on database app_db, see sql::database_pattern).
struct observed_grant {
  std::string pattern;
  privilege_set privileges;         // those of the allowlist
  std::vector<std::string> other;   // anything else the server reports ("LOCK TABLES", "EVENT")
  bool grant_option = false;
};

struct observed_state {
  observed_account account;
  std::vector<observed_database> databases; // the desired ones
  std::vector<observed_grant> grants;       // every database-level grant the account holds
};

struct action {
  std::string sql;          // may hold a hash: never log it (see `sensitive`)
  std::string description;  // past tense, for Events: "granted SELECT on appdb.*"
  std::string context;      // for errors: "while granting SELECT on appdb.* to 'app'@'%'"
  bool sensitive = false;   // sql holds a password hash
  // CREATE USER: if it fails, `undo` (the release of the claim) runs before the error returns.
  std::string undo;
};

// The statements that take `observed` to `desired`, in order: databases; the account (claim and
// CREATE USER, or global privileges stripped and max connections set); database grants added and
// revoked; then grants on databases no longer desired revoked. Errors: `conflict` when the
// account is unmanaged or owned by another (nothing is planned), `invalid` when the account is
// missing and no hash is given, or a database is missing and may not be created.
[[nodiscard]] result<std::vector<action>> plan(const desired_account& desired,
                                               const observed_state& observed);

enum class ownership {
  absent,         // no such account: creating it is fine (a claim of ours may exist)
  ours,           // the account exists and the claim names expected_owner
  unmanaged,      // the account exists without a claim: never adopt it
  owned_by_other, // a claim names another resource (with or without the account)
};

struct ownership_result {
  ownership state = ownership::absent;
  std::string owner; // for owned_by_other: who owns it
};

[[nodiscard]] ownership_result ownership_of(const observed_account& observed,
                                            std::string_view expected_owner);

// "'user'@'host'" for messages (no escaping: validated names only).
[[nodiscard]] std::string account_label(std::string_view user, std::string_view host);

} // namespace dbuser::mysql
