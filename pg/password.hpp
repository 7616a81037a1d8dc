#pragma once

// Passwords and their SCRAM-SHA-256 verifiers. The plaintext lives only in the caller's Secret and
// in the login check; the server only ever receives the verifier.
//
// Password generation is engine-neutral (MySQLUser uses it too): a policy says how long, which
// character classes and at least how many of each; generate_password() places the required
// characters, fills the rest from every enabled class, and shuffles, all from OpenSSL's CSPRNG
// with rejection sampling (no modulo bias).

#include "pg/error.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace dbuser::pg {

inline constexpr std::string_view lowercase_letters = "abcdefghijklmnopqrstuvwxyz";
inline constexpr std::string_view uppercase_letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
inline constexpr std::string_view decimal_digits = "0123456789";
// RFC 3986's unreserved punctuation: never percent-encoded in a URI, and none of the characters
// that break DSNs and drivers (@ : / ? # % ' " ; = \ and space).
inline constexpr std::string_view default_symbols = "-_.~";
inline constexpr std::size_t min_password_length = 16;
inline constexpr std::size_t max_password_length = 128;
inline constexpr std::size_t default_password_length = 32;

// One character class of a policy: whether it is used, and how many of its characters a
// password holds at least (a minimum above 0 for an unused class is unsatisfiable).
struct char_class {
  bool used = true;
  std::size_t min = 0;
};

struct password_policy {
  std::size_t length = default_password_length; // min_password_length .. max_password_length
  char_class lowercase;
  char_class uppercase;
  char_class digits;
  char_class symbols;
  std::string symbol_set{default_symbols}; // distinct printable ASCII punctuation
};

// Why a policy cannot be satisfied (a length out of range, minimums adding up to more than the
// length, a minimum for an unused class, symbols with an empty or invalid set, fewer than two
// characters to draw from), or nothing.
[[nodiscard]] std::optional<std::string> policy_problem(const password_policy& policy);

// A password that satisfies `policy`: each required character uniform over its class, the others
// uniform over every used class, then a uniform shuffle. `invalid` for an unsatisfiable policy,
// `internal` when the CSPRNG fails.
[[nodiscard]] result<std::string> generate_password(const password_policy& policy = {});

// The SCRAM-SHA-256 verifier ("SCRAM-SHA-256$4096:salt$stored:server") of `password` for `role`,
// computed on the client (pg/scram.hpp: OpenSSL's PBKDF2 for an ASCII password, libpq's
// PQencryptPasswordConn otherwise; no server is contacted). Errors never contain the password.
[[nodiscard]] result<std::string> scram_verifier(std::string_view password, std::string_view role);

} // namespace dbuser::pg
