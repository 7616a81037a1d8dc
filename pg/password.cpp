#include "pg/password.hpp"

#include <array>
#include <memory>

#include <libpq-fe.h>
#include <openssl/rand.h>

namespace dbuser::pg {

result<std::string> generate_password(const password_options& options) {
  const auto& alphabet = options.alphabet;
  if (options.length < min_password_length)
    return make_unexpected(make_error(error_kind::invalid,
                                      "password length " + std::to_string(options.length)
                                        + " is below the minimum of "
                                        + std::to_string(min_password_length)));
  if (alphabet.size() < 2 || alphabet.size() > 256)
    return make_unexpected(
      make_error(error_kind::invalid, "password alphabet must hold 2 to 256 characters"));
  std::array<bool, 256> seen{};
  for (char c : alphabet) {
    auto& s = seen[static_cast<unsigned char>(c)];
    if (s || c == '\0')
      return make_unexpected(make_error(error_kind::invalid,
                                        "password alphabet must hold distinct, non-NUL characters"));
    s = true;
  }
  // Bytes at or above `limit` are rejected so that every character is equally likely.
  const unsigned limit = 256U - (256U % static_cast<unsigned>(alphabet.size()));
  std::string out;
  out.reserve(options.length);
  std::array<unsigned char, 64> buf{};
  while (out.size() < options.length) {
    if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1)
      return make_unexpected(make_error(error_kind::internal, "OpenSSL RAND_bytes failed"));
    for (unsigned char b : buf) {
      if (b >= limit)
        continue;
      out += alphabet[b % alphabet.size()];
      if (out.size() == options.length)
        break;
    }
  }
  OPENSSL_cleanse(buf.data(), buf.size());
  return out;
}

result<std::string> scram_verifier(std::string_view password, std::string_view role) {
  const std::string pw(password);
  const std::string user(role);
  if (pw.find('\0') != std::string::npos || user.find('\0') != std::string::npos)
    return make_unexpected(
      make_error(error_kind::invalid, "a password or role name may not contain a NUL byte"));
  // An unconnected handle: the invalid keyword makes libpq stop at parsing, with no network.
  // PQencryptPasswordConn needs a PGconn only for its error buffer when the algorithm is given.
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectStart("dbuser_unconnected=1"),
                                                    &PQfinish);
  if (!conn)
    return make_unexpected(make_error(error_kind::internal, "libpq could not allocate a handle"));
  char* v = PQencryptPasswordConn(conn.get(), pw.c_str(), user.c_str(), "scram-sha-256");
  if (v == nullptr)
    return make_unexpected(
      make_error(error_kind::internal, "libpq could not compute the SCRAM-SHA-256 verifier",
                 "while computing the verifier of role " + user));
  std::string out(v);
  PQfreemem(v);
  return out;
}

} // namespace dbuser::pg
