// The Grafana dashboard and the alert rules against a real Prometheus (Debian's) that scrapes the
// real operator during an e2e run: every panel's expression, evaluated through Prometheus' HTTP
// API, returns data; no panel and no alert uses a metric the operator does not export; Prometheus
// loads the rule file and evaluates every rule without error.
#include "test/e2e/support/prelude.hpp"
#include "test/monitoring/prometheus_server.hpp"
#include "test/observability/http_get.hpp"
#include "test/observability/prometheus_parser.hpp"

#include <cmath>
#include <fstream>
#include <regex>
#include <set>
#include <yaml-cpp/yaml.h>

using dbuser::test::monitoring::prometheus_server;

namespace {

const std::string source_dir = DBUSER_SOURCE_DIR;

json dashboard() {
  std::ifstream in(source_dir + "/deploy/monitoring/grafana-dashboard.json");
  return json::parse(in);
}

struct panel_query {
  std::string panel;
  std::string expr; // with the dashboard's variables substituted
};

// Grafana's variables as this test's Prometheus sees them: the job, and a rate window that holds
// enough 1 s scrapes.
std::string substitute(std::string expr) {
  expr = std::regex_replace(expr, std::regex(R"(\$__rate_interval)"), "30s");
  expr = std::regex_replace(expr, std::regex(R"(\$\{?job\}?)"), "dbuser-operator");
  return expr;
}

std::vector<panel_query> panel_queries(const json& d) {
  std::vector<panel_query> out;
  for (const auto& p : d["panels"])
    for (const auto& t : p.value("targets", json::array()))
      out.push_back({p["title"].get<std::string>(), substitute(t["expr"].get<std::string>())});
  return out;
}

// The metric names a PromQL expression reads: identifiers that are not functions, aggregations,
// keywords, label names (inside {} or by/without/on/ignoring (...)), strings or durations.
std::set<std::string> metric_names(std::string expr) {
  expr = std::regex_replace(expr, std::regex(R"("(\\.|[^"\\])*")"), " ");
  expr = std::regex_replace(expr, std::regex(R"(\{[^}]*\})"), " ");
  expr = std::regex_replace(expr, std::regex(R"(\[[^\]]*\])"), " ");
  expr = std::regex_replace(
    expr, std::regex(R"(\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\))"), " ");
  static const std::set<std::string> keywords{"and", "or", "unless", "bool", "offset", "by",
                                              "without", "on", "ignoring", "group_left",
                                              "group_right", "inf", "nan"};
  std::set<std::string> names;
  const std::regex ident(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\(?))");
  for (auto i = std::sregex_iterator(expr.begin(), expr.end(), ident); i != std::sregex_iterator();
       ++i) {
    const auto name = (*i)[1].str();
    const bool call = !(*i)[2].str().empty();
    const auto at = static_cast<std::size_t>(i->position(0));
    const bool in_number = at > 0 && (std::isdigit(static_cast<unsigned char>(expr[at - 1]))
                                      || expr[at - 1] == '.');
    if (!call && !in_number && !keywords.count(name))
      names.insert(name);
  }
  return names;
}

// Every sample name the operator's /metrics serves (histograms as _bucket, _sum and _count).
std::set<std::string> exported(const operator_process& op) {
  auto r = dbuser::test::http_get(op.listen_address(), "/metrics");
  auto m = dbuser::test::prom::parse(r.body);
  std::set<std::string> out;
  for (const auto& s : m.samples)
    out.insert(s.name);
  for (const auto& [family, type] : m.types)
    out.insert(type == "histogram" ? family + "_count" : family);
  return out;
}

bool has_data(const json& answer, std::string* why) {
  if (!answer.is_object() || answer.value("status", "") != "success") {
    *why = answer.dump();
    return false;
  }
  const auto& result = answer["data"]["result"];
  if (answer["data"]["resultType"] == "scalar")
    return true;
  if (result.empty()) {
    *why = "empty result";
    return false;
  }
  for (const auto& series : result) {
    const double v = std::stod(series["value"][1].get<std::string>());
    if (!std::isfinite(v)) {
      *why = "not a finite value: " + series.dump();
      return false;
    }
  }
  return true;
}

} // namespace

TEST_CASE("the PromQL reader finds the metric names of an expression, and only them") {
  CHECK(metric_names(R"(sum by (result) (rate(dbuser_reconciles_total{job="x",a=~"b.*"}[5m])))")
        == std::set<std::string>{"dbuser_reconciles_total"});
  CHECK(metric_names("histogram_quantile(0.9, sum by (le) (rate(a_bucket[1m]))) > 1e3")
        == std::set<std::string>{"a_bucket"});
  CHECK(metric_names("time() - min(x_seconds) > 3600 and on (instance) up == 1")
        == std::set<std::string>{"x_seconds", "up"});
}

TEST_CASE("the dashboard has the panels an SRE needs and only exported metrics") {
  const auto d = dashboard();
  std::string titles;
  for (const auto& p : d["panels"])
    titles += p["title"].get<std::string>() + "\n";
  for (const char* needed : {"Reconciles by result", "Reconcile duration quantiles",
                             "Users Ready / not Ready", "Supervisors in backoff",
                             "Pool connections per target", "Kubernetes requests by verb and code",
                             "Password rotations", "Memory", "Open file descriptors"})
    CHECK_THAT(titles, Catch::Contains(needed));
  for (const auto& p : d["panels"])
    if (p["type"] != "row")
      CHECK_FALSE(p.value("targets", json::array()).empty());
}

TEST_CASE("every dashboard panel returns data from a real Prometheus scraping the operator") {
  e2e_env env;
  auto& op = *env.op;
  INFO("operator log: " << op.log_path());
  // A Ready user with a rotation interval and one that keeps failing (its admin Secret is
  // missing until the end): every panel then has something to show.
  const auto db = env.database_name("dash_db");
  const auto good = env.apply_rotating_user("dash-ready", db);
  const auto bad = env.object_name("dash-backoff");
  auto failing = env.user_manifest(bad, env.role_name("dash_bad"), db, bad + "-creds");
  failing["spec"]["adminSecretRef"]["name"] = "admin-created-at-the-end";
  env.apply(failing);
  REQUIRE_READY(env, good, seconds(60));
  REQUIRE_CONDITION(env, bad, seconds(60), "False", "");

  prometheus_server prom(
    "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
    "rule_files: ['" + source_dir + "/deploy/monitoring/alerts.rules.yaml']\n"
    "scrape_configs:\n"
    "- job_name: dbuser-operator\n"
    "  static_configs: [{targets: ['" + op.listen_address() + "']}]\n");
  INFO("prometheus log: " << prom.log_path());
  REQUIRE(wait_until(
    [&] {
      auto up = prom.query("up{job=\"dbuser-operator\"} == 1");
      return up.is_object() && !up["data"]["result"].empty();
    },
    seconds(30), milliseconds(250)));

  { // each panel expression evaluates to data
    for (const auto& q : panel_queries(dashboard())) {
      std::string why;
      const bool ok = wait_until([&] { return has_data(prom.query(q.expr), &why); }, seconds(60),
                                 milliseconds(500));
      INFO("panel \"" << q.panel << "\": " << q.expr << ": " << why);
      CHECK(ok);
    }
  }

  { // no panel and no alert reads a metric the operator does not export
    const auto names = exported(op);
    REQUIRE(names.count("dbuser_reconciles_total"));
    REQUIRE(names.count("dbuser_managed_users_by_namespace"));
    REQUIRE(names.count("dbuser_password_rotation_earliest_due_timestamp_seconds"));
    for (const auto& q : panel_queries(dashboard()))
      for (const auto& m : metric_names(q.expr)) {
        INFO("panel \"" << q.panel << "\": " << q.expr);
        CHECK(names.count(m) == 1);
      }
    const auto rules = YAML::LoadFile(source_dir + "/deploy/monitoring/alerts.rules.yaml");
    for (const auto& group : rules["groups"])
      for (const auto& rule : group["rules"])
        for (const auto& m : metric_names(rule["expr"].as<std::string>())) {
          INFO("alert " << rule["alert"].as<std::string>() << ": " << m);
          // `up` is Prometheus' own; dbuser_shard_* exist only with --shards (e2e_sharding_test
          // reads them from a sharded operator).
          CHECK((m == "up" || m.rfind("dbuser_shard_", 0) == 0 || names.count(m) == 1));
        }
  }

  { // Prometheus loads the alert rules and evaluates each one without error
    json groups;
    REQUIRE(wait_until(
      [&] {
        auto r = prom.api("rules");
        if (!r.is_object() || r["data"]["groups"].empty())
          return false;
        groups = r["data"]["groups"];
        for (const auto& rule : groups[0]["rules"])
          if (rule.value("lastEvaluation", "").rfind("0001-", 0) == 0)
            return false; // not evaluated yet
        return true;
      },
      seconds(30), milliseconds(250)));
    REQUIRE(groups[0]["rules"].size() == 10); // every alert of deploy/monitoring/alerts.rules.yaml
    for (const auto& rule : groups[0]["rules"]) {
      INFO(rule.dump());
      CHECK(rule["health"] == "ok");
    }
  }
  // The failing user heals, so that deleting it at cleanup drops its role like any other.
  env.apply(secret_manifest(
    env.ns, "admin-created-at-the-end",
    {{"username", env.pg.admin_user()}, {"password", env.pg.admin_password()}}));
  CHECK(env.wait_ready(bad, seconds(60)));
  CHECK_NO_SECRETS_IN_LOG(env);
}
