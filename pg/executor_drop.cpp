// The executor's drops: a role (its objects reassigned to the admin, its privileges dropped in
// every database), then the privilege groups no role uses any more (pg/groups.hpp has the flow).

#include "pg/executor.hpp"

#include "pg/executor_impl.hpp"
#include "pg/groups.hpp"
#include "pg/sql.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

namespace dbuser::pg {

using detail::databases_of_role;
using detail::read_role;
using detail::role_oid;
using detail::serialize_writes;

result<std::vector<std::string>> executor::drop_role(std::string_view role) {
  auto& self = *impl_;
  const std::string name(role);
  // Where the role owns objects or holds privileges; REASSIGN/DROP OWNED act on the current
  // database's objects, and on shared objects (databases, their CONNECT) from any of them.
  std::vector<std::string> databases;
  std::vector<std::string> groups;
  bool has_its_privileges = true;
  int version = 0;
  try {
    // Catalog reads in autocommit, as observe does: each statement takes its own snapshot either
    // way, and BEGIN/ROLLBACK would be two more round trips per deletion.
    pqxx::nontransaction tx(self.conn(""));
    auto found = tx.exec_params("SELECT pg_has_role(oid, 'USAGE'), "
                                "current_setting('server_version_num')::int FROM pg_roles "
                                "WHERE rolname = $1",
                                name);
    if (found.empty())
      return std::vector<std::string>{};
    has_its_privileges = found[0][0].as<bool>();
    version = found[0][1].as<int>();
    databases = databases_of_role(self, tx, name);
    groups = read_role(self, tx, name).groups; // dropped after the role when unused
  } catch (const std::exception& ex) {
    return make_unexpected(self.fail(ex, "while finding the databases of role " + name));
  }
  // The open connection's database first (no reconnect); it alone when there is none.
  std::stable_partition(databases.begin(), databases.end(),
                        [&](const std::string& db) { return db == self.current_db; });
  if (databases.empty() || databases.front() != self.current_db)
    databases.insert(databases.begin(), self.current_db);
  const auto& admin = self.t.admin_user;
  const std::string way_out = " (or set spec.deletionPolicy: Retain to leave the role)";
  const std::string needs_privileges =
    "the admin " + admin + " needs the privileges of role " + name
    + " to reassign its objects: GRANT " + sql::quote_ident(name) + " TO " + sql::quote_ident(admin)
    + (version >= 160000 ? " WITH INHERIT TRUE" : "") + ", by a role with ADMIN OPTION on it"
    + way_out;
  std::vector<action> actions;
  // A non-superuser admin (managed PostgreSQL) takes the role's privileges explicitly, in a
  // transaction of its own (its own database "" is not `where` below); DROP ROLE ends it.
  if (!has_its_privileges)
    actions.push_back(action{"", sql::grant_role_privileges_to(name, admin, version),
                             "granted role " + name + " to the admin " + admin
                               + (version >= 160000 ? " WITH INHERIT TRUE, SET FALSE" : "")
                               + " (REASSIGN OWNED needs its privileges)",
                             "while granting role " + name + " to the admin " + admin, false,
                             false, needs_privileges});
  for (const auto& db : databases) {
    const std::string& where = db;
    actions.push_back(action{where, sql::reassign_owned(name, admin),
                             "reassigned the objects of role " + name + " in database " + db
                               + " to " + admin,
                             "while reassigning the objects of role " + name + " in database "
                               + db + " to " + admin,
                             false, false, needs_privileges});
    actions.push_back(action{where, sql::drop_owned(name),
                             "dropped the privileges of role " + name + " in database " + db,
                             "while dropping the privileges of role " + name + " in database "
                               + db,
                             false, false, needs_privileges});
  }
  actions.push_back(action{"", sql::drop_role(name), "dropped role " + name,
                           "while dropping role " + name, false, false,
                           "the admin " + admin + " cannot drop role " + name
                             + ": it needs ADMIN OPTION on it (PostgreSQL 16+) or CREATEROLE"
                             + way_out});
  auto done = apply(actions);
  if (!done)
    return done;
  auto dropped = drop_unused_groups(groups);
  done->insert(done->end(), dropped.begin(), dropped.end());
  return done;
}

std::vector<std::string> executor::drop_unused_groups(const std::vector<std::string>& left) {
  auto& self = *impl_;
  std::vector<std::string> candidates;
  // Of the groups left, those no role joins any more (each is checked again under the lock before
  // it goes); when one is, other unused groups of ours in its database too (one whose last member
  // was dropped by hand). A group still joined, the common case of a deletion among many users of
  // one database, costs one statement: no scan of the roles at every deletion.
  try {
    pqxx::nontransaction tx(self.conn("")); // catalog reads in autocommit
    std::set<std::string> homes;
    for (const auto& g : left)
      for (const auto& row : tx.exec_params(
             "SELECT shobj_description(r.oid, 'pg_authid') FROM pg_roles r WHERE r.rolname = $1 "
             "AND NOT EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.roleid = r.oid AND "
             "m.member <> (SELECT oid FROM pg_roles WHERE rolname = current_user))",
             g))
        if (!row[0].is_null())
          if (auto db = group_database(row[0].as<std::string>())) {
            homes.insert(*db);
            candidates.push_back(g);
          }
    for (const auto& db : homes)
      for (const auto& row : tx.exec_params(
             "SELECT r.rolname FROM pg_roles r WHERE starts_with(r.rolname, $1) AND NOT "
             "r.rolcanlogin AND starts_with(shobj_description(r.oid, 'pg_authid'), $2) AND NOT "
             "EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.roleid = r.oid AND m.member <> "
             "(SELECT oid FROM pg_roles WHERE rolname = current_user)) ORDER BY 1",
             std::string(group_name_prefix),
             std::string(group_marker_prefix) + "database=" + db + ";"))
        if (std::find(candidates.begin(), candidates.end(), row[0].as<std::string>())
            == candidates.end())
          candidates.push_back(row[0].as<std::string>());
  } catch (const std::exception& ex) {
    spdlog::warn("pg: cannot look for unused privilege groups: {}",
                 self.fail(ex, "while looking for unused privilege groups").to_string());
    for (const auto& g : left) // not known: each is checked, as it is under the lock anyway
      if (std::find(candidates.begin(), candidates.end(), g) == candidates.end())
        candidates.push_back(g);
  }
  std::vector<std::string> done;
  for (const auto& g : candidates) {
    auto dropped = drop_group_if_unused(g);
    if (!dropped)
      spdlog::warn("pg: privilege group {} is unused and was not dropped: {}", g,
                   dropped.error().to_string());
    else
      done.insert(done.end(), dropped->begin(), dropped->end());
  }
  return done;
}

result<std::vector<std::string>> executor::drop_group_if_unused(std::string_view group) {
  auto& self = *impl_;
  const std::string name(group);
  const auto& admin = self.t.admin_user;
  // Members other than the admin (on 16+ the role that created a group is a member of it with
  // ADMIN OPTION; the admin takes the group's privileges below).
  const std::string members = std::string("SELECT count(*) FROM pg_auth_members m WHERE m.roleid = ")
                              + role_oid + " AND m.member <> (SELECT oid FROM pg_roles WHERE "
                                           "rolname = current_user)";
  const std::string context = "while dropping the unused privilege group " + name;
  std::string home;
  std::vector<std::string> elsewhere;
  bool has_its_privileges = true;
  try {
    pqxx::nontransaction tx(self.conn("")); // reads; checked again under the lock below
    auto found = tx.exec_params("SELECT shobj_description(oid, 'pg_authid'), pg_has_role(oid, "
                                "'USAGE'), current_setting('server_version_num')::int FROM "
                                "pg_roles WHERE rolname = $1",
                                name);
    if (found.empty() || found[0][0].is_null())
      return std::vector<std::string>{};
    auto db = group_database(found[0][0].as<std::string>());
    if (!db || tx.exec_params1(members, name)[0].as<int>() != 0)
      return std::vector<std::string>{}; // not ours, or in use
    // Its database dropped meanwhile: nobody can join it there; the last step runs here.
    home = tx.exec_params1("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND "
                           "datallowconn)",
                           *db)[0]
               .as<bool>()
             ? *db
             : std::string();
    has_its_privileges = found[0][1].as<bool>();
    if (self.server_version_num == 0)
      self.server_version_num = found[0][2].as<int>();
    for (auto& other : databases_of_role(self, tx, name))
      if (other != home)
        elsewhere.push_back(std::move(other));
  } catch (const std::exception& ex) {
    return make_unexpected(self.fail(ex, context));
  }
  const int version = self.server_version_num;
  std::vector<std::string> done;
  // DROP OWNED needs the group's privileges: a non-superuser admin takes them (not its identity).
  if (!has_its_privileges) {
    auto granted = apply({action{home, sql::grant_role_privileges_to(name, admin, version),
                                 "granted privilege group " + name + " to the admin " + admin,
                                 context, false, false}});
    if (!granted)
      return granted;
  }
  // What it holds in other databases (granted there by hand): not ours to keep.
  for (const auto& db : elsewhere) {
    auto dropped = apply({action{db, sql::drop_owned(name),
                                 "dropped the privileges of privilege group " + name
                                   + " in database " + db,
                                 context, false, false}});
    if (!dropped)
      return dropped;
    done.insert(done.end(), dropped->begin(), dropped->end());
  }
  // Its own database, under the write lock that joining takes too: checked again, then dropped.
  try {
    pqxx::work tx(self.conn(home));
    tx.exec(serialize_writes);
    if (tx.exec_params1(members, name)[0].as<int>() != 0)
      return done; // somebody joined meanwhile: it stays (the admin's membership does no harm)
    tx.exec(sql::drop_owned(name));
    tx.exec(sql::drop_role(name));
    tx.commit();
  } catch (const std::exception& ex) {
    return make_unexpected(self.fail(ex, context));
  }
  done.push_back("dropped the unused privilege group " + name);
  spdlog::debug("pg: dropped the unused privilege group {}", name);
  return done;
}

} // namespace dbuser::pg
