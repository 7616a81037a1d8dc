// The ground the other tests stand on: the dev environment's PostgreSQL and kube-apiserver are
// real, reachable, and behave as the project expects (scram logins, TLS with client certificates,
// the CRD's schema enforced).
#include "test/support/dev_env.hpp"
#include "test/support/wait.hpp"

#include <catch2/catch.hpp>
#include <cpprest/http_client.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <boost/asio/ssl.hpp>

using dbuser::test::dev_env;

namespace {

// A cpprest client for the dev kube-apiserver, authenticated with the admin client certificate.
web::http::client::http_client api_client() {
  const auto& env = dev_env::get();
  const std::string pki = env.dir() + "/pki/";
  web::http::client::http_client_config cfg;
  cfg.set_timeout(std::chrono::seconds(20));
  cfg.set_ssl_context_callback([pki](boost::asio::ssl::context& ctx) {
    ctx.load_verify_file(pki + "ca.crt");
    ctx.use_certificate_file(pki + "admin.crt", boost::asio::ssl::context::pem);
    ctx.use_private_key_file(pki + "admin.key", boost::asio::ssl::context::pem);
  });
  return web::http::client::http_client(env.at("DBUSER_APISERVER_URL"), cfg);
}

nlohmann::json send(web::http::client::http_client& c, web::http::method m, const std::string& path,
                    const nlohmann::json& body, int& status) {
  web::http::http_request req(m);
  req.set_request_uri(path);
  if (!body.is_null())
    req.set_body(body.dump(), "application/json");
  auto resp = c.request(req).get();
  status = resp.status_code();
  auto text = resp.extract_utf8string(true).get();
  return text.empty() ? nlohmann::json() : nlohmann::json::parse(text);
}

} // namespace

TEST_CASE("the dev PostgreSQL accepts the admin over TCP with scram-sha-256") {
  pqxx::connection c(dev_env::get().pg_admin_conninfo());
  pqxx::work w(c);
  CHECK(w.exec1("SHOW password_encryption")[0].as<std::string>() == "scram-sha-256");
  CHECK(w.exec1("SELECT current_setting('server_version_num')::int / 10000")[0].as<int>() == 15);
  CHECK(w.exec1("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")[0].as<bool>());
}

TEST_CASE("a freshly created role logs in with scram and a wrong password is refused") {
  const auto& env = dev_env::get();
  const std::string role = "env_test_" + std::to_string(::getpid());
  const std::string password = "Env-" + std::to_string(::getpid()) + "-correct-horse-battery";
  {
    pqxx::connection admin(env.pg_admin_conninfo());
    pqxx::nontransaction w(admin);
    w.exec0("DROP ROLE IF EXISTS " + w.quote_name(role));
    // The test's own role: password_encryption makes the server store a SCRAM verifier.
    w.exec0("CREATE ROLE " + w.quote_name(role) + " LOGIN PASSWORD " + w.quote(password));
    auto verifier = w.exec1("SELECT rolpassword FROM pg_authid WHERE rolname = " + w.quote(role));
    CHECK(verifier[0].as<std::string>().rfind("SCRAM-SHA-256$", 0) == 0);
  }
  const std::string base = "host=" + env.pg_host() + " port=" + std::to_string(env.pg_port())
                           + " dbname=postgres user=" + role;
  {
    pqxx::connection user(base + " password=" + password);
    pqxx::work w(user);
    CHECK(w.exec1("SELECT current_user")[0].as<std::string>() == role);
  }
  CHECK_THROWS_AS(pqxx::connection(base + " password=wrong"), pqxx::broken_connection);
  pqxx::connection admin(env.pg_admin_conninfo());
  pqxx::nontransaction w(admin);
  w.exec0("DROP ROLE " + w.quote_name(role));
}

TEST_CASE("kube-apiserver answers over TLS with the admin client certificate") {
  auto c = api_client();
  int status = 0;
  auto version = send(c, web::http::methods::GET, "/version", nullptr, status);
  REQUIRE(status == 200);
  CHECK(version["major"] == "1");
  CHECK(version["gitVersion"].get<std::string>().rfind("v1.", 0) == 0);
}

TEST_CASE("a ConfigMap can be created, read and deleted on the real API server") {
  auto c = api_client();
  const std::string name = dbuser::test::unique_name("env-cm");
  const std::string base = "/api/v1/namespaces/default/configmaps";
  int status = 0;
  nlohmann::json cm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"},
                       {"metadata", {{"name", name}}}, {"data", {{"k", "v"}}}};
  send(c, web::http::methods::POST, base, cm, status);
  REQUIRE(status == 201);
  auto got = send(c, web::http::methods::GET, base + "/" + name, nullptr, status);
  REQUIRE(status == 200);
  CHECK(got["data"]["k"] == "v");
  send(c, web::http::methods::DEL, base + "/" + name, nullptr, status);
  CHECK(status == 200);
  send(c, web::http::methods::GET, base + "/" + name, nullptr, status);
  CHECK(status == 404);
}

TEST_CASE("the PostgresUser CRD is served and rejects an object without spec.username") {
  auto c = api_client();
  const std::string base = "/apis/database.example.com/v1alpha1/namespaces/default/postgresusers";
  int status = 0;
  auto list = send(c, web::http::methods::GET, base, nullptr, status);
  REQUIRE(status == 200);
  CHECK(list["kind"] == "PostgresUserList");

  nlohmann::json bad = {
      {"apiVersion", "database.example.com/v1alpha1"},
      {"kind", "PostgresUser"},
      {"metadata", {{"name", dbuser::test::unique_name("env-nouser")}}},
      {"spec",
       {{"database", "db"}, {"host", "127.0.0.1"}, {"adminSecretRef", {{"name", "postgres-admin"}}},
        {"secretName", "creds"}}}};
  auto answer = send(c, web::http::methods::POST, base, bad, status);
  CHECK(status == 422);
  CHECK(answer["reason"] == "Invalid");
  CHECK(answer.dump().find("spec.username") != std::string::npos);
}
