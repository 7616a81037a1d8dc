// Privilege groups at scale (issue 18): thousands of PostgresUsers with the same privileges on one
// database that holds tables. Before groups, the 2,441st direct grantee of a table failed with
// "row is too big" (a table's ACL lives in its pg_class row, which has no TOAST). Now every user
// is a member of one group and the table's ACL holds a handful of entries. The users hold what
// applications need besides tables (issue 29): the sequences behind serial columns (derived from
// INSERT), CREATE on the schema and EXECUTE on its functions; every sequence's and function's ACL
// stays as small as the tables'.
//
// DBUSER_SCALE_USERS sets how many: default 1000, which `make test` and CI run (about 2.5 minutes
// here); DBUSER_SCALE_USERS=5000 is the acceptance (about 9 minutes on this 2-core machine
// under load). The figures of a run are printed as WARN lines.
#include "test/e2e/support/prelude.hpp"

#include <atomic>
#include <mutex>
#include <cstdlib>
#include <thread>

#include <unistd.h>

namespace {

int users_wanted() {
  const char* v = std::getenv("DBUSER_SCALE_USERS");
  return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : 1000;
}

double since(steady_clock::time_point t) {
  return duration<double>(steady_clock::now() - t).count();
}

} // namespace

TEST_CASE("thousands of PostgresUsers with the same privileges on a database with tables all go "
          "Ready, log in and read, and the table's ACL keeps a handful of entries") {
  const int n = users_wanted();
  e2e_options opts;
  opts.resync_period = "10m"; // no resync storm during the run
  opts.extra_args = {"--log-level", "info"}; // the default flags otherwise
  e2e_env env(opts);
  const auto db = env.database_name("scale_db");
  const std::string prefix = "scale_" + std::to_string(::getpid()) + "_";
  // The database exists with a table before any user (as every application database does).
  env.pg.exec("CREATE DATABASE " + postgres::ident(db));
  env.pg.exec("CREATE TABLE before_t (id int, n serial); INSERT INTO before_t VALUES (1); "
              "CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS 'SELECT 42'; "
              "REVOKE EXECUTE ON FUNCTION answer() FROM PUBLIC",
              db);

  // Created by 4 kubectl processes at once (one creates about 30 objects a second here).
  constexpr int writers = 4;
  std::vector<json> lists(writers, json{{"apiVersion", "v1"}, {"kind", "List"}, {"items", json::array()}});
  for (int i = 0; i < n; ++i) {
    const auto id = std::to_string(i);
    auto user = env.user_manifest("u-" + id, prefix + id, db, "u-" + id);
    user["spec"]["schemaPrivileges"] = json::array({"CREATE"});
    user["spec"]["functionPrivileges"] = json::array({"EXECUTE"});
    lists[i % writers]["items"].push_back(std::move(user));
  }
  const auto start = steady_clock::now();
  std::vector<std::string> create_errors(writers);
  {
    std::vector<std::thread> creators;
    for (int w = 0; w < writers; ++w)
      creators.emplace_back([&, w] {
        auto r = env.k8s.kubectl({"create", "-f", "-", "-o", "name"}, lists[w].dump());
        if (!r.ok())
          create_errors[w] = r.err.empty() ? "kubectl create failed" : r.err;
      });
    for (auto& t : creators)
      t.join();
  }
  for (const auto& e : create_errors)
    REQUIRE(e.empty());
  const double create_s = since(start);
  // A table created while users are being made: default privileges cover it.
  env.pg.exec("CREATE TABLE during_t (id int, n bigserial); INSERT INTO during_t VALUES (2)", db);

  int ready = 0;
  const bool all_ready = wait_until(
    [&] {
      ready = env.ready_count();
      return ready == n;
    },
    seconds(60 + n / 5), seconds(5)); // listing thousands of objects costs the API server
  const double ready_s = since(start);
  WARN(n << " PostgresUsers: created in " << create_s << " s, " << ready << " Ready after "
         << ready_s << " s (" << n / ready_s << " users/s)");
  REQUIRE(all_ready);

  // Every user's Secret logs in, reads both tables, inserts into their serial columns (the
  // sequences) and calls the function (4 threads: SCRAM costs on both sides).
  auto secrets = json::parse(env.k8s.must({"get", "secrets", "-n", env.ns, "-l",
                                          "app.kubernetes.io/managed-by=dbuser-operator", "-o",
                                          "json"}));
  std::vector<std::pair<std::string, std::string>> creds; // username, password
  for (const auto& s : secrets["items"]) {
    const auto& data = s.value("data", json::object());
    if (data.count("username") == 0 || data.count("password") == 0)
      continue;
    creds.emplace_back(base64_decode(data["username"].get<std::string>()),
                       base64_decode(data["password"].get<std::string>()));
  }
  REQUIRE(static_cast<int>(creds.size()) == n);
  const auto login_start = steady_clock::now();
  std::atomic<size_t> next{0};
  std::atomic<int> failed{0};
  std::string first_failure;
  std::mutex failure_mutex;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (size_t i = next++; i < creds.size(); i = next++) {
        const auto& [user, password] = creds[i];
        auto err = env.pg.exec_as(user, password, db,
                                  "SELECT (SELECT min(id) FROM before_t) + (SELECT min(id) FROM "
                                  "during_t) + answer(); INSERT INTO before_t (id) VALUES (3); "
                                  "INSERT INTO during_t (id) VALUES (4)");
        if (!err.empty()) {
          ++failed;
          std::lock_guard<std::mutex> lock(failure_mutex);
          if (first_failure.empty())
            first_failure = user + ": " + err;
        }
      }
    });
  for (auto& t : threads)
    t.join();
  WARN(n << " logins that read both tables in " << since(login_start) << " s");
  INFO(first_failure);
  CHECK(failed == 0);

  // A handful of ACL entries: the owner and the group (not one per user), on the tables, their
  // sequences, the function and the schema.
  {
    auto c = env.pg.admin(db);
    pqxx::nontransaction tx(c);
    for (const std::string query :
         {"SELECT max(coalesce(array_length(relacl, 1), 0)) FROM pg_class WHERE relkind = 'S' AND "
          "relnamespace = 'public'::regnamespace",
          "SELECT coalesce(array_length(proacl, 1), 0) FROM pg_proc WHERE proname = 'answer'",
          "SELECT coalesce(array_length(nspacl, 1), 0) - 1 FROM pg_namespace WHERE nspname = "
          "'public'"}) { // the schema's minus PUBLIC's USAGE
      INFO(query);
      CHECK(tx.exec(query)[0][0].as<int>() <= 3);
    }
  }
  for (const std::string table : {"before_t", "during_t"}) {
    auto c = env.pg.admin(db);
    pqxx::nontransaction tx(c);
    const auto entries = tx.exec("SELECT coalesce(array_length(relacl, 1), 0) FROM pg_class "
                                 "WHERE relname = "
                                 + tx.quote(table))[0][0]
                           .as<int>();
    INFO(table);
    CHECK(entries <= 3);
    // The database's: PUBLIC, the owner and the group (CONNECT).
    CHECK(tx.exec("SELECT coalesce(array_length(datacl, 1), 0) FROM pg_database WHERE datname = "
                  + tx.quote(db))[0][0]
            .as<int>()
          <= 3);
  }

  // Deleting them all drops every role and, with its last member, the group.
  const auto delete_start = steady_clock::now();
  (void)env.k8s.kubectl({"delete", pguser, "--all", "-n", env.ns, "--wait=false"});
  const bool gone = wait_until([&] { return env.k8s.list(pguser, env.ns).empty(); },
                               seconds(60 + n / 10), seconds(2));
  WARN(n << " PostgresUsers deleted in " << since(delete_start) << " s");
  CHECK(gone);
  auto c = env.pg.admin();
  pqxx::nontransaction tx(c);
  CHECK(tx.exec("SELECT count(*) FROM pg_roles WHERE rolname LIKE " + tx.quote(prefix + "%"))[0][0]
          .as<int>()
        == 0);
  CHECK(tx.exec("SELECT count(*) FROM pg_roles WHERE rolname LIKE "
                + tx.quote("dbuser-g-" + db + "%"))[0][0]
          .as<int>()
        == 0);
  // Whatever is left (a failed run) is dropped, groups after their members.
  for (const auto& row :
       tx.exec("SELECT rolname FROM pg_roles WHERE rolname LIKE " + tx.quote(prefix + "%")
               + " OR rolname LIKE " + tx.quote("dbuser-g-" + db + "%") + " ORDER BY 1 DESC"))
    env.pg.drop_role_everywhere(row[0].as<std::string>());
}
