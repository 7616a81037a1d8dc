#pragma once

// Passwords and their SCRAM-SHA-256 verifiers. The plaintext lives only in the caller's Secret and
// in the login check; the server only ever receives the verifier.

#include "pg/error.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace dbuser::pg {

inline constexpr std::string_view url_safe_alphabet =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
inline constexpr std::size_t min_password_length = 32;

struct password_options {
  std::size_t length = 40;                     // at least min_password_length
  std::string_view alphabet = url_safe_alphabet; // 2–256 distinct bytes
};

// A password from OpenSSL's CSPRNG (RAND_bytes), each character uniform over the alphabet
// (rejection sampling: no modulo bias). `invalid` for a short length or a bad alphabet,
// `internal` when the CSPRNG fails.
[[nodiscard]] result<std::string> generate_password(const password_options& options = {});

// The SCRAM-SHA-256 verifier ("SCRAM-SHA-256$4096:salt$stored:server") of `password` for `role`,
// computed on the client by libpq's PQencryptPasswordConn with the explicit algorithm (it does not
// contact any server). Errors never contain the password.
[[nodiscard]] result<std::string> scram_verifier(std::string_view password, std::string_view role);

} // namespace dbuser::pg
