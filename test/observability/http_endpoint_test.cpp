#include "actors/http_endpoint.hpp"
#include "actors/introspection.hpp"
#include "test/observability/http_get.hpp"
#include "test/observability/served_endpoint.hpp"
#include "test/observability/prometheus_parser.hpp"
#include "test/support/wait.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace dbuser::actors;
namespace prom = dbuser::test::prom;

namespace {

dbuser::test::http_response get(const std::string& hostport, const std::string& path) {
  return dbuser::test::http_get(hostport, path);
}

} // namespace

TEST_CASE("the listen flag takes :port and host:port and port 0") {
  auto a = parse_listen(":8080");
  REQUIRE(a);
  REQUIRE(a->host == "0.0.0.0");
  REQUIRE(a->port == 8080);
  auto b = parse_listen("127.0.0.1:0");
  REQUIRE(b);
  REQUIRE(b->host == "127.0.0.1");
  REQUIRE(b->port == 0);
  auto c = parse_listen("[::1]:9090");
  REQUIRE(c);
  REQUIRE(c->host == "::1");
  REQUIRE_FALSE(parse_listen("8080"));
  REQUIRE_FALSE(parse_listen("host:http"));
  REQUIRE_FALSE(parse_listen(":70000"));
}

TEST_CASE("paths route to their handlers and a resource path needs namespace and name") {
  REQUIRE(route_of("/healthz").what == http_route::kind::healthz);
  REQUIRE(route_of("/readyz/").what == http_route::kind::readyz);
  REQUIRE(route_of("/metrics").what == http_route::kind::metrics);
  REQUIRE(route_of("/debug/actors").what == http_route::kind::debug_actors);
  auto one = route_of("/debug/actors/team-a/app-user");
  REQUIRE(one.what == http_route::kind::debug_actor);
  REQUIRE(one.key == "team-a/app-user");
  REQUIRE(route_of("/debug/actors/team-a").what == http_route::kind::not_found);
  REQUIRE(route_of("/debug/actors/a/b/c").what == http_route::kind::not_found);
  REQUIRE(route_of("/").what == http_route::kind::not_found);
  REQUIRE(route_of("/debug/ui").what == http_route::kind::debug_ui);
}

TEST_CASE("the endpoint serves health, readiness, metrics and the actor table") {
  dbuser::test::served_endpoint served;
  const auto& addr = served.addr;
  const auto& intro = served.intro;
  REQUIRE(addr.rfind("127.0.0.1:", 0) == 0);
  REQUIRE(addr != "127.0.0.1:0");

  REQUIRE(get(addr, "/healthz").status == 200);
  REQUIRE(get(addr, "/readyz").status == 503); // no caches yet
  metric_sources src;
  src.synced = [] { return true; };
  src.counters = [] {
    external_counters c;
    c.kube_requests = {{"list", 200, 2}};
    return c;
  };
  caf::anon_send(intro, dbuser::msg::sources_atom::value, src);
  REQUIRE(dbuser::test::wait_until([&] { return get(addr, "/readyz").status == 200; }));

  REQUIRE(get(addr, "/debug/actors/ns/a").status == 404);
  auto hooks = hooks_for(intro);
  supervisor_report r;
  r.key = "ns/a";
  r.phase = "Backoff";
  r.last_result = "retry";
  r.last_error = "AdminSecretNotFound: nope";
  r.next_wakeup_ms = 2000;
  hooks.on_supervisor_report(r);
  REQUIRE(dbuser::test::wait_until([&] { return get(addr, "/debug/actors/ns/a").status == 200; }));
  auto one = nlohmann::json::parse(get(addr, "/debug/actors/ns/a").body);
  REQUIRE(one["last_error"] == "AdminSecretNotFound: nope");
  REQUIRE(one["next_retry"].is_string());
  auto all = nlohmann::json::parse(get(addr, "/debug/actors").body);
  REQUIRE(all["supervisors"].size() == 1);

  auto m = get(addr, "/metrics");
  REQUIRE(m.status == 200);
  auto e = prom::parse(m.body);
  INFO(m.body);
  REQUIRE(e.errors.empty());
  REQUIRE(e.value("dbuser_reconciles_total", {{"result", "retry"}}) == 1);
  REQUIRE(e.value("dbuser_kube_requests_total", {{"verb", "list"}, {"code", "200"}}) == 2);
  REQUIRE(e.value("process_resident_memory_bytes").value_or(0) > 0);
  REQUIRE(get(addr, "/nope").status == 404);
}

TEST_CASE("health fails when the introspection actor does not answer") {
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  auto intro = spawn_introspection(sys, false);
  caf::anon_send_exit(intro, caf::exit_reason::user_shutdown);
  auto ep = http_endpoint::start(sys, "127.0.0.1:0", intro, std::chrono::milliseconds(300));
  REQUIRE(ep);
  REQUIRE(dbuser::test::wait_until([&] { return get((*ep)->address(), "/healthz").status == 503; }));
}
