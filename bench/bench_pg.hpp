#pragma once

// The bench's own PostgreSQL queries (libpqxx, application_name dbuser-bench): connection counts,
// role counts and the cleanup of bench roles and the bench database.

#include "bench/bench_common.hpp"

#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace dbuser::bench {

// Roles whose name starts with `prefix` (a LIKE pattern is built with `_` escaped).
inline std::string like_prefix(const std::string& prefix) {
  std::string p;
  for (char c : prefix) {
    if (c == '_' || c == '%' || c == '\\')
      p += '\\';
    p += c;
  }
  return p + "%";
}

inline long count_roles(pqxx::connection& c, const std::string& prefix) {
  pqxx::nontransaction tx(c);
  return tx.exec_params1("SELECT count(*) FROM pg_roles WHERE rolname LIKE $1", like_prefix(prefix))[0]
    .as<long>();
}

// The operator's admin connections (the pool) and its login checks (as the users themselves).
struct connection_count {
  long admin = 0, login_checks = 0;
};

inline connection_count operator_connections(pqxx::connection& c) {
  pqxx::nontransaction tx(c);
  auto row = tx.exec1("SELECT count(*) FILTER (WHERE application_name = 'dbuser-operator'), "
                      "count(*) FILTER (WHERE application_name = 'dbuser-operator-login-check') "
                      "FROM pg_stat_activity");
  return {row[0].as<long>(), row[1].as<long>()};
}

inline bool database_exists(pqxx::connection& c, const std::string& db) {
  pqxx::nontransaction tx(c);
  return tx.exec_params1("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db)[0]
    .as<bool>();
}

// Drops every role starting with `prefix`: DROP OWNED in `databases` that exist, then DROP ROLE,
// in chunks. Returns how many were dropped.
inline long drop_roles(const std::string& prefix, const std::vector<std::string>& databases) {
  pqxx::connection admin(admin_conninfo());
  std::vector<std::string> roles;
  {
    pqxx::nontransaction tx(admin);
    for (const auto& row :
         tx.exec_params("SELECT rolname FROM pg_roles WHERE rolname LIKE $1", like_prefix(prefix)))
      roles.push_back(row[0].as<std::string>());
  }
  if (roles.empty())
    return 0;
  auto chunks = [&](const std::function<void(const std::string& list)>& fn) {
    for (std::size_t i = 0; i < roles.size(); i += 500) {
      std::string list;
      for (std::size_t k = i; k < std::min(roles.size(), i + 500); ++k)
        list += (list.empty() ? "" : ", ") + admin.quote_name(roles[k]);
      fn(list);
    }
  };
  for (const auto& db : databases) {
    if (db != "postgres" && !database_exists(admin, db))
      continue;
    pqxx::connection c(admin_conninfo(db));
    chunks([&](const std::string& list) {
      pqxx::work tx(c);
      tx.exec("REASSIGN OWNED BY " + list + " TO CURRENT_USER");
      tx.exec("DROP OWNED BY " + list);
      tx.commit();
    });
  }
  chunks([&](const std::string& list) {
    pqxx::work tx(admin);
    tx.exec("DROP ROLE IF EXISTS " + list);
    tx.commit();
  });
  return static_cast<long>(roles.size());
}

inline void drop_database(const std::string& db) {
  pqxx::connection admin(admin_conninfo());
  pqxx::nontransaction tx(admin);
  tx.exec("DROP DATABASE IF EXISTS " + admin.quote_name(db) + " WITH (FORCE)");
}

// The privilege groups the operator makes for bench_db (pg/groups.hpp), dropped like roles.
inline constexpr const char* bench_groups = "dbuser-g-bench_db_";

// The fairness probes' roles (the other namespace's users): not counted among the bench_ roles.
inline constexpr const char* probe_roles = "benchfair_";

// bench_db (created when missing) with table `table` (owned by the admin, one row): users see a
// database that holds tables, whose ACLs are what privilege groups keep small.
inline void bench_table(const std::string& table) {
  pqxx::connection admin(admin_conninfo());
  if (!database_exists(admin, "bench_db")) {
    pqxx::nontransaction tx(admin);
    tx.exec("CREATE DATABASE bench_db");
  }
  pqxx::connection c(admin_conninfo("bench_db"));
  pqxx::work tx(c);
  tx.exec("CREATE TABLE IF NOT EXISTS " + c.quote_name(table) + " (id int)");
  tx.exec("INSERT INTO " + c.quote_name(table) + " VALUES (1)");
  tx.commit();
}

} // namespace dbuser::bench
