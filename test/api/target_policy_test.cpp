#include "api/target_policy.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace dbuser::api;
using namespace dbuser::api::target_policy;
using nlohmann::json;

namespace {

bool host_allowed(const std::string& pattern, const std::string& host) {
  auto p = parse_host_pattern(pattern);
  REQUIRE(p);
  return matches(*p, host);
}

json policy_object(const std::string& name, json rules) {
  return json{{"apiVersion", "database.example.com/v1alpha1"},
              {"kind", "DatabaseTargetPolicy"},
              {"metadata", {{"name", name}}},
              {"spec", {{"rules", std::move(rules)}}}};
}

target pg_target(const std::string& ns, const std::string& host, int port) {
  return target{ns, engine::postgres, host, port};
}

} // namespace

TEST_CASE("host names match exactly, ignoring case and a trailing dot") {
  CHECK(host_allowed("db.internal", "db.internal"));
  CHECK(host_allowed("db.internal", "DB.Internal."));
  CHECK(host_allowed("DB.internal.", "db.internal"));
  CHECK_FALSE(host_allowed("db.internal", "db.internal.evil"));
  CHECK_FALSE(host_allowed("db.internal", "xdb.internal"));
  CHECK_FALSE(host_allowed("localhost", "127.0.0.1")); // names are never resolved
}

TEST_CASE("a wildcard matches names under its suffix at any depth, not the suffix itself") {
  CHECK(host_allowed("*.team-a.svc", "pg.team-a.svc"));
  CHECK(host_allowed("*.team-a.svc", "primary.pg.team-a.svc"));
  CHECK(host_allowed("*.team-a.svc", "PG.TEAM-A.SVC."));
  CHECK_FALSE(host_allowed("*.team-a.svc", "team-a.svc"));
  CHECK_FALSE(host_allowed("*.team-a.svc", "pg.xteam-a.svc"));
  CHECK_FALSE(host_allowed("*.team-a.svc", "pg.team-a.svc.evil.com"));
  CHECK_FALSE(host_allowed("*.team-a.svc", "10.0.0.1"));
  CHECK(host_allowed("*", "anything.example"));
  CHECK(host_allowed("*", "2001:db8::1"));
  CHECK_FALSE(parse_host_pattern("*."));
  CHECK_FALSE(parse_host_pattern("*.-bad"));
  CHECK_FALSE(parse_host_pattern("db.*.internal"));
  CHECK_FALSE(parse_host_pattern("a..b"));
}

TEST_CASE("IPv4 addresses match CIDRs and single addresses, never names") {
  CHECK(host_allowed("10.0.0.0/8", "10.1.2.3"));
  CHECK_FALSE(host_allowed("10.0.0.0/8", "11.0.0.1"));
  CHECK(host_allowed("10.1.2.3", "10.1.2.3"));
  CHECK_FALSE(host_allowed("10.1.2.3", "10.1.2.4"));
  CHECK(host_allowed("192.168.1.0/25", "192.168.1.127"));
  CHECK_FALSE(host_allowed("192.168.1.0/25", "192.168.1.128"));
  CHECK(host_allowed("0.0.0.0/0", "8.8.8.8"));
  CHECK_FALSE(host_allowed("0.0.0.0/0", "2001:db8::1")); // an IPv4 CIDR holds no IPv6 address
  CHECK(host_allowed("10.0.0.1/8", "10.200.0.1")); // host bits are ignored
  CHECK_FALSE(host_allowed("10.0.0.0/8", "db.internal"));
  CHECK_FALSE(parse_host_pattern("10.0.0.0/33"));
  CHECK_FALSE(parse_host_pattern("10.0.0.0/"));
  CHECK_FALSE(parse_host_pattern("10.0.0/8"));
  CHECK_FALSE(parse_host_pattern("300.0.0.1"));
}

TEST_CASE("numeric forms resolvers read as IPv4 are never allowed and never patterns") {
  CHECK_FALSE(host_allowed("127.0.0.0/8", "127.1"));
  CHECK_FALSE(host_allowed("127.0.0.0/8", "2130706433"));
  CHECK_FALSE(host_allowed("127.0.0.0/8", "0x7f.1"));
  CHECK_FALSE(host_allowed("127.0.0.0/8", "0177.0.0.1"));
  CHECK_FALSE(host_allowed("*", "127.1"));
  CHECK_FALSE(parse_host_pattern("127.1"));
  CHECK_FALSE(parse_host_pattern("2130706433"));
}

