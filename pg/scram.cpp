#include "pg/scram.hpp"

#include <cstring>
#include <memory>

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace dbuser::pg {

namespace {

// SHA-256 fetched once from the default provider: every PBKDF2 and HMAC below reuses it.
const EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md != nullptr ? md : EVP_sha256();
}

// The verifier computed by libpq (which applies SASLprep to a non-ASCII password).
result<std::string> libpq_verifier(const std::string& password, const std::string& role) {
  // An unconnected handle: the invalid keyword makes libpq stop at parsing, with no network.
  // PQencryptPasswordConn needs a PGconn only for its error buffer when the algorithm is given.
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectStart("dbuser_unconnected=1"),
                                                    &PQfinish);
  if (!conn)
    return make_unexpected(make_error(error_kind::internal, "libpq could not allocate a handle"));
  char* v = PQencryptPasswordConn(conn.get(), password.c_str(), role.c_str(), "scram-sha-256");
  if (v == nullptr)
    return make_unexpected(
      make_error(error_kind::internal, "libpq could not compute the SCRAM-SHA-256 verifier",
                 "while computing the verifier of role " + role));
  std::string out(v);
  PQfreemem(v);
  return out;
}

} // namespace

scram_keys::~scram_keys() { OPENSSL_cleanse(salted_password.data(), salted_password.size()); }

bool scram_ascii(std::string_view password) {
  for (char c : password)
    if ((static_cast<unsigned char>(c) & 0x80U) != 0)
      return false;
  return true;
}

std::optional<scram_keys> derive_scram_keys(std::string_view password, std::string_view salt,
                                            int iterations) {
  if (!scram_ascii(password) || iterations < 1)
    return std::nullopt;
  scram_keys k;
  k.salt = std::string(salt);
  k.iterations = iterations;
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), iterations, sha256_md(),
                        static_cast<int>(k.salted_password.size()), k.salted_password.data())
      != 1)
    return std::nullopt;
  return k;
}

std::array<unsigned char, 32> hmac_sha256(const unsigned char* key, std::size_t key_len,
                                          std::string_view data) {
  std::array<unsigned char, 32> out{};
  unsigned int len = 0;
  HMAC(sha256_md(), key, static_cast<int>(key_len),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return out;
}

std::array<unsigned char, 32> sha256(const unsigned char* data, std::size_t len) {
  std::array<unsigned char, 32> out{};
  unsigned int n = 0;
  EVP_Digest(data, len, out.data(), &n, sha256_md(), nullptr);
  return out;
}

std::string base64(const unsigned char* data, std::size_t len) {
  std::string out(4 * ((len + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data,
                                static_cast<int>(len));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> unbase64(std::string_view text) {
  if (text.size() % 4 != 0)
    return std::nullopt;
  std::string out(3 * (text.size() / 4), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0)
    return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  std::size_t len = static_cast<std::size_t>(n);
  for (std::size_t i = text.size(); i > 0 && text[i - 1] == '='; --i)
    --len;
  out.resize(len);
  return out;
}

std::string scram_verifier_of(const scram_keys& k) {
  const auto client_key = hmac_sha256(k.salted_password.data(), k.salted_password.size(),
                                      "Client Key");
  const auto stored_key = sha256(client_key.data(), client_key.size());
  const auto server_key = hmac_sha256(k.salted_password.data(), k.salted_password.size(),
                                      "Server Key");
  return "SCRAM-SHA-256$" + std::to_string(k.iterations) + ":"
         + base64(reinterpret_cast<const unsigned char*>(k.salt.data()), k.salt.size()) + "$"
         + base64(stored_key.data(), stored_key.size()) + ":"
         + base64(server_key.data(), server_key.size());
}

result<scram_secret> make_scram_secret(std::string_view password, std::string_view role) {
  const std::string pw(password);
  const std::string user(role);
  if (pw.find('\0') != std::string::npos || user.find('\0') != std::string::npos)
    return make_unexpected(
      make_error(error_kind::invalid, "a password or role name may not contain a NUL byte"));
  scram_secret s;
  if (!scram_ascii(pw)) {
    auto v = libpq_verifier(pw, user);
    if (!v)
      return make_unexpected(v.error());
    s.verifier = std::move(*v);
    return s;
  }
  std::string salt(scram_salt_length, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), static_cast<int>(salt.size()))
      != 1)
    return make_unexpected(make_error(error_kind::internal, "OpenSSL RAND_bytes failed"));
  s.keys = derive_scram_keys(pw, salt, scram_iterations);
  if (!s.keys)
    return make_unexpected(
      make_error(error_kind::internal, "OpenSSL could not compute PBKDF2-HMAC-SHA-256",
                 "while computing the verifier of role " + user));
  s.verifier = scram_verifier_of(*s.keys);
  return s;
}

} // namespace dbuser::pg
