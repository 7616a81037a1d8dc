// The executor's writes: apply (actions batched by database, one round trip each, under the
// write lock), converge (a role and its privilege groups, from an observation), and the single
// statements of ensure_database and set_password.

#include "pg/executor.hpp"

#include "pg/executor_impl.hpp"
#include "pg/groups.hpp"
#include "pg/sql.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <utility>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

namespace dbuser::pg {

using detail::role_oid;
using detail::serialize_writes;
using detail::sqlstate_of;

namespace {

// Gives the shared-catalog statements (no database, in a transaction) from `from` on the database
// of the nearest statement before them, or else after them, that names one, so that they share
// its transaction (apply() groups consecutive statements of one database). Their order is kept.
void share_transactions(std::vector<action>& actions, size_t from) {
  std::string last;
  for (size_t k = 0; k < actions.size(); ++k) {
    auto& a = actions[k];
    if (a.outside_transaction) {
      last.clear();
      continue;
    }
    if (k >= from && a.database.empty()) {
      if (last.empty())
        for (size_t n = k + 1; n < actions.size() && !actions[n].outside_transaction; ++n)
          if (!actions[n].database.empty()) {
            last = actions[n].database;
            break;
          }
      a.database = last;
    }
    if (!a.database.empty())
      last = a.database;
  }
}

// How long a group found converged is trusted while its fingerprint stays the same: drift the
// fingerprint does not see (pg/groups.hpp) is repaired within this time.
constexpr std::chrono::seconds group_trust{60};

// A fingerprint of every catalog row the observation and plan of a privilege group depend on,
// read in its database in one statement: the group's attributes, comment, settings and
// memberships; the objects it owns or holds privileges on in any database (pg_shdepend, without
// its members); the databases' rows (existence, CONNECT); its schema's row (USAGE), the
// tables of its schema (their ACLs, owners, whether the admin has their owner's privileges) and
// the default privileges of its database; the server version. A catalog row changed by any
// statement gets a new xmin (VACUUM's in-place updates touch no ACL, owner or name), so any
// GRANT, REVOKE, ALTER, CREATE or DROP that could change the plan changes the fingerprint.
// Bind parameters: $1 the group, $2 its schema.
std::string group_fingerprint_sql() {
  const std::string rows_hash = "count(*) || ':' || coalesce(sum(hashtext(";
  const std::string relkinds = "c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')";
  return "SELECT concat_ws('/', current_setting('server_version_num'), "
         "coalesce((SELECT concat_ws(',', r.oid, r.rolcanlogin, r.rolsuper, r.rolinherit, "
         "r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls, r.rolconnlimit, "
         "r.rolconfig::text, md5(shobj_description(r.oid, 'pg_authid')), (SELECT "
         + rows_hash
         + "m.roleid::text || ':' || m.xmin::text)::bigint), 0) FROM pg_auth_members m "
           "WHERE m.member = r.oid)) FROM pg_roles r WHERE r.rolname = $1), 'absent'), (SELECT "
         + rows_hash
         + "s.dbid::text || ':' || s.classid::text || ':' || s.objid::text || ':' || "
           "s.deptype::text || ':' || s.xmin::text)::bigint), 0) FROM pg_shdepend s WHERE "
           "s.refclassid = 'pg_authid'::regclass AND s.refobjid = "
         + role_oid + " AND s.classid <> 'pg_auth_members'::regclass), (SELECT " + rows_hash
         + "d.oid::text || ':' || d.xmin::text)::bigint), 0) FROM pg_database d), "
           "coalesce((SELECT n.oid::text || ':' || n.xmin::text FROM pg_namespace n WHERE "
           "n.nspname = $2), 'absent'), (SELECT "
         + rows_hash
         + "c.oid::text || ':' || c.xmin::text || ':' || pg_has_role(c.relowner, "
           "'USAGE')::text)::bigint), 0) FROM pg_class c JOIN pg_namespace n ON n.oid = "
           "c.relnamespace WHERE n.nspname = $2 AND "
         + relkinds + "), (SELECT " + rows_hash
         + "da.oid::text || ':' || da.xmin::text)::bigint), 0) FROM pg_default_acl da))";
}

} // namespace

result<std::vector<std::string>> executor::apply(const std::vector<action>& actions) {
  auto& self = *impl_;
  std::vector<std::string> done;
  size_t i = 0;
  while (i < actions.size()) {
    const auto& first = actions[i];
    size_t end = i + 1;
    if (!first.outside_transaction)
      while (end < actions.size() && !actions[end].outside_transaction
             && !actions[end].new_batch && actions[end].database == first.database)
        ++end;
    size_t current = i;
    try {
      auto& c = self.conn(first.database);
      if (first.outside_transaction) {
        pqxx::nontransaction tx(c);
        try {
          tx.exec(first.sql);
        } catch (const pqxx::sql_error& e) {
          // Created concurrently: fine (42P04; 23505 when both passed the existence check).
          if (e.sqlstate() != "42P04" && e.sqlstate() != "23505")
            throw;
        }
      } else {
        // A statement with a verifier never shares a simple-query message with others: the
        // server echoes a failing message whole in its log (log_min_error_statement), and another
        // statement's failure must not put the verifier there. Such statements run one at a time
        // in one transaction (a round trip each: new roles and password changes only).
        bool one_by_one =
          end - i > 1 && std::any_of(actions.begin() + static_cast<std::ptrdiff_t>(i),
                                     actions.begin() + static_cast<std::ptrdiff_t>(end),
                                     [](const action& a) { return a.sensitive; });
        if (!one_by_one)
          try {
            // One round trip: the statements of a simple query message run as one implicit
            // transaction (committed after the last, rolled back on the first error), the write
            // lock first. Never logged: a statement may hold a verifier.
            std::string batch = serialize_writes;
            for (size_t k = i; k < end; ++k)
              batch.append("; ").append(actions[k].sql);
            pqxx::nontransaction tx(c);
            tx.exec(batch);
          } catch (const pqxx::sql_error& e) {
            // The server does not say which statement of a batch failed, and the batch was
            // rolled back as a whole: run it again one statement at a time to name the failing
            // one (a conflict that has gone meanwhile then simply succeeds). A timeout is not
            // worth waiting for twice.
            if (end - i == 1 || sqlstate_of(e).rfind("57", 0) == 0)
              throw;
            one_by_one = true;
          }
        if (one_by_one) {
          pqxx::work tx(c);
          tx.exec(serialize_writes);
          for (; current < end; ++current)
            tx.exec(actions[current].sql);
          current = end - 1;
          tx.commit();
        }
      }
    } catch (const std::exception& ex) {
      auto e = self.fail(ex, actions[current].context);
      if (e.sqlstate == "42501" && !actions[current].if_denied.empty())
        e.message = actions[current].if_denied + " (the server said: " + e.message + ")";
      return make_unexpected(std::move(e));
    }
    for (size_t k = i; k < end; ++k) {
      spdlog::debug("pg: {}", actions[k].description);
      done.push_back(actions[k].description);
    }
    i = end;
  }
  return done;
}

result<std::vector<std::string>> executor::converge(const desired_role& desired) {
  auto observed = observe(desired);
  if (!observed)
    return make_unexpected(observed.error());
  return converge_observed(desired, std::move(*observed));
}

result<std::vector<std::string>> executor::converge_observed(const desired_role& desired,
                                                             observed_state observed) {
  auto& self = *impl_;
  const auto& admin = self.t.admin_user;
  const auto groups =
    desired.use_groups ? privilege_groups(desired, admin) : std::vector<privilege_group>{};
  for (int attempt = 1;; ++attempt) {
    // 1. The groups, each planned like a role with direct grants, its statements in its database;
    //    a group found converged before whose fingerprint is unchanged is not observed again.
    std::vector<action> actions;
    std::map<std::string, std::string> now_converged; // group → fingerprint, when its plan is empty
    for (const auto& g : groups) {
      std::optional<std::string> fingerprint;
      try {
        pqxx::nontransaction tx(self.conn(g.scope.database));
        fingerprint = self.prepared1(tx, group_fingerprint_sql(), g.name, g.scope.schema)[0]
                        .as<std::string>();
      } catch (const std::exception& ex) { // its database missing, say: observed below
        spdlog::debug("pg: no fingerprint of privilege group {}: {}", g.name,
                      self.fail(ex, "while reading the fingerprint of privilege group " + g.name)
                        .to_string());
      }
      const auto known = self.converged_groups.find(g.name);
      if (fingerprint && known != self.converged_groups.end()
          && known->second.fingerprint == *fingerprint
          && std::chrono::steady_clock::now() - known->second.at < group_trust)
        continue;
      const auto as_role = group_role(g);
      auto o = observe(as_role);
      if (!o)
        return make_unexpected(o.error());
      if (o->role.exists && o->role.comment != g.marker)
        return make_unexpected(make_error(
          error_kind::conflict,
          "role " + g.name + " exists but is not the operator's privilege group for "
            + g.scope.privileges.to_string() + " on " + g.scope.database + "." + g.scope.schema
            + " (its comment is not " + g.marker + "): it is never used or adopted; drop or "
            + "rename it",
          "while converging privilege group " + g.name + " for " + desired.name));
      auto planned = plan(as_role, *o, admin);
      if (!planned)
        return make_unexpected(planned.error());
      if (planned->empty() && fingerprint)
        now_converged[g.name] = *fingerprint;
      for (auto& a : *planned) {
        if (!a.outside_transaction && a.database.empty())
          a.database = g.scope.database;
        a.description += " (privilege group " + g.name + ")";
        actions.push_back(std::move(a));
      }
    }
    // 2. The role: groups joined, then what it left and held directly revoked. Its statements on
    //    shared catalogs (no database) run in the database of a neighbouring group statement: a
    //    new role is created, marked and joined in one transaction, one round trip after the
    //    groups' (never in their batch: see action::new_batch).
    auto own = plan(desired, observed, admin);
    if (!own)
      return make_unexpected(own.error());
    const size_t first_own = actions.size();
    actions.insert(actions.end(), own->begin(), own->end());
    if (!groups.empty()) {
      share_transactions(actions, first_own);
      // The groups' statements commit first; the role's (a new role's verifier, its marker and
      // its memberships: one transaction) never share a batch with them.
      if (first_own > 0 && first_own < actions.size())
        actions[first_own].new_batch = true;
    }
    auto done = apply(actions);
    if (!done) {
      const auto& state = done.error().sqlstate;
      if (groups.empty() || attempt == 3 || (state != "42704" && state != "42710"))
        return done;
      auto again = observe(desired); // a group dropped or created under us: start over
      if (!again)
        return make_unexpected(again.error());
      observed = std::move(*again);
      continue;
    }
    for (auto& [name, fingerprint] : now_converged)
      self.converged_groups[name] = {std::move(fingerprint), std::chrono::steady_clock::now()};
    // 3. Groups left: dropped when no one else is in them. The role is converged already; a
    //    failure here is logged, and the group is left for a later leave or deletion.
    std::vector<std::string> left;
    for (const auto& g : observed.role.groups)
      if (std::none_of(groups.begin(), groups.end(), [&](auto& w) { return w.name == g; }))
        left.push_back(g);
    if (!left.empty()) {
      auto dropped = drop_unused_groups(left);
      done->insert(done->end(), dropped.begin(), dropped.end());
    }
    return done;
  }
}

result<bool> executor::ensure_database(std::string_view database) {
  auto exists = database_exists(database);
  if (!exists)
    return make_unexpected(exists.error());
  if (*exists)
    return false;
  const std::string name(database);
  auto done = apply({action{"", sql::create_database(name), "created database " + name,
                            "while creating database " + name, true, false}});
  if (!done)
    return make_unexpected(done.error());
  return true;
}

result<void> executor::set_password(std::string_view role, std::string_view verifier) {
  const std::string name(role);
  auto stmt = sql::alter_role_password(role, verifier);
  if (!stmt)
    return make_unexpected(stmt.error());
  auto done = apply({action{"", *stmt, "set the password of role " + name,
                            "while setting the password of role " + name, false, true}});
  if (!done)
    return make_unexpected(done.error());
  return {};
}

} // namespace dbuser::pg
