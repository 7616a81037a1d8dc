// Runs real requests with debug logging captured, then greps the log for every secret involved.
// Own executable: it installs the "k8s" logger before anything else logs.

#include <fstream>
#include <sstream>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "k8s/client.hpp"
#include "k8s/informer.hpp"
#include "test/k8s/k8s_test_support.hpp"

using namespace dbuser::k8s;
using namespace dbuser::k8s::test;

namespace {

std::ostringstream& captured() {
  static std::ostringstream out;
  static bool installed = [] {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    auto k8s = std::make_shared<spdlog::logger>("k8s", sink);
    k8s->set_level(spdlog::level::trace);
    spdlog::register_logger(k8s);
    auto fallback = std::make_shared<spdlog::logger>("default", sink);
    fallback->set_level(spdlog::level::trace);
    spdlog::set_default_logger(fallback);
    return true;
  }();
  (void)installed;
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace

TEST_CASE("with debug logging on, no token, client key, Authorization header or Secret value is logged") {
  captured();
  auto kcfg = load_kubeconfig(dbuser::test::dev_env::get().kubeconfig());
  REQUIRE(kcfg);
  // The admin authenticates with inline key bytes.
  config admin_cfg = *kcfg;
  const std::string key_pem = slurp(admin_cfg.client_key_file);
  admin_cfg.client_key_data = key_pem;
  admin_cfg.client_key_file.clear();
  auto admin = client::make(admin_cfg);
  REQUIRE(admin);
  const auto ns = fresh_namespace(*admin, "logs");

  const std::string secret_value = "s3cr3t-" + dbuser::test::unique_name("pw");
  json secret{{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"metadata", {{"name", "creds"}}},
              {"stringData", {{"password", secret_value}}}};
  REQUIRE(sync([&](auto cb) { (*admin)->create(resource::secrets(), ns, secret, cb); }));
  REQUIRE(sync([&](auto cb) { (*admin)->get({resource::secrets(), ns, "creds", ""}, cb); }));

  // A token client: a real token (TokenRequest for the default ServiceAccount we create), from a file.
  REQUIRE(sync([&](auto cb) {
    (*admin)->create(resource::service_accounts(), ns,
                     json{{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", "bot"}}}}, cb);
  }));
  http_request req{"POST", object_path({resource::service_accounts(), ns, "bot", "token"}),
                   json{{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "TokenRequest"}, {"spec", json::object()}}.dump(),
                   "application/json", "create"};
  auto tr = sync([&](auto cb) { (*admin)->raw(req, cb); });
  REQUIRE(tr);
  const std::string token = (*tr)["status"]["token"];
  const std::string token_path = "/tmp/" + dbuser::test::unique_name("k8s-log-token");
  std::ofstream(token_path) << token;
  config token_cfg;
  token_cfg.server = kcfg->server;
  token_cfg.ca_file = kcfg->ca_file;
  token_cfg.token_file = token_path;
  auto bot = client::make(token_cfg);
  REQUIRE(bot);
  auto forbidden = sync([&](auto cb) { (*bot)->get({resource::secrets(), ns, "creds", ""}, cb); });
  REQUIRE_FALSE(forbidden);
  CHECK(forbidden.error().code == error::kind::forbidden);
  config literal = token_cfg;
  literal.token_file.clear();
  literal.token = token;
  auto bot2 = client::make(literal);
  REQUIRE(bot2);
  (void)sync([&](auto cb) { (*bot2)->list(resource::secrets(), ns, {}, cb); });

  // A watch and an informer over Secrets log their lifecycle too.
  informer_handlers h;
  auto inf = informer::make(*admin, resource::secrets(), ns, h);
  inf->start();
  REQUIRE(dbuser::test::wait_until([&] { return inf->synced(); }));
  inf->stop();

  const std::string log = captured().str();
  INFO(log.substr(0, 4000));
  CHECK(log.find("GET /api/v1/namespaces/" + ns + "/secrets/creds") != std::string::npos); // debug was on
  CHECK(log.find(token) == std::string::npos);
  CHECK(log.find(token.substr(0, 40)) == std::string::npos);
  CHECK(log.find("Bearer") == std::string::npos);
  CHECK(log.find("Authorization") == std::string::npos);
  CHECK(log.find(secret_value) == std::string::npos);
  CHECK(log.find("PRIVATE KEY") == std::string::npos);
  std::istringstream key_lines(key_pem);
  std::string line;
  while (std::getline(key_lines, line))
    if (line.rfind("-----", 0) != 0 && line.size() > 16) CHECK(log.find(line) == std::string::npos);
}
