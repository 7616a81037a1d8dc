#pragma once

// Privilege groups: table privileges are granted once to a NOLOGIN group role per (database,
// schema, privilege set, and the default-privilege creators when they are not the admin alone),
// and each managed role is made a member. A table's ACL lives in its pg_class row, which has no
// TOAST table: about 2,440 direct grantees fill it (SQLSTATE 54000 "row is too big"), so per-role
// grants do not scale. With groups an ACL grows with the number of distinct privilege sets.
//
// Naming: "dbuser-g-<readable part>-<10 hex of SHA-256 of the key>", at most 63 bytes. A
// PostgresUser can never claim such a name (spec.username and memberOf match ^[a-z_][a-z0-9_]*$,
// which has no '-'). The group carries a role comment, group_marker(key): a role with that name
// but another comment is never used (a conflict), never adopted, never dropped.
//
// Expected flow (executor::converge_observed, executor::drop_role):
//  1. For each group the role should join: observe it; refuse it when it exists without our
//     marker; plan it like a role with direct grants (NOLOGIN, CONNECT, USAGE, table privileges,
//     default privileges; whatever else it holds is revoked: drift on a group is repaired by the
//     next reconcile of any of its members). Its statements run in its database.
//  2. The role's own plan: memberships in the groups it should join (PostgreSQL 16+: WITH
//     INHERIT TRUE, SET FALSE, so a member cannot SET ROLE to the group and create objects owned
//     by it) in the group's database, THEN revocations: memberships in groups it should leave,
//     and any privilege granted to the role directly (what earlier versions granted: the
//     migration of an existing install, and drift made by hand).
//  3. Groups the role left, and after DROP ROLE the groups it was in, are dropped when unused:
//     DROP OWNED BY the group in every other database where it holds something, then in its
//     own database, in one transaction under the operator's advisory write lock: membership is
//     re-checked (members other than the admin), and only an empty group is DROP OWNED and
//     DROP ROLE'd.
//
// Observing a group once (per executor, i.e. per pool connection): observing a group costs
// about ten catalog queries, at every converge of every member. Before observing it, the executor
// reads a fingerprint of every catalog row that observation and plan depend on (one statement in
// the group's database, executor.cpp group_fingerprint_sql: xmin of the rows, which any GRANT,
// REVOKE, ALTER, CREATE or DROP renews). A group whose plan came out empty is remembered with the
// fingerprint read before its observation; while the fingerprint is unchanged, for at most 60 s,
// and no error has occurred on the executor since, it is not observed again. A change the
// fingerprint does not cover (an ACL entry of the group changed, not added or removed, on a table
// in another schema or database; a change of the admin's memberships that reaches a table owner
// only through another role) is repaired by the first converge after those 60 s.
//
// Guarantees:
//  - A role never lacks a privilege it keeps: joins commit before any revocation (or with it,
//    in one transaction).
//  - Joining and dropping one group are serialised: both run in the group's database under the
//    advisory lock every write transaction of the operator takes first (executor.cpp). A join
//    that finds the group dropped under it fails with 42704 and the converge starts over
//    (observe, recreate, join); two creators of one group race to 42710, likewise.
//  - A role the operator did not mark as its group is never altered, joined or dropped.
//
// Assumptions: the admin created the groups (so on 16+ it holds ADMIN OPTION on them); a group
// left behind by a crash between a leave and its drop stays until a later leave or deletion
// finds it unused.

#include "pg/plan.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dbuser::pg {

inline constexpr std::string_view group_name_prefix = "dbuser-g-";
inline constexpr std::string_view group_marker_prefix = "dbuser-operator:group=";

struct privilege_group {
  std::string name;   // dbuser-g-<readable>-<hash>
  std::string marker; // its role comment
  grant_scope scope;  // what it holds; default_creators never empty
};

// The groups `desired` should be a member of: one per (database, schema) of its grants (merged:
// privileges united, creators collected, the admin when a grant names none).
[[nodiscard]] std::vector<privilege_group> privilege_groups(const desired_role& desired,
                                                            std::string_view admin_user);

// The group for one merged scope (its default_creators empty: the admin alone).
[[nodiscard]] privilege_group group_for(grant_scope scope, std::string_view admin_user);

// The group as a role to converge with plan(): NOLOGIN, direct grants, no memberships.
[[nodiscard]] desired_role group_role(const privilege_group& g);

// Whether a role name is shaped like one of our groups (the marker still decides ownership).
[[nodiscard]] bool is_group_name(std::string_view role);

// The database a group comment (group_marker) names; nullopt when it is not one of our markers.
[[nodiscard]] std::optional<std::string> group_database(std::string_view comment);

} // namespace dbuser::pg