TEST_CASE("IPv6 matches in every textual form, with or without brackets") {
  CHECK(host_allowed("fd00::/8", "fd12:3456::1"));
  CHECK_FALSE(host_allowed("fd00::/8", "fe80::1"));
  CHECK(host_allowed("2001:db8::1", "2001:0db8:0000:0000:0000:0000:0000:0001"));
  CHECK(host_allowed("2001:db8::1", "[2001:db8::1]"));
  CHECK(host_allowed("[2001:db8::1]", "2001:DB8::1"));
  CHECK(host_allowed("2001:db8::/32", "[2001:db8:ffff::1]"));
  CHECK(host_allowed("::1", "0:0:0:0:0:0:0:1"));
  CHECK_FALSE(host_allowed("::1", "::2"));
  CHECK(host_allowed("::/0", "2001:db8::1"));
  // An IPv4-mapped IPv6 address is its IPv4 address.
  CHECK(host_allowed("127.0.0.0/8", "::ffff:127.0.0.1"));
  CHECK(host_allowed("::ffff:10.0.0.1", "10.0.0.1"));
  CHECK_FALSE(parse_host_pattern("fd00::/129"));
  CHECK_FALSE(parse_host_pattern("fd00:::1"));
  CHECK_FALSE(host_allowed("fd00::/8", "fd00::1%eth0"));
}

TEST_CASE("IP addresses print in their canonical form") {
  auto a = parse_ip("2001:0DB8:0000:0000:0000:0000:0000:0001");
  REQUIRE(a);
  CHECK(to_string(*a) == "2001:db8::1");
  auto b = parse_ip("[::ffff:127.0.0.1]");
  REQUIRE(b);
  CHECK(b->v4);
  CHECK(to_string(*b) == "127.0.0.1");
  CHECK(parse_ip("10.0.0.1") == parse_ip("::ffff:10.0.0.1"));
  CHECK_FALSE(parse_ip("[10.0.0.1]"));
  CHECK_FALSE(parse_ip("db.internal"));
}

TEST_CASE("ports are single numbers or inclusive ranges within 1-65535") {
  auto single = parse_port_range("5432");
  REQUIRE(single);
  CHECK(single->first == 5432);
  CHECK(single->last == 5432);
  auto range = parse_port_range("6000-6010");
  REQUIRE(range);
  CHECK(range->first == 6000);
  CHECK(range->last == 6010);
  CHECK_FALSE(parse_port_range("0"));
  CHECK_FALSE(parse_port_range("65536"));
  CHECK_FALSE(parse_port_range("6010-6000"));
  CHECK_FALSE(parse_port_range("60-"));
  CHECK_FALSE(parse_port_range("-5"));
  CHECK_FALSE(parse_port_range("abc"));

  auto p = parse(policy_object(
    "ports", json::array({{{"name", "pg"},
                           {"namespaceSelector", json::object()},
                           {"hosts", {"db.internal"}},
                           {"ports", {5432, "6000-6010"}}}})));
  REQUIRE(p.rules.size() == 1);
  CHECK(p.rules[0].problems.empty());
  const std::vector<policy> all{p};
  CHECK(evaluate(all, pg_target("a", "db.internal", 5432), {}).allowed);
  CHECK(evaluate(all, pg_target("a", "db.internal", 6000), {}).allowed);
  CHECK(evaluate(all, pg_target("a", "db.internal", 6010), {}).allowed);
  CHECK_FALSE(evaluate(all, pg_target("a", "db.internal", 6011), {}).allowed);
  CHECK_FALSE(evaluate(all, pg_target("a", "db.internal", 5433), {}).allowed);
}

TEST_CASE("a rule without ports allows every port, without engines, both engines") {
  auto p = parse(policy_object("open", json::array({{{"namespaceSelector", json::object()},
                                                     {"hosts", {"db.internal"}}}})));
  const std::vector<policy> all{p};
  CHECK(evaluate(all, pg_target("a", "db.internal", 1), {}).allowed);
  CHECK(evaluate(all, target{"a", engine::mysql, "db.internal", 3306}, {}).allowed);
  CHECK(evaluate(all, pg_target("a", "db.internal", 1), {}).rule == "#1");
}

