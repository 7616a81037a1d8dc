// spec.passwordPolicy and --default-password-policy (api/password_policy.hpp): read, laid over
// the operator's default field by field, and refused when no password could satisfy it.
#include "api/password_policy.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace dbuser::api;
using nlohmann::json;

namespace {

dbuser::expected<dbuser::pg::password_policy, std::string> policy_of(
  const json& j, const dbuser::pg::password_policy& base = {}) {
  auto spec = parse_password_policy(j, "spec.passwordPolicy");
  if (!spec)
    return dbuser::make_unexpected(spec.error());
  return effective_policy(base, *spec, "spec.passwordPolicy");
}

} // namespace

TEST_CASE("the issue's example policy is read as length 40 with two symbols and two uppercase") {
  auto p = policy_of({{"length", 40}, {"symbols", 2}, {"uppercase", 2}});
  REQUIRE(p);
  CHECK(p->length == 40);
  CHECK(p->symbols.min == 2);
  CHECK(p->uppercase.min == 2);
  CHECK(p->lowercase.used);
  CHECK(p->symbol_set == "-_.~");
}

TEST_CASE("a resource's policy overrides the operator's default field by field") {
  dbuser::pg::password_policy base;
  base.length = 64;
  base.digits.min = 3;
  auto p = policy_of({{"symbols", 1}}, base);
  REQUIRE(p);
  CHECK(p->length == 64);
  CHECK(p->digits.min == 3);
  CHECK(p->symbols.min == 1);
  // Leaving a class out drops the default's minimum for it.
  auto q = policy_of({{"classes", {"lowercase", "uppercase"}}}, base);
  REQUIRE(q);
  CHECK_FALSE(q->digits.used);
  CHECK(q->digits.min == 0);
}

TEST_CASE("an unsatisfiable or malformed policy is refused with a message naming the field") {
  auto error = [](const json& j) {
    auto p = policy_of(j);
    return p ? std::string() : p.error();
  };
  CHECK(error({{"length", 16}, {"digits", 10}, {"symbols", 10}})
        == "spec.passwordPolicy: the minimums add up to 20, more than the length 16");
  CHECK(error({{"symbols", 1}, {"classes", {"lowercase"}}})
        == "spec.passwordPolicy: a minimum of 1 symbols is asked for but symbols are not used");
  CHECK(error({{"symbols", 1}, {"symbolSet", ""}})
        == "spec.passwordPolicy: symbols are required but symbolSet is empty");
  CHECK(error({{"length", 8}}) == "spec.passwordPolicy: length 8 is not between 16 and 128");
  CHECK(error({{"length", "40"}})
        == "spec.passwordPolicy.length must be an integer between 0 and 1000");
  CHECK(error({{"classes", {"emoji"}}})
        == "spec.passwordPolicy.classes: each entry must be one of lowercase, uppercase, digits, "
           "symbols");
  CHECK(error({{"classes", "lowercase"}}) == "spec.passwordPolicy.classes must be a list");
  CHECK(error({{"symbolSet", 5}}) == "spec.passwordPolicy.symbolSet must be a string");
  CHECK(error(json::array()) == "spec.passwordPolicy must be an object");
}
