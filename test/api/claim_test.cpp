#include "api/claim.hpp"

#include <catch2/catch.hpp>

using namespace dbuser;
using nlohmann::json;

namespace {

const std::string install_a = "dbuser-system/dbuser-operator";
const std::string install_b = "team-b/dbuser-operator";

json user(json annotations = json(), json finalizers = json()) {
  json u = {{"apiVersion", "database.example.com/v1alpha1"},
            {"kind", "PostgresUser"},
            {"metadata", {{"name", "app"}, {"namespace", "shop"}, {"resourceVersion", "41"},
                          {"uid", "u-1"}}}};
  if (!annotations.is_null())
    u["metadata"]["annotations"] = annotations;
  if (!finalizers.is_null())
    u["metadata"]["finalizers"] = finalizers;
  return u;
}

api::claim claim(const json& u, const std::string& install) {
  return api::claim_of(api::parse_meta(u), install);
}

// Applies an RFC 6902 patch as the API server would, failing (nullopt) when a `test` fails.
std::optional<json> apply_patch(const json& object, const json& patch) {
  for (const auto& op : patch)
    if (op["op"] == "test"
        && (!object.contains(json::json_pointer(op["path"].get<std::string>()))
            || object.at(json::json_pointer(op["path"].get<std::string>())) != op["value"]))
      return std::nullopt;
  json without_tests = json::array();
  for (const auto& op : patch)
    if (op["op"] != "test")
      without_tests.push_back(op);
  return object.patch(without_tests);
}

} // namespace

TEST_CASE("a user nobody claimed is free, and claiming it records the install with the finalizer "
          "in one patch that tests the resourceVersion") {
  const auto u = user();
  CHECK(claim(u, install_a).state == api::claim_state::free);
  auto patch = api::claim_patch(u, install_a, true);
  REQUIRE(patch);
  CHECK((*patch)[0] == json({{"op", "test"}, {"path", "/metadata/resourceVersion"},
                             {"value", "41"}}));
  auto claimed = apply_patch(u, *patch);
  REQUIRE(claimed);
  CHECK((*claimed)["metadata"]["annotations"][api::claimed_by_annotation] == install_a);
  CHECK((*claimed)["metadata"]["finalizers"] == json::array({api::finalizer}));
  CHECK(claim(*claimed, install_a).state == api::claim_state::ours);
  CHECK(claim(*claimed, install_b).state == api::claim_state::elsewhere);
  CHECK(claim(*claimed, install_b).holder == install_a);
  CHECK_FALSE(api::claim_patch(*claimed, install_a, true));
}

TEST_CASE("two installs that read the same version cannot both claim it") {
  const auto u = user(json{{"team", "shop"}}, json::array({"other/finalizer"}));
  auto by_a = api::claim_patch(u, install_a, true);
  auto by_b = api::claim_patch(u, install_b, true);
  REQUIRE(by_a);
  REQUIRE(by_b);
  auto after_a = apply_patch(u, *by_a);
  REQUIRE(after_a);
  (*after_a)["metadata"]["resourceVersion"] = "42"; // the API server's write
  CHECK_FALSE(apply_patch(*after_a, *by_b));               // b's test fails: 422, nothing written
  CHECK((*after_a)["metadata"]["annotations"]["team"] == "shop");
  CHECK((*after_a)["metadata"]["finalizers"]
        == json::array({"other/finalizer", api::finalizer}));
}

TEST_CASE("a user with the finalizer of a version before claims is claimed without a second "
          "finalizer") {
  const auto u = user(json(), json::array({api::finalizer}));
  CHECK(claim(u, install_a).state == api::claim_state::free);
  auto patch = api::claim_patch(u, install_a, true);
  REQUIRE(patch);
  auto claimed = apply_patch(u, *patch);
  REQUIRE(claimed);
  CHECK((*claimed)["metadata"]["finalizers"] == json::array({api::finalizer}));
  CHECK(claim(*claimed, install_a).state == api::claim_state::ours);
}