TEST_CASE("engines restrict a rule to PostgreSQL or MySQL") {
  auto p = parse(policy_object("pg-only", json::array({{{"name", "pg"},
                                                        {"namespaceSelector", json::object()},
                                                        {"hosts", {"db.internal"}},
                                                        {"engines", {"postgresql"}}}})));
  const std::vector<policy> all{p};
  CHECK(evaluate(all, pg_target("a", "db.internal", 5432), {}).allowed);
  CHECK_FALSE(evaluate(all, target{"a", engine::mysql, "db.internal", 3306}, {}).allowed);
  auto bad = parse(policy_object("bad", json::array({{{"namespaceSelector", json::object()},
                                                      {"hosts", {"db.internal"}},
                                                      {"engines", {"oracle"}}}})));
  CHECK_FALSE(bad.rules[0].problems.empty());
}

TEST_CASE("label selectors follow Kubernetes' operators") {
  const labels team_a{{"team", "a"}, {"env", "prod"}};
  const labels team_b{{"team", "b"}};
  const labels none{};
  label_selector by_label;
  by_label.match_labels = {{"team", "a"}};
  CHECK(matches(by_label, team_a));
  CHECK_FALSE(matches(by_label, team_b));
  CHECK_FALSE(matches(by_label, none));

  using op = label_requirement::op;
  label_selector in{{}, {{"team", op::in, {"a", "c"}}}};
  CHECK(matches(in, team_a));
  CHECK_FALSE(matches(in, team_b));
  CHECK_FALSE(matches(in, none));

  label_selector not_in{{}, {{"team", op::not_in, {"b"}}}};
  CHECK(matches(not_in, team_a));
  CHECK_FALSE(matches(not_in, team_b));
  CHECK(matches(not_in, none)); // NotIn holds where the key is absent

  label_selector exists{{}, {{"env", op::exists, {}}}};
  CHECK(matches(exists, team_a));
  CHECK_FALSE(matches(exists, team_b));

  label_selector absent{{}, {{"env", op::does_not_exist, {}}}};
  CHECK_FALSE(matches(absent, team_a));
  CHECK(matches(absent, team_b));
  CHECK(matches(absent, none));

  label_selector both{{{"team", "a"}}, {{"env", op::in, {"staging"}}}};
  CHECK_FALSE(matches(both, team_a)); // every requirement must hold

  CHECK(matches(label_selector{}, none)); // {} selects every namespace
  CHECK(describe(label_selector{}) == "every namespace");
  CHECK(describe(label_selector{{{"team", "a"}}, {{"env", op::in, {"prod", "staging"}},
                                                  {"legacy", op::does_not_exist, {}}}})
        == "team=a, env in (prod,staging), !legacy");
}

TEST_CASE("selectors are read from the policy object, malformed expressions allow nothing") {
  auto p = parse(policy_object(
    "sel", json::array({{{"name", "ok"},
                         {"namespaceSelector",
                          {{"matchLabels", {{"team", "a"}}},
                           {"matchExpressions",
                            json::array({{{"key", "env"}, {"operator", "NotIn"},
                                          {"values", {"dev"}}},
                                         {{"key", "tier"}, {"operator", "Exists"}}})}}},
                         {"hosts", {"db.internal"}}},
                        {{"name", "no-values"},
                         {"namespaceSelector",
                          {{"matchExpressions",
                            json::array({{{"key", "team"}, {"operator", "In"}}})}}},
                         {"hosts", {"db.internal"}}},
                        {{"name", "bad-op"},
                         {"namespaceSelector",
                          {{"matchExpressions",
                            json::array({{{"key", "team"}, {"operator", "Like"},
                                          {"values", {"a"}}}})}}},
                         {"hosts", {"db.internal"}}},
                        {{"name", "no-selector"}, {"hosts", {"db.internal"}}}})));
  REQUIRE(p.rules.size() == 4);
  CHECK(p.rules[0].problems.empty());
  CHECK_FALSE(p.rules[1].problems.empty());
  CHECK_FALSE(p.rules[2].problems.empty());
  CHECK_FALSE(p.rules[3].problems.empty());
  const std::vector<policy> all{p};
  const auto t = pg_target("a", "db.internal", 5432);
  CHECK(evaluate(all, t, {{"team", "a"}, {"env", "prod"}, {"tier", "1"}}).allowed);
  CHECK_FALSE(evaluate(all, t, {{"team", "a"}, {"env", "dev"}, {"tier", "1"}}).allowed);
  CHECK_FALSE(evaluate(all, t, {{"team", "a"}, {"env", "prod"}}).allowed);
}

