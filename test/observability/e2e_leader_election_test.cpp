// Two operator processes with --leader-elect against the dev environment: only the leader
// reconciles; a SIGKILLed leader is replaced within the lease duration, a SIGTERMed one (it
// releases the Lease) within a few seconds; the new leader finishes the pending work.
#include "test/e2e/support/prelude.hpp"
#include "test/observability/http_get.hpp"
#include "test/observability/prometheus_parser.hpp"

#include <sstream>

using dbuser::test::http_get;
namespace prom = dbuser::test::prom;

namespace {

std::optional<prom::exposition> scrape(const operator_process& op) {
  auto r = http_get(op.listen_address(), "/metrics");
  if (r.status != 200)
    return std::nullopt;
  return prom::parse(r.body);
}

bool leads(const operator_process& op) {
  auto m = scrape(op);
  return m && m->value("dbuser_leader") == 1;
}

double reconciles(const operator_process& op) {
  auto m = scrape(op);
  return m ? m->sum("dbuser_reconciles_total") : -1;
}

} // namespace

TEST_CASE("with two operators only the leader reconciles, and a standby takes over") {
  e2e_options eo;
  eo.start_operator = false;
  e2e_env env(eo);
  const auto lease = env.object_name("lease");
  auto options = [&] {
    operator_options o;
    o.kubeconfig = env.k8s.kubeconfig();
    o.ns = env.ns;
    o.leader_elect = true;
    o.extra_args = {"--leader-election-namespace", env.ns, "--leader-election-name", lease};
    return o;
  };
  operator_process a(options());
  a.start();
  REQUIRE(wait_until([&] { return leads(a); }, seconds(30)));
  operator_process b(options());
  b.start();
  INFO("logs: " << a.log_path() << " " << b.log_path());
  // The standby is ready (caches synced, Lease readable) without leading.
  REQUIRE(wait_until([&] { return http_get(b.listen_address(), "/readyz").status == 200; },
                     seconds(30)));
  REQUIRE_FALSE(leads(b));

  const auto db = env.database_name("le_db");
  const auto u1 = env.object_name("le-one");
  env.apply(env.user_manifest(u1, env.role_name("le_one"), db, u1 + "-creds"));
  REQUIRE(env.wait_ready(u1, seconds(60)));
  REQUIRE(reconciles(a) >= 1);
  REQUIRE(reconciles(b) == 0);
  auto holder = env.k8s.get("lease", env.ns, lease);
  REQUIRE(holder);
  const auto a_identity = (*holder)["spec"]["holderIdentity"].get<std::string>();
  REQUIRE(a_identity.find(std::to_string(a.pid())) != std::string::npos);

  SECTION("SIGKILL the leader: the standby takes over within the lease duration") {
    a.kill();
    const auto killed = steady_clock::now();
    const auto u2 = env.object_name("le-two");
    env.apply(env.user_manifest(u2, env.role_name("le_two"), db, u2 + "-creds"));
    REQUIRE(wait_until([&] { return leads(b); }, seconds(30), milliseconds(200)));
    const auto took = steady_clock::now() - killed;
    // Lease 15 s, measured by the standby from its last sight of a renew (up to one retry
    // period of 2 s late), checked every retry period.
    CHECK(took <= seconds(15) + seconds(4));
    REQUIRE(env.wait_ready(u2, seconds(60)));
    REQUIRE(reconciles(b) >= 1);
  }

  SECTION("SIGTERM the leader: it releases the Lease and the standby takes over in seconds") {
    const auto exit = a.stop();
    REQUIRE_FALSE(exit.signaled);
    const auto stopped = steady_clock::now();
    const auto u3 = env.object_name("le-three");
    env.apply(env.user_manifest(u3, env.role_name("le_three"), db, u3 + "-creds"));
    REQUIRE(wait_until([&] { return leads(b); }, seconds(30), milliseconds(100)));
    CHECK(steady_clock::now() - stopped <= seconds(5));
    REQUIRE(env.wait_ready(u3, seconds(60)));
    REQUIRE(non_json_lines(a.log()).empty());
    REQUIRE(a.log().find("released Lease") != std::string::npos);
  }

  b.stop();
  const auto bad = non_json_lines(b.log());
  INFO("not JSON: " << (bad.empty() ? std::string() : bad.front()));
  REQUIRE(bad.empty());
}
