#include "test/e2e/support/e2e_env.hpp"

#include "test/support/dev_env.hpp"
#include "test/support/wait.hpp"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <unistd.h>

namespace dbuser::test::e2e {

using namespace std::chrono;
using nlohmann::json;

namespace {

std::string snake(const std::string& s) {
  std::string out = s;
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

} // namespace

e2e_env::e2e_env(e2e_options opts)
    : k8s(dev_env::get().kubeconfig()), ns(unique_name("e2e")), opts_(std::move(opts)) {
  k8s.must({"create", "namespace", ns});
  if (least_privilege() && pg.lp_user().empty())
    throw std::runtime_error("the dev environment has no least-privilege admin: run hack/dev-up.sh");
  if (opts_.admin_secret)
    apply(secret_manifest(ns, admin_secret_name,
                          {{"username", admin_user()}, {"password", admin_password()}}));
  if (opts_.start_operator) {
    operator_options o;
    o.kubeconfig = k8s.kubeconfig();
    o.ns = ns;
    o.resync_period = opts_.resync_period;
    o.fault_injection = opts_.fault_injection;
    o.extra_args = opts_.extra_args;
    op = std::make_unique<operator_process>(o);
    op->start();
  }
}

e2e_env::~e2e_env() {
  // Delete every PostgresUser through the operator (it drops the roles and removes finalizers);
  // strip finalizers of whatever is left so the namespace can go.
  try {
    (void)k8s.kubectl({"delete", pguser, "--all", "-n", ns, "--wait=false"});
    const bool operator_up = op && op->running();
    if (!operator_up
        || !wait_until([&] { return k8s.list(pguser, ns).empty(); }, seconds(60),
                       milliseconds(250))) {
      for (const auto& u : k8s.list(pguser, ns))
        (void)k8s.kubectl({"patch", pguser, u["metadata"]["name"].get<std::string>(), "-n", ns,
                     "--type=merge", "-p", R"({"metadata":{"finalizers":null}})"});
    }
  } catch (const std::exception& e) {
    std::cerr << "e2e cleanup of " << ns << ": " << e.what() << "\n";
  }
  if (op)
    op->stop();
  try {
    if (pg.accepting()) {
      for (const auto& r : roles_) {
        // Strategy Alternating's login roles first (members of it; absent is fine).
        pg.drop_role_everywhere(r + "-a");
        pg.drop_role_everywhere(r + "-b");
        pg.drop_role_everywhere(r);
      }
      for (const auto& d : databases_) {
        // The operator's privilege groups of the database (pg/groups.hpp), left behind when a
        // test dropped their members itself.
        std::vector<std::string> groups;
        {
          auto c = pg.admin();
          pqxx::nontransaction w(c);
          for (const auto& row : w.exec("SELECT rolname FROM pg_roles WHERE starts_with("
                                        "shobj_description(oid, 'pg_authid'), "
                                        + w.quote("dbuser-operator:group=database=" + d + ";")
                                        + ")"))
            groups.push_back(row[0].as<std::string>());
        }
        for (const auto& g : groups)
          pg.drop_role_everywhere(g);
        pg.drop_database(d);
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "e2e cleanup of roles and databases: " << e.what() << "\n";
  }
  // This control plane has no namespace controller: empty the namespace, then finalize it
  // ourselves so it does not stay Terminating forever.
  try {
    (void)k8s.kubectl({"delete", "secrets", "--all", "-n", ns, "--wait=false"});
    (void)k8s.kubectl({"delete", "namespace", ns, "--wait=false"});
    if (auto n = k8s.get("namespace", "", ns)) {
      (*n)["spec"]["finalizers"] = json::array();
      (void)k8s.kubectl({"replace", "--raw", "/api/v1/namespaces/" + ns + "/finalize", "-f", "-"},
                        n->dump());
    }
  } catch (const std::exception& e) {
    std::cerr << "e2e cleanup of namespace " << ns << ": " << e.what() << "\n";
  }
}

admin_kind admin_kind_from_env(admin_kind fallback) {
  const char* v = std::getenv("DBUSER_E2E_ADMIN");
  if (v == nullptr || *v == '\0')
    return fallback;
  const std::string s(v);
  if (s == "superuser")
    return admin_kind::superuser;
  if (s == "least-privilege")
    return admin_kind::least_privilege;
  throw std::runtime_error("DBUSER_E2E_ADMIN must be superuser or least-privilege, not " + s);
}

const std::string& e2e_env::admin_user() const {
  return least_privilege() ? pg.lp_user() : pg.admin_user();
}

const std::string& e2e_env::admin_password() const {
  return least_privilege() ? pg.lp_password() : pg.admin_password();
}

std::string e2e_env::object_name(const std::string& prefix) {
  return unique_name(prefix);
}

std::string e2e_env::role_name(const std::string& prefix) {
  auto r = snake(unique_name(prefix));
  roles_.insert(r);
  return r;
}

std::string e2e_env::database_name(const std::string& prefix) {
  auto d = snake(unique_name(prefix));
  databases_.insert(d);
  return d;
}

void e2e_env::forget_role(const std::string& role) {
  roles_.erase(role);
}

user_names e2e_env::names_for(const std::string& stem) {
  std::string snake = stem;
  std::replace(snake.begin(), snake.end(), '-', '_');
  return {object_name(stem), role_name(snake), database_name(snake + "_db"),
          object_name(stem + "-creds")};
}

json e2e_env::manifest(const std::string& kind, const std::string& name, json spec) const {
  return json{{"apiVersion", "database.example.com/v1alpha1"},
              {"kind", kind},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"spec", std::move(spec)}};
}

std::string e2e_env::apply_rotating_user(const std::string& stem, const std::string& database) {
  const auto name = object_name(stem);
  auto user = user_manifest(name, role_name(snake(stem)), database, name + "-creds");
  user["spec"]["passwordRotation"]["interval"] = "720h";
  apply(user);
  return name;
}

std::vector<std::pair<std::string, std::string>>
e2e_env::apply_users(const std::string& stem, const std::string& database, int n) {
  std::vector<std::pair<std::string, std::string>> users;
  for (int i = 0; i < n; ++i) {
    auto name = object_name(stem);
    auto secret = object_name(stem + "-creds");
    apply(user_manifest(name, role_name(stem), database, secret));
    users.emplace_back(name, secret);
  }
  return users;
}

json e2e_env::user_manifest(const std::string& name, const std::string& username,
                            const std::string& database, const std::string& secret_name) const {
  return manifest("PostgresUser", name,
                  {{"username", username},
                   {"database", database},
                   {"host", "127.0.0.1"},
                   {"port", pg.port()},
                   {"adminSecretRef", {{"name", admin_secret_name}}},
                   {"privileges", {"SELECT", "INSERT", "UPDATE", "DELETE"}},
                   {"secretName", secret_name}});
}

exec_result e2e_env::try_apply(const json& object) const {
  return k8s.apply(object, object.value("/metadata/namespace"_json_pointer, ns));
}

void e2e_env::apply(const json& object) const {
  auto r = try_apply(object);
  if (!r.ok())
    throw std::runtime_error("kubectl apply failed: " + r.err);
}

int e2e_env::ready_count() const {
  const auto out = k8s.kubectl({"get", pguser, "-n", ns, "-o",
                                "jsonpath={range .items[*]}{.status.ready}{\"\\n\"}{end}"});
  int n = 0;
  for (size_t at = out.out.find("true"); at != std::string::npos; at = out.out.find("true", at + 1))
    ++n;
  return n;
}

std::optional<json> e2e_env::user(const std::string& name) const {
  return k8s.get(pguser, ns, name);
}

ready_state e2e_env::ready_of(const std::string& kind, const std::string& name) const {
  ready_state s;
  auto u = k8s.get(kind, ns, name);
  if (!u)
    return s;
  for (const auto& c : u->value("/status/conditions"_json_pointer, json::array())) {
    if (c.value("type", "") != "Ready")
      continue;
    s.status = c.value("status", "");
    s.reason = c.value("reason", "");
    s.message = c.value("message", "");
    s.last_transition_time = c.value("lastTransitionTime", "");
  }
  return s;
}

bool e2e_env::wait_ready_of(const std::string& kind, const std::string& name,
                            milliseconds deadline, const std::string& status,
                            const std::string& reason) const {
  return wait_until(
      [&] {
        auto s = ready_of(kind, name);
        return s.status == status && (reason.empty() || s.reason == reason);
      },
      deadline, milliseconds(200));
}

bool e2e_env::wait_gone(const std::string& kind, const std::string& name,
                        milliseconds deadline) const {
  return wait_until([&] { return !k8s.get(kind, ns, name); }, deadline, milliseconds(200));
}

std::optional<std::map<std::string, std::string>> e2e_env::secret(const std::string& name) {
  auto s = k8s.get("secret", ns, name);
  if (!s)
    return std::nullopt;
  auto data = secret_data(*s);
  if (auto p = data.find("password"); p != data.end() && !p->second.empty())
    remember_password(p->second);
  return data;
}

std::string e2e_env::login_with_secret(const std::string& secret_name) {
  auto data = secret(secret_name);
  if (!data)
    return "Secret " + secret_name + " does not exist";
  auto& d = *data;
  return pg.login_error(d["username"], d["password"], d["database"]);
}

bool e2e_env::wait_login_with_secret(const std::string& secret_name, milliseconds deadline) {
  return wait_until([&] { return login_with_secret(secret_name).empty(); }, deadline,
                    milliseconds(250));
}

std::vector<std::string> e2e_env::warnings(const std::string& name) const {
  std::vector<std::string> out;
  for (const auto& e : k8s.events(ns, name, "Warning"))
    out.push_back(e.value("reason", "") + ": " + e.value("message", ""));
  return out;
}

bool e2e_env::wait_warning(const std::string& name, const std::string& reason) const {
  return wait_until(
    [&] {
      for (const auto& w : warnings(name))
        if (w.rfind(reason + ":", 0) == 0)
          return true;
      return false;
    },
    seconds(10), milliseconds(200));
}

bool e2e_env::wait_refusals(const std::string& name, const std::string& reason,
                            std::size_t times) const {
  return wait_until(
    [&] { return op && op->log_lines_about(ns, name, {"(" + reason + ")"}).size() >= times; },
    seconds(40), milliseconds(200));
}

void e2e_env::remember_password(const std::string& password) {
  passwords_.insert(password);
}

std::vector<std::string> e2e_env::secrets_in_log() const {
  std::vector<std::string> found;
  if (!op)
    return found;
  const std::string log = op->log();
  for (const auto& p : passwords_)
    if (log.find(p) != std::string::npos)
      found.push_back("a password of " + std::to_string(p.size()) + " characters starting with "
                      + p.substr(0, 2));
  if (log.find(pg.admin_password()) != std::string::npos)
    found.emplace_back("the admin password");
  if (log.find("SCRAM-SHA-256$") != std::string::npos)
    found.emplace_back("a SCRAM-SHA-256 verifier");
  return found;
}

std::string e2e_env::describe_of(const std::string& label, const std::string& kind,
                                 const std::string& name) const {
  std::string out = label + " " + ns + "/" + name + ": ";
  try {
    auto u = k8s.get(kind, ns, name);
    out += u ? u->value("status", json::object()).dump() : std::string("(absent)");
  } catch (const std::exception& e) {
    out += e.what();
  }
  if (op)
    out += "\noperator log (" + op->log_path() + ") ends with:\n" + tail_lines(op->log(), 30);
  return out;
}

} // namespace dbuser::test::e2e