TEST_CASE("without any policy every target is allowed, a policy without rules allows none") {
  const auto t = pg_target("team-b", "10.0.0.1", 5432);
  auto none = evaluate({}, t, {});
  CHECK(none.allowed);
  CHECK_FALSE(none.enforced);

  auto deny = evaluate({parse(policy_object("deny-by-default", json::array()))}, t, {});
  CHECK(deny.enforced);
  CHECK_FALSE(deny.allowed);
  CHECK(deny.message
        == "postgresql://10.0.0.1:5432 is not allowed for namespace team-b: no "
           "DatabaseTargetPolicy has a rule that allows it");
}

TEST_CASE("several policies add up, and the refusal names the rule that would allow it") {
  std::vector<policy> all{
    parse(policy_object("deny-by-default", json::array())),
    parse(policy_object("team-a", json::array({{{"name", "team-a-postgres"},
                                                {"namespaceSelector",
                                                 {{"matchLabels", {{"team", "a"}}}}},
                                                {"hosts", {"*.team-a.svc", "10.0.0.0/8"}},
                                                {"ports", {"5432-5439"}}}}))),
    parse(policy_object("shared", json::array({{{"name", "reporting"},
                                                {"namespaceSelector", json::object()},
                                                {"hosts", {"reporting.internal"}},
                                                {"ports", {5432}}}})))};
  const labels team_a{{"team", "a"}};
  const labels team_b{{"team", "b"}};

  auto a = evaluate(all, pg_target("ns-a", "pg.team-a.svc", 5433), team_a);
  CHECK(a.allowed);
  CHECK(a.policy == "team-a");
  CHECK(a.rule == "team-a-postgres");
  CHECK(evaluate(all, pg_target("ns-a", "reporting.internal", 5432), team_a).allowed);
  CHECK(evaluate(all, pg_target("ns-b", "reporting.internal", 5432), team_b).allowed);

  auto b = evaluate(all, pg_target("ns-b", "10.1.1.1", 5432), team_b);
  CHECK_FALSE(b.allowed);
  CHECK(b.message
        == "postgresql://10.1.1.1:5432 is not allowed for namespace ns-b: rule "
           "\"team-a-postgres\" of DatabaseTargetPolicy \"team-a\" allows it only for "
           "namespaces matching team=a");

  auto port = evaluate(all, pg_target("ns-a", "10.1.1.1", 8080), team_a);
  CHECK_FALSE(port.allowed);
  CHECK(port.message.find("no DatabaseTargetPolicy has a rule that allows it")
        != std::string::npos);

  auto v6 = evaluate(all, pg_target("ns-a", "fd00::1", 5432), team_a);
  CHECK_FALSE(v6.allowed);
  CHECK(v6.message.rfind("postgresql://[fd00::1]:5432 is not allowed", 0) == 0);

  auto numeric = evaluate(all, pg_target("ns-a", "167772161", 5432), team_a); // 10.0.0.1
  CHECK_FALSE(numeric.allowed);
  CHECK(numeric.message.find("numeric form") != std::string::npos);
}

TEST_CASE("a rule with one unreadable entry allows nothing, other rules still count") {
  std::vector<policy> all{parse(policy_object(
    "mixed", json::array({{{"name", "broken"},
                           {"namespaceSelector", json::object()},
                           {"hosts", {"db.internal", "10.0.0.0/99"}}},
                          {{"name", "fine"},
                           {"namespaceSelector", json::object()},
                           {"hosts", {"other.internal"}}}})))};
  CHECK_FALSE(all[0].rules[0].problems.empty());
  CHECK_FALSE(evaluate(all, pg_target("a", "db.internal", 5432), {}).allowed);
  CHECK(evaluate(all, pg_target("a", "other.internal", 5432), {}).allowed);
}
