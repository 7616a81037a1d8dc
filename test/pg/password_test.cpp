#include "pg/password.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <set>

using namespace dbuser::pg;

TEST_CASE("a generated password has the default length and a URL-safe alphabet") {
  auto p = generate_password();
  REQUIRE(p);
  CHECK(p->size() == 40);
  CHECK(p->find_first_not_of(url_safe_alphabet) == std::string::npos);
}

TEST_CASE("generated passwords differ") {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i)
    seen.insert(*generate_password());
  CHECK(seen.size() == 100);
}

TEST_CASE("the password length and alphabet are configurable") {
  auto p = generate_password({64, "abc"});
  REQUIRE(p);
  CHECK(p->size() == 64);
  CHECK(p->find_first_not_of("abc") == std::string::npos);
}

TEST_CASE("a password shorter than 32 characters or a bad alphabet is refused") {
  CHECK_FALSE(generate_password({31, url_safe_alphabet}));
  CHECK_FALSE(generate_password({32, "a"}));
  CHECK_FALSE(generate_password({32, "aa"}));
}

TEST_CASE("characters are spread evenly over a non-power-of-two alphabet") {
  // 62 letters and digits: with modulo bias the first 8 would be ~25% more frequent.
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::map<char, int> counts;
  for (int i = 0; i < 200; ++i) {
    const auto password = generate_password({310, alphabet});
    REQUIRE(password);
    for (char c : *password)
      ++counts[c];
  }
  const double expected = 200.0 * 310 / 62; // 1000 each
  double first8 = 0;
  double last8 = 0;
  for (size_t i = 0; i < 8; ++i) {
    first8 += counts[alphabet[i]];
    last8 += counts[alphabet[alphabet.size() - 1 - i]];
  }
  CHECK(first8 / 8 < expected * 1.1);
  CHECK(first8 / last8 < 1.1);
}

TEST_CASE("the SCRAM verifier is computed on the client and hides the password") {
  auto v = scram_verifier("correct horse battery staple", "myapp");
  REQUIRE(v);
  CHECK(v->rfind("SCRAM-SHA-256$4096:", 0) == 0);
  CHECK(v->find("correct horse") == std::string::npos);
  CHECK(*scram_verifier("correct horse battery staple", "myapp") != *v); // salted
}
