#include "test/mysql_e2e/support/mysql_env.hpp"

#include "test/support/wait.hpp"

#include <algorithm>
#include <iostream>
#include <stdexcept>

namespace dbuser::test::e2e {

using namespace std::chrono;
using nlohmann::json;

namespace {

std::string snake(const std::string& prefix) {
  auto out = unique_name(prefix);
  std::replace(out.begin(), out.end(), '-', '_');
  if (out.size() > 32)
    throw std::logic_error("name prefix too long for a MySQL account: " + prefix);
  return out;
}

} // namespace

mysql_env::mysql_env(e2e_options opts) : base(std::move(opts)) {
  base.apply(secret_manifest(base.ns, mysql_admin_secret_name,
                             {{"username", db.admin_user()}, {"password", db.admin_password()}}));
  // A leak of the admin password would be reported like any other.
  base.remember_password(db.admin_password());
}

mysql_env::~mysql_env() {
  // Delete every MySQLUser through the operator, which still runs (base is destroyed after this
  // body); strip finalizers of whatever is left.
  try {
    const auto& k8s = base.k8s;
    (void)k8s.kubectl({"delete", myuser, "--all", "-n", base.ns, "--wait=false"});
    const bool operator_up = base.op && base.op->running();
    if (!operator_up
        || !wait_until([&] { return k8s.list(myuser, base.ns).empty(); }, seconds(60),
                       milliseconds(250))) {
      for (const auto& u : k8s.list(myuser, base.ns))
        (void)k8s.kubectl({"patch", myuser, u["metadata"]["name"].get<std::string>(), "-n",
                           base.ns, "--type=merge", "-p", R"({"metadata":{"finalizers":null}})"});
    }
  } catch (const std::exception& e) {
    std::cerr << "mysql e2e cleanup of " << base.ns << ": " << e.what() << "\n";
  }
  try {
    for (const auto& a : accounts_)
      db.drop_account(a);
    for (const auto& d : databases_)
      db.drop_database(d);
  } catch (const std::exception& e) {
    std::cerr << "mysql e2e cleanup of accounts and databases: " << e.what() << "\n";
  }
}

std::string mysql_env::account_name(const std::string& prefix) {
  auto a = snake(prefix);
  accounts_.insert(a);
  return a;
}

std::string mysql_env::database_name(const std::string& prefix) {
  auto d = snake(prefix);
  databases_.insert(d);
  return d;
}

void mysql_env::forget_account(const std::string& user) {
  accounts_.erase(user);
}

void mysql_env::track_database(const std::string& database) {
  databases_.insert(database);
}

user_names mysql_env::names_for(const std::string& stem) {
  std::string snake = stem;
  std::replace(snake.begin(), snake.end(), '-', '_');
  return {base.object_name(stem), account_name(snake), database_name(snake + "_db"),
          base.object_name(stem + "-creds")};
}

json mysql_env::user_manifest(const std::string& name, const std::string& username,
                              const std::string& database, const std::string& secret_name) const {
  return base.manifest("MySQLUser", name,
                       {{"username", username},
                        {"database", database},
                        {"host", "127.0.0.1"},
                        {"port", db.port()},
                        {"adminSecretRef", {{"name", mysql_admin_secret_name}}},
                        {"privileges", {"SELECT", "INSERT", "UPDATE", "DELETE"}},
                        {"secretName", secret_name}});
}

json mysql_env::user_manifest(const user_names& u) const {
  return user_manifest(u.name, u.username, u.database, u.secret_name);
}

std::optional<json> mysql_env::user(const std::string& name) const {
  return base.k8s.get(myuser, base.ns, name);
}

bool mysql_env::wait_gone(const std::string& name, milliseconds deadline) const {
  return base.wait_gone(myuser, name, deadline);
}

void mysql_env::annotate_rotate(const std::string& name, const std::string& value) const {
  base.k8s.merge_patch(myuser, base.ns, name,
                       {{"metadata", {{"annotations", {{rotate_annotation, value}}}}}});
}

std::string mysql_env::login_with_secret(const std::string& secret_name) {
  auto data = secret(secret_name);
  if (!data)
    return "Secret " + secret_name + " does not exist";
  auto& d = *data;
  if (d["host"] != db.host() || d["port"] != std::to_string(db.port()))
    return "Secret " + secret_name + " points at " + d["host"] + ":" + d["port"];
  return db.login_error(d["username"], d["password"], d["database"]);
}

bool mysql_env::wait_login_with_secret(const std::string& secret_name, milliseconds deadline) {
  return wait_until([&] { return login_with_secret(secret_name).empty(); }, deadline,
                    milliseconds(250));
}

} // namespace dbuser::test::e2e
