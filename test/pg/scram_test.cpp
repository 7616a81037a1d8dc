#include "common/base64.hpp"
#include "pg/login.hpp"
#include "pg/password.hpp"
#include "pg/scram.hpp"

#include <catch2/catch.hpp>

using namespace dbuser::pg;

namespace {

// RFC 7677's example: password "pencil", this salt, 4096 iterations; the expected keys and the
// messages below were computed independently (Python hashlib/hmac).
const std::string rfc_salt_b64 = "W22ZaJ0SNY7soEsUEjb6gQ==";
const std::string rfc_server_first =
  "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

scram_keys rfc_keys() {
  auto salt = dbuser::base64_decode(rfc_salt_b64);
  REQUIRE(salt);
  auto k = derive_scram_keys("pencil", *salt, 4096);
  REQUIRE(k);
  return *k;
}

} // namespace

TEST_CASE("scram: the verifier of RFC 7677's example is PostgreSQL's format with its keys") {
  CHECK(scram_verifier_of(rfc_keys())
        == "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
           ":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
}

TEST_CASE("scram: a new secret has a fresh 16-byte salt and keys that give its verifier") {
  auto a = make_scram_secret("correct horse battery staple", "myapp");
  auto b = make_scram_secret("correct horse battery staple", "myapp");
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(a->keys);
  CHECK(a->keys->salt.size() == scram_salt_length);
  CHECK(a->keys->iterations == 4096);
  CHECK(a->verifier == scram_verifier_of(*a->keys));
  CHECK(a->verifier != b->verifier);
  CHECK(a->verifier.rfind("SCRAM-SHA-256$4096:", 0) == 0);
  CHECK(a->verifier.find("correct horse") == std::string::npos);
}

TEST_CASE("scram: the verifier and its keys have the iteration count asked for") {
  auto s = make_scram_secret("correct horse battery staple", "myapp", 1024);
  REQUIRE(s);
  REQUIRE(s->keys);
  CHECK(s->keys->iterations == 1024);
  CHECK(s->verifier.rfind("SCRAM-SHA-256$1024:", 0) == 0);
  CHECK(s->verifier == scram_verifier_of(*s->keys));
  // The same password and salt with 4096 iterations give other keys.
  auto other = derive_scram_keys("correct horse battery staple", s->keys->salt, 4096);
  REQUIRE(other);
  CHECK(other->salted_password != s->keys->salted_password);
}

TEST_CASE("scram: a non-ASCII password is left to libpq (SASLprep) and has no keys") {
  auto s = make_scram_secret("p\xc3\xa4ssw\xc3\xb6rd-\xe2\x85\xa8", "myapp");
  REQUIRE(s);
  CHECK_FALSE(s->keys);
  CHECK(s->verifier.rfind("SCRAM-SHA-256$4096:", 0) == 0);
  CHECK_FALSE(derive_scram_keys("p\xc3\xa4ss", "salt", 4096));
}

TEST_CASE("scram client: proof and server signature of RFC 7677's exchange, with or without keys") {
  const auto keys = rfc_keys();
  for (const scram_keys* known : {static_cast<const scram_keys*>(nullptr), &keys}) {
    scram_client c("rOprNGfwEbeRWgbNEkqO");
    CHECK(c.first_message() == "n,,n=,r=rOprNGfwEbeRWgbNEkqO");
    auto final_message = c.final_message(rfc_server_first, "pencil", known);
    REQUIRE(final_message);
    CHECK(*final_message
          == "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
             "p=qvT2SWdEH5Q06albL+hjSYuUhCG7VndFyzIb7CK4n9k=");
    CHECK(c.server_verified("v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg="));
    CHECK_FALSE(c.server_verified("v=4HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg="));
    CHECK_FALSE(c.server_verified("e=invalid-proof"));
  }
}

TEST_CASE("scram client: keys of another salt are not used") {
  auto other = derive_scram_keys("pencil", "another salt", 4096);
  REQUIRE(other);
  scram_client c("rOprNGfwEbeRWgbNEkqO");
  auto final_message = c.final_message(rfc_server_first, "pencil", &*other);
  REQUIRE(final_message);
  CHECK(c.server_verified("v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg="));
}

TEST_CASE("scram client: a server-first message that does not extend the nonce is refused") {
  scram_client c("rOprNGfwEbeRWgbNEkqO");
  CHECK_FALSE(c.final_message("r=somebodyelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "pencil", nullptr));
  CHECK_FALSE(c.final_message("r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "pencil",
                              nullptr)); // the server added nothing
  CHECK_FALSE(c.final_message("r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0", "pencil",
                              nullptr));
  CHECK_FALSE(c.final_message("r=rOprNGfwEbeRWgbNEkqOx,i=4096", "pencil", nullptr));
  CHECK_FALSE(c.server_verified("v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg="));
}
