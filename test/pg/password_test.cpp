#include "pg/password.hpp"
#include "test/support/text.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>

using namespace dbuser::pg;
using dbuser::test::count_of;

namespace {

const std::string all_classes = std::string(lowercase_letters) + std::string(uppercase_letters)
                                + std::string(decimal_digits) + std::string(default_symbols);

} // namespace

TEST_CASE("a generated password has the default length and a URL-safe alphabet") {
  auto p = generate_password();
  REQUIRE(p);
  CHECK(p->size() == 32);
  CHECK(p->find_first_not_of(all_classes) == std::string::npos);
  // None of the characters that break DSNs and drivers.
  CHECK(std::string(default_symbols).find_first_of("@:/?#%'\"; =\\") == std::string::npos);
}

TEST_CASE("generated passwords differ") {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i)
    seen.insert(*generate_password());
  CHECK(seen.size() == 100);
}

TEST_CASE("a policy's length, minimums and symbol set hold in every password") {
  password_policy policy;
  policy.length = 40;
  policy.symbols.min = 2;
  policy.uppercase.min = 2;
  for (int i = 0; i < 500; ++i) {
    auto p = generate_password(policy);
    REQUIRE(p);
    CHECK(p->size() == 40);
    CHECK(count_of(*p, default_symbols) >= 2);
    CHECK(count_of(*p, uppercase_letters) >= 2);
  }
  password_policy custom;
  custom.length = 16;
  custom.lowercase.used = false;
  custom.uppercase.used = false;
  custom.symbol_set = "!*+";
  custom.symbols.min = 16;
  auto p = generate_password(custom);
  REQUIRE(p);
  CHECK(p->find_first_not_of("!*+") == std::string::npos);
}

TEST_CASE("an unused class never appears and the required characters are not all in front") {
  password_policy policy;
  policy.length = 16;
  policy.digits.used = false;
  policy.symbols.used = false;
  policy.uppercase.min = 8;
  std::map<std::size_t, int> upper_at; // position → how often an uppercase letter sits there
  for (int i = 0; i < 400; ++i) {
    auto p = generate_password(policy);
    REQUIRE(p);
    CHECK(p->find_first_of(std::string(decimal_digits) + std::string(default_symbols))
          == std::string::npos);
    for (std::size_t k = 0; k < p->size(); ++k)
      if (uppercase_letters.find((*p)[k]) != std::string_view::npos)
        ++upper_at[k];
  }
  // Shuffled: the last position is as likely uppercase as the first (about 3/4 of the time).
  CHECK(upper_at[15] > 200);
  CHECK(upper_at[0] < 400);
}

TEST_CASE("an unsatisfiable policy is refused with its reason") {
  auto problem = [](password_policy p) { return policy_problem(p).value_or(""); };
  password_policy p;
  p.length = 15;
  CHECK(problem(p) == "length 15 is not between 16 and 128");
  p.length = 129;
  CHECK(problem(p) == "length 129 is not between 16 and 128");
  p = {};
  p.length = 16;
  p.digits.min = 10;
  p.symbols.min = 7;
  CHECK(problem(p) == "the minimums add up to 17, more than the length 16");
  p = {};
  p.symbols.used = false;
  p.symbols.min = 1;
  CHECK(problem(p) == "a minimum of 1 symbols is asked for but symbols are not used");
  p = {};
  p.symbol_set = "";
  p.symbols.min = 2;
  CHECK(problem(p) == "symbols are required but symbolSet is empty");
  p = {};
  p.symbol_set = "-a";
  CHECK(problem(p).find("printable ASCII punctuation") != std::string::npos);
  p.symbol_set = "--";
  CHECK(problem(p) == "symbolSet holds '-' twice");
  p = {};
  p.lowercase.used = p.uppercase.used = p.digits.used = false;
  p.symbol_set = "-";
  CHECK(problem(p) == "the used classes offer fewer than two characters");
  CHECK_FALSE(generate_password(p));
  CHECK(problem(password_policy{}).empty());
}

TEST_CASE("characters are spread evenly over a non-power-of-two alphabet") {
  // 62 letters and digits: with modulo bias the first 8 would be ~25% more frequent.
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  password_policy policy;
  policy.length = 124;
  policy.symbols.used = false;
  std::map<char, int> counts;
  for (int i = 0; i < 500; ++i) {
    const auto password = generate_password(policy);
    REQUIRE(password);
    for (char c : *password)
      ++counts[c];
  }
  const double expected = 500.0 * 124 / 62; // 1000 each
  double first8 = 0;
  double last8 = 0;
  for (size_t i = 0; i < 8; ++i) {
    first8 += counts[alphabet[i]];
    last8 += counts[alphabet[alphabet.size() - 1 - i]];
  }
  CHECK(first8 / 8 < expected * 1.1);
  CHECK(first8 / last8 < 1.1);
  CHECK(first8 / last8 > 0.9);
}

TEST_CASE("the SCRAM verifier is computed on the client and hides the password") {
  auto v = scram_verifier("correct horse battery staple", "myapp");
  REQUIRE(v);
  CHECK(v->rfind("SCRAM-SHA-256$4096:", 0) == 0);
  CHECK(v->find("correct horse") == std::string::npos);
  CHECK(*scram_verifier("correct horse battery staple", "myapp") != *v); // salted
}
