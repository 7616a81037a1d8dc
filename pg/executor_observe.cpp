// The executor's catalog reads: a role as it is (its attributes, memberships, and privileges in
// every database and schema it is desired in or holds anything in), whether a database exists,
// which roles are privileged. Reads only, in autocommit.

#include "pg/executor.hpp"

#include "pg/executor_impl.hpp"
#include "pg/groups.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include <pqxx/pqxx>

namespace dbuser::pg {

using detail::databases_of_role;
using detail::parse_role;
using detail::read_role;
using detail::role_columns;
using detail::role_oid;

namespace {

// The entries of an ACL column as rows `a` (grantee, privilege_type, ...) for a FROM list.
// aclexplode() detoasts its argument again for every row it returns: on the ACL of a database or
// schema shared by 10,000 managed roles that is quadratic (7.7 s for one call, measured).
// unnest() detoasts once, and each entry is exploded alone.
std::string explode_acl(const std::string& column) {
  return "unnest(" + column + ") AS acl_entry, aclexplode(ARRAY[acl_entry]) a";
}

// The elements of a one-dimensional text array field (NULL elements skipped).
std::vector<std::string> text_array(const pqxx::field& f) {
  std::vector<std::string> out;
  if (f.is_null())
    return out;
  auto parser = f.as_array();
  for (auto next = parser.get_next(); next.first != pqxx::array_parser::juncture::done;
       next = parser.get_next())
    if (next.first == pqxx::array_parser::juncture::string_value)
      out.push_back(std::move(next.second));
  return out;
}

} // namespace

namespace detail {

observed_role parse_role(const pqxx::row& row, int at) {
  observed_role o;
  if (!row[at].as<bool>())
    return o;
  o.exists = true;
  o.login = row[at + 1].as<bool>();
  o.superuser = row[at + 2].as<bool>();
  o.createrole = row[at + 3].as<bool>();
  o.createdb = row[at + 4].as<bool>();
  o.replication = row[at + 5].as<bool>();
  o.bypassrls = row[at + 6].as<bool>();
  o.connection_limit = row[at + 7].as<int>();
  if (!row[at + 8].is_null())
    o.comment = row[at + 8].as<std::string>();
  if (!row[at + 9].is_null()) {
    const auto config = row[at + 9].as<std::string>();
    std::size_t from = 0;
    while (from < config.size()) {
      auto end = config.find('\n', from);
      if (end == std::string::npos)
        end = config.size();
      o.config.push_back(config.substr(from, end - from));
      from = end + 1;
    }
  }
  for (auto& group : text_array(row[at + 10]))
    (is_group_name(group) ? o.groups : o.member_of).push_back(std::move(group));
  return o;
}

} // namespace detail

namespace {

// What is held on every one of `total` objects (all of it when there are none) and on some,
// from how many objects hold each privilege keyword.
template <class Enum>
void fold(const std::map<std::string, int>& counts, int total, flag_set<Enum>& every,
          flag_set<Enum>& some) {
  every = total == 0 ? flag_set<Enum>::all() : flag_set<Enum>{};
  for (const auto& [keyword, n] : counts) {
    Enum p{};
    if (!from_keyword(keyword, p))
      continue;
    some.insert(p);
    if (n >= total)
      every.insert(p);
  }
}

} // namespace

void executor::impl::observe_database(pqxx::connection& c, const std::string& db,
                                      const desired_role& d, std::vector<observed_schema>& out) {
  pqxx::nontransaction tx(c); // catalog reads: see observe()
  std::map<std::string, observed_schema> schemas;
  auto at = [&](const std::string& schema) -> observed_schema& {
    auto& s = schemas[schema];
    s.database = db;
    s.schema = schema;
    return s;
  };
  for (const auto& g : d.grants)
    if (g.database == db)
      at(g.schema);
  // USAGE held by the role itself, and by PUBLIC (grantee 0), in one pass over the schema
  // ACLs (a NULL ACL is the owner's default, which gives PUBLIC nothing on a schema).
  // CREATE held by the role itself, in the same pass. A schema the role owns is its own: the
  // owner's entries in its ACL are not grants to keep or revoke (likewise a database's CONNECT).
  std::set<std::string> public_usage;
  for (const auto& row :
       tx.exec_params("SELECT DISTINCT n.nspname, a.grantee = 0, a.privilege_type = 'CREATE' FROM "
                      "pg_namespace n, "
                        + explode_acl("n.nspacl") + " WHERE a.grantee IN (0, " + role_oid
                        + ") AND a.privilege_type IN ('USAGE', 'CREATE') AND n.nspowner <> "
                        + role_oid,
                      d.name)) {
    const bool to_public = row[1].as<bool>();
    const bool create = row[2].as<bool>();
    if (to_public && !create)
      public_usage.insert(row[0].as<std::string>());
    else if (!to_public)
      (create ? at(row[0].as<std::string>()).create : at(row[0].as<std::string>()).usage) = true;
  }
  // Tables (and views, matviews, foreign and partitioned tables) and sequences, told apart by
  // the second column of each query: one pass over pg_class for both.
  const std::string relkinds = "c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')";
  // Tables the role owns are its own; tables whose owner's privileges the admin lacks are out
  // of its reach (a GRANT on them only warns): neither is counted. Likewise sequences.
  const std::string not_owned = std::string("c.relowner <> ") + role_oid
                                + " AND pg_has_role(c.relowner, 'USAGE')";
  // schema → privilege → tables (index 0) or sequences (index 1) holding it
  std::map<std::string, std::map<std::string, int>> held[2];
  for (const auto& row : tx.exec_params(
         "SELECT n.nspname, c.relkind = 'S', a.privilege_type, count(DISTINCT c.oid)::int "
         "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, "
           + explode_acl("c.relacl") + " WHERE a.grantee = "
           + std::string(role_oid) + " AND " + relkinds + " AND " + not_owned
           + " GROUP BY 1, 2, 3",
         d.name)) {
    held[row[1].as<bool>() ? 1 : 0][row[0].as<std::string>()][row[2].as<std::string>()] =
      row[3].as<int>();
    at(row[0].as<std::string>());
  }
  for (const auto& row : tx.exec_params(
         "SELECT n.nspname, pg_get_userbyid(da.defaclrole), a.privilege_type, "
         "da.defaclobjtype::text FROM pg_default_acl da JOIN pg_namespace n ON n.oid = "
         "da.defaclnamespace, " + explode_acl("da.defaclacl")
           + " WHERE da.defaclobjtype IN ('r', 'S', 'f') AND a.grantee = " + std::string(role_oid),
         d.name)) {
    const auto keyword = row[2].as<std::string>();
    auto& s = at(row[0].as<std::string>());
    const auto creator = row[1].as<std::string>();
    const auto kind = row[3].as<std::string>();
    if (kind == "S") {
      sequence_privilege p{};
      if (from_keyword(keyword, p))
        s.sequence_defaults[creator].insert(p);
    } else if (kind == "f") {
      function_privilege p{};
      if (from_keyword(keyword, p))
        s.function_defaults[creator].insert(p);
    } else {
      privilege p{};
      if (from_keyword(keyword, p))
        s.defaults[creator].insert(p);
    }
  }
  std::map<std::string, int> count[2]; // schema → tables, sequences
  for (const auto& row : tx.exec_params(
         "SELECT n.nspname, c.relkind = 'S', count(*)::int FROM pg_class c JOIN pg_namespace n "
         "ON n.oid = c.relnamespace WHERE "
           + relkinds + " AND " + not_owned + " GROUP BY 1, 2",
         d.name))
    count[row[1].as<bool>() ? 1 : 0][row[0].as<std::string>()] = row[2].as<int>();
  // Routines only where some grant of this database asks for EXECUTE: pg_proc is large (the
  // catalog's own functions), and a group's routine privileges are part of its key.
  std::map<std::string, std::map<std::string, int>> held_routines;
  std::map<std::string, int> routines;
  if (std::any_of(d.grants.begin(), d.grants.end(), [&](const grant_scope& g) {
        return g.database == db && !g.function_privileges.empty();
      })) {
    const std::string routine_not_owned = std::string("p.proowner <> ") + role_oid
                                          + " AND pg_has_role(p.proowner, 'USAGE') AND "
                                            "n.nspname NOT IN ('pg_catalog', 'information_schema')";
    for (const auto& row : tx.exec_params(
           "SELECT n.nspname, a.privilege_type, count(DISTINCT p.oid)::int FROM pg_proc p JOIN "
           "pg_namespace n ON n.oid = p.pronamespace, "
             + explode_acl("p.proacl") + " WHERE a.grantee = " + std::string(role_oid) + " AND "
             + routine_not_owned + " GROUP BY 1, 2",
           d.name)) {
      held_routines[row[0].as<std::string>()][row[1].as<std::string>()] = row[2].as<int>();
      at(row[0].as<std::string>());
    }
    for (const auto& row : tx.exec_params(
           "SELECT n.nspname, count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = "
           "p.pronamespace WHERE " + routine_not_owned + " GROUP BY 1",
           d.name))
      routines[row[0].as<std::string>()] = row[1].as<int>();
  }
  for (auto& [name, s] : schemas) {
    s.functions = routines.count(name) != 0 ? routines[name] : 0;
    fold(held_routines[name], s.functions, s.on_every_function, s.on_some_function);
    s.usage_via_public = public_usage.count(name) != 0;
    s.tables = count[0].count(name) != 0 ? count[0][name] : 0;
    s.sequences = count[1].count(name) != 0 ? count[1][name] : 0;
    fold(held[0][name], s.tables, s.on_every_table, s.on_some_table);
    fold(held[1][name], s.sequences, s.on_every_sequence, s.on_some_sequence);
    out.push_back(s);
  }
}

void executor::impl::observe_ownership(pqxx::connection& c, const desired_role& d,
                                       observed_ownership& out) {
  if (!d.owns_database && d.owned_schemas.empty())
    return;
  pqxx::nontransaction tx(c);
  std::string in;
  for (size_t k = 0; k < d.owned_schemas.size(); ++k)
    in += (k == 0 ? "$" : ", $") + std::to_string(k + 3);
  const std::string schemas = "FROM pg_namespace n WHERE n.nspname IN (" + in + ")";
  // Objects of the database that neither the admin nor the role owns (outside the system
  // schemas; schema public is the database owner's from 15 on, the bootstrap superuser's before).
  const std::string user_schema = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND "
                                  "n.nspname NOT LIKE 'pg\\_%'";
  const std::string others =
    " NOT IN (SELECT oid FROM pg_roles WHERE rolname IN (current_user, $1))";
  const std::string foreign =
    "(SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
    + user_schema + " AND c.relowner" + others + ") + (SELECT count(*) FROM pg_proc p JOIN "
    "pg_namespace n ON n.oid = p.pronamespace WHERE " + user_schema + " AND p.proowner" + others
    + ") + (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE "
    + user_schema + " AND t.typrelid = 0 AND t.typcategory <> 'A' AND t.typowner" + others
    + ") + (SELECT count(*) FROM pg_namespace n WHERE " + user_schema
    + " AND n.nspname <> 'public' AND n.nspowner" + others + ")";
  const auto row = prepared1(
    tx,
    "SELECT pg_get_userbyid(d.datdba), (SELECT rolsuper FROM pg_roles WHERE rolname = "
    "current_user) OR coalesce((SELECT pg_has_role(r.oid, CASE WHEN "
    "current_setting('server_version_num')::int >= 160000 THEN 'SET' ELSE 'MEMBER' END) FROM "
    "pg_roles r WHERE r.rolname = $1), false), CASE WHEN $2 AND pg_get_userbyid(d.datdba) <> $1 "
    "THEN (" + foreign + ")::int ELSE 0 END, "
      + (in.empty() ? std::string("ARRAY[]::text[], ARRAY[]::text[]")
                    : "ARRAY(SELECT n.nspname::text " + schemas
                        + " ORDER BY n.nspname), ARRAY(SELECT pg_get_userbyid(n.nspowner)::text "
                        + schemas + " ORDER BY n.nspname)")
      + " FROM pg_database d WHERE d.datname = current_database()",
    d.name, d.owns_database, pqxx::prepare::make_dynamic_params(d.owned_schemas));
  out.database_owner = row[0].as<std::string>();
  out.admin_acts_as_role = row[1].as<bool>();
  out.foreign_objects = row[2].as<int>();
  const auto names = text_array(row[3]);
  const auto owners = text_array(row[4]);
  for (size_t k = 0; k < names.size() && k < owners.size(); ++k)
    out.schema_owners[names[k]] = owners[k];
}

result<observed_role> executor::observe_role(const std::string& role) {
  auto& self = *impl_;
  try {
    pqxx::nontransaction tx(self.conn("")); // one statement: no transaction needed
    return read_role(self, tx, role);
  } catch (const std::exception& ex) {
    return make_unexpected(self.fail(ex, "while observing role " + role));
  }
}

result<observed_state> executor::observe(const desired_role& desired) {
  auto& self = *impl_;
  observed_state o;
  std::string context = "while observing role " + desired.name;
  try {
    std::set<std::string> inspect;
    {
      // Catalog reads in autocommit: under READ COMMITTED every statement of a transaction takes
      // its own snapshot anyway, so BEGIN and ROLLBACK would only add two round trips.
      pqxx::nontransaction tx(self.conn(""));
      // The role with its memberships, the server version and which of the desired databases
      // exist, in one statement.
      std::vector<std::string> wanted;
      for (const auto& g : desired.grants)
        if (std::find(wanted.begin(), wanted.end(), g.database) == wanted.end())
          wanted.push_back(g.database);
      std::string in;
      for (size_t k = 0; k < wanted.size(); ++k)
        in += (k == 0 ? "$" : ", $") + std::to_string(k + 2);
      const auto first = self.prepared1(
        tx,
        "SELECT current_setting('server_version_num')::int, "
          + (wanted.empty() ? std::string("ARRAY[]::text[]")
                            : "ARRAY(SELECT datname::text FROM pg_database WHERE datname IN (" + in
                                + "))")
          + ", " + role_columns + " FROM (SELECT 1) one LEFT JOIN pg_roles r ON r.rolname = $1",
        desired.name, pqxx::prepare::make_dynamic_params(wanted));
      self.server_version_num = first[0].as<int>();
      o.server_version_num = self.server_version_num;
      const auto existing = text_array(first[1]);
      o.role = parse_role(first, 2);
      for (const auto& l : desired.logins)
        o.logins.push_back(observed_login{l.name, read_role(self, tx, l.name)});
      // A new role holds nothing: skip the ACL scans (each reads every database's ACL, which
      // grows with every role granted CONNECT — thousands of entries on a shared database).
      std::set<std::string> with_connect;
      if (o.role.exists)
        for (const auto& row : tx.exec_params(
               "SELECT d.datname FROM pg_database d, " + explode_acl("d.datacl")
                 + " WHERE a.grantee = " + role_oid
                 + " AND a.privilege_type = 'CONNECT' AND d.datdba <> " + role_oid,
               desired.name))
          with_connect.insert(row[0].as<std::string>());
      std::set<std::string> seen;
      for (const auto& g : desired.grants) {
        if (!seen.insert(g.database).second)
          continue;
        observed_database od;
        od.name = g.database;
        od.exists = std::find(existing.begin(), existing.end(), g.database) != existing.end();
        od.connect = with_connect.count(g.database) != 0;
        if (od.exists && o.role.exists)
          inspect.insert(g.database);
        o.databases.push_back(od);
      }
      for (const auto& name : with_connect) {
        inspect.insert(name);
        if (seen.count(name) == 0)
          o.databases.push_back(observed_database{name, true, true});
      }
      if (o.role.exists)
        for (auto& db : databases_of_role(self, tx, desired.name))
          inspect.insert(std::move(db));
    }
    // What it asks to own, in its database, on the same connection as its privileges there.
    const std::string home = desired.grants.empty() ? std::string() : desired.grants.front().database;
    const auto home_db = std::find_if(o.databases.begin(), o.databases.end(),
                                      [&](const observed_database& d) { return d.name == home; });
    const bool home_exists = home_db != o.databases.end() && home_db->exists;
    for (const auto& name : inspect) {
      context = "while observing the privileges of role " + desired.name + " in database " + name;
      self.observe_database(self.conn(name), name, desired, o.schemas);
      if (name == home)
        self.observe_ownership(self.conn(name), desired, o.ownership);
    }
    if (home_exists && inspect.count(home) == 0) {
      context = "while observing the owners of what role " + desired.name + " asks to own";
      self.observe_ownership(self.conn(home), desired, o.ownership);
    }
  } catch (const std::exception& ex) {
    return make_unexpected(self.fail(ex, context));
  }
  return o;
}

result<bool> executor::database_exists(std::string_view database) {
  auto& self = *impl_;
  const std::string name(database);
  try {
    pqxx::read_transaction tx(self.conn(""));
    return tx.exec_params1("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name)[0]
      .as<bool>();
  } catch (const std::exception& ex) {
    return make_unexpected(self.fail(ex, "while checking whether database " + name + " exists"));
  }
}

result<std::vector<std::string>> executor::members_of(std::string_view role) {
  auto& self = *impl_;
  const std::string name(role);
  std::vector<std::string> out;
  try {
    pqxx::nontransaction tx(self.conn(""));
    for (const auto& row : self.prepared_rows(
           tx,
           "SELECT DISTINCT m.rolname FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member "
           "WHERE a.roleid = " + std::string(role_oid)
             + " AND m.rolname <> current_user AND NOT starts_with(m.rolname, $2) ORDER BY 1",
           name, std::string(group_name_prefix)))
      out.push_back(row[0].as<std::string>());
  } catch (const std::exception& ex) {
    return make_unexpected(self.fail(ex, "while listing the members of role " + name));
  }
  return out;
}

result<member_of_roles> executor::check_member_of(const std::vector<std::string>& roles) {
  auto& self = *impl_;
  member_of_roles out;
  if (roles.empty())
    return out;
  std::string in;
  for (size_t k = 0; k < roles.size(); ++k)
    in += (k == 0 ? "$" : ", $") + std::to_string(k + 1);
  std::map<std::string, bool> found; // role → privileged
  try {
    pqxx::nontransaction tx(self.conn(""));
    for (const auto& row : tx.exec_params("SELECT rolname, rolsuper OR rolcreaterole OR "
                                          "rolreplication OR rolbypassrls FROM pg_roles WHERE "
                                          "rolname IN (" + in + ")",
                                          pqxx::prepare::make_dynamic_params(roles)))
      found[row[0].as<std::string>()] = row[1].as<bool>();
  } catch (const std::exception& ex) {
    return make_unexpected(self.fail(ex, "while checking the roles of memberOf"));
  }
  for (const auto& r : roles) {
    const auto f = found.find(r);
    if (f == found.end()) {
      if (r.rfind("pg_", 0) != 0)
        out.missing.push_back(r);
    } else if (f->second) {
      out.privileged.push_back(r);
    }
  }
  return out;
}

} // namespace dbuser::pg
