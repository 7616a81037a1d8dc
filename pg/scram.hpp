#pragma once

// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL uses it, on the client: the verifier a role
// is created with, and the client side of the authentication exchange (pg/login.hpp).
//
// Why not libpq's: PQencryptPasswordConn and libpq's SCRAM client compute PBKDF2 with one
// HMAC_Init_ex per iteration, and with OpenSSL 3.0 each of those fetches SHA-256 from the provider
// store again (a locked hash-table lookup): 3.9 ms per verifier and per login. PBKDF2 here starts
// each HMAC from the two SHA-256 states of its key: 0.4 ms (bench/README.md, "Operator CPU"). The
// salted password derived for a new verifier is also what the login check after it needs, so that
// check derives nothing.
//
// The keys are password-equivalent: they are wiped on destruction and never logged.

#include "pg/error.hpp"

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace dbuser::pg {

inline constexpr int scram_iterations = 4096;   // PostgreSQL's default scram_iterations
inline constexpr std::size_t scram_salt_length = 16; // PostgreSQL's SCRAM_DEFAULT_SALT_LEN

// SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations), with the salt it was derived
// from.
struct scram_keys {
  std::string salt; // raw bytes
  int iterations = scram_iterations;
  std::array<unsigned char, 32> salted_password{};

  scram_keys() = default;
  scram_keys(const scram_keys&) = default;
  scram_keys& operator=(const scram_keys&) = default;
  ~scram_keys();
};

// The password as SCRAM hashes it: PostgreSQL applies SASLprep, which leaves pure ASCII as it is.
// Other passwords are left to libpq (nullopt here), which implements SASLprep.
[[nodiscard]] bool scram_ascii(std::string_view password);

// The keys of an ASCII password for a salt; nullopt for a non-ASCII password, an iteration count
// below 1 or a failure of OpenSSL.
[[nodiscard]] std::optional<scram_keys> derive_scram_keys(std::string_view password,
                                                          std::string_view salt, int iterations);

// "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>" (base64), as pg_authid holds it.
[[nodiscard]] std::string scram_verifier_of(const scram_keys& keys);

// A new verifier (a fresh random salt) with the keys it was made from; `keys` is empty when
// libpq computed the verifier (a non-ASCII password).
struct scram_secret {
  std::string verifier;
  std::optional<scram_keys> keys;
};
// `iterations`: PBKDF2's count (--scram-iterations). PostgreSQL pays it too, on every password
// set: its empty-password check derives a key from "" with the verifier's count (~1 µs per
// iteration here; bench/README.md). A non-ASCII password's verifier is libpq's: always 4096.
[[nodiscard]] result<scram_secret> make_scram_secret(std::string_view password,
                                                     std::string_view role,
                                                     int iterations = scram_iterations);

// HMAC-SHA-256 and SHA-256 (32 bytes each); a digest as a string of its bytes (for
// common/base64.hpp).
[[nodiscard]] std::array<unsigned char, 32> hmac_sha256(const unsigned char* key,
                                                        std::size_t key_len,
                                                        std::string_view data);
[[nodiscard]] std::array<unsigned char, 32> sha256(const unsigned char* data, std::size_t len);
[[nodiscard]] inline std::string_view as_text(const std::array<unsigned char, 32>& digest) {
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

} // namespace dbuser::pg