TEST_CASE("a claim without the finalizer (a refused user) adds only the annotation") {
  auto patch = api::claim_patch(user(), install_a, false);
  REQUIRE(patch);
  auto claimed = apply_patch(user(), *patch);
  REQUIRE(claimed);
  CHECK_FALSE((*claimed)["metadata"].contains("finalizers"));
  CHECK(claim(*claimed, install_a).state == api::claim_state::ours);
  CHECK_FALSE(api::claim_patch(*claimed, install_a, false));
  CHECK(api::claim_patch(*claimed, install_a, true)); // the finalizer comes later
}

TEST_CASE("release-all lets go of the install's users: finalizer and claim gone, released-by "
          "names the install") {
  const auto u = user(json{{api::claimed_by_annotation, install_a}, {"keep", "me"}},
                      json::array({"other/finalizer", api::finalizer}));
  CHECK(api::releasable(api::parse_meta(u), install_a));
  CHECK_FALSE(api::releasable(api::parse_meta(u), install_b));
  CHECK_FALSE(api::release_patch(u, install_b));
  auto patch = api::release_patch(u, install_a);
  REQUIRE(patch);
  auto released = apply_patch(u, *patch);
  REQUIRE(released);
  CHECK((*released)["metadata"]["finalizers"] == json::array({"other/finalizer"}));
  CHECK_FALSE((*released)["metadata"]["annotations"].contains(api::claimed_by_annotation));
  CHECK((*released)["metadata"]["annotations"][api::released_by_annotation] == install_a);
  CHECK((*released)["metadata"]["annotations"]["keep"] == "me");

  SECTION("the install that released it leaves it alone; another install may claim it") {
    CHECK(claim(*released, install_a).state == api::claim_state::released_here);
    CHECK(claim(*released, install_b).state == api::claim_state::free);
    auto by_b = api::claim_patch(*released, install_b, true);
    REQUIRE(by_b);
    auto claimed = apply_patch(*released, *by_b);
    REQUIRE(claimed);
    CHECK(claim(*claimed, install_b).state == api::claim_state::ours);
    CHECK_FALSE((*claimed)["metadata"]["annotations"].contains(api::released_by_annotation));
    CHECK((*claimed)["metadata"]["finalizers"]
          == json::array({"other/finalizer", api::finalizer}));
  }
  SECTION("a person's claim by annotation wins over released-by") {
    auto handed = *released;
    handed["metadata"]["annotations"][api::claimed_by_annotation] = install_a;
    CHECK(claim(handed, install_a).state == api::claim_state::ours);
  }
}

TEST_CASE("release-all takes the users of a version before claims (finalizer, no claim), and "
          "nothing without a finalizer or claimed elsewhere") {
  CHECK(api::releasable(api::parse_meta(user(json(), json::array({api::finalizer}))), install_a));
  CHECK_FALSE(api::releasable(api::parse_meta(user()), install_a));
  CHECK_FALSE(api::releasable(
    api::parse_meta(user(json{{api::claimed_by_annotation, install_b}},
                         json::array({api::finalizer}))),
    install_a));
  auto patch = api::release_patch(user(json(), json::array({api::finalizer})), install_a);
  REQUIRE(patch);
  auto released = apply_patch(user(json(), json::array({api::finalizer})), *patch);
  REQUIRE(released);
  CHECK((*released)["metadata"]["finalizers"].empty());
  CHECK((*released)["metadata"]["annotations"][api::released_by_annotation] == install_a);
}

TEST_CASE("the install identity defaults to the Lease's namespace/name and is checked") {
  CHECK(api::default_install_id("dbuser-system", "dbuser-operator")
        == "dbuser-system/dbuser-operator");
  CHECK(api::install_id_error("dbuser-system/dbuser-operator").empty());
  CHECK(api::install_id_error("team_a.v2").empty());
  CHECK_FALSE(api::install_id_error("").empty());
  CHECK_FALSE(api::install_id_error("a b").empty());
  CHECK_FALSE(api::install_id_error("x\"y").empty());
  CHECK_FALSE(api::install_id_error("/leading").empty());
  CHECK_FALSE(api::install_id_error(std::string(254, 'a')).empty());
}
