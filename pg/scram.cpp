// OpenSSL 3.0 deprecates the low-level SHA-256 calls, but its EVP equivalents allocate and look up
// a provider implementation per HMAC: PKCS5_PBKDF2_HMAC copies an EVP context on each of the
// 4096 iterations (1.2 ms per derivation) where copying a SHA256_CTX struct costs nothing
// (0.4 ms). The arithmetic is RFC 2104 (HMAC) and RFC 8018 (PBKDF2), checked against RFC 7677's
// example and Python's hashlib in test/pg/scram_test.cpp.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "pg/scram.hpp"

#include "common/base64.hpp"

#include <cstring>
#include <memory>

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

namespace dbuser::pg {

namespace {

constexpr std::size_t sha256_block = 64;

// The SHA-256 states after the inner and outer padded keys of HMAC(key, .): each HMAC with that
// key starts from a copy of them.
class hmac_key {
public:
  hmac_key(const unsigned char* key, std::size_t len) {
    std::array<unsigned char, sha256_block> k{};
    if (len > sha256_block)
      SHA256(key, len, k.data());
    else if (len > 0)
      std::memcpy(k.data(), key, len);
    std::array<unsigned char, sha256_block> pad{};
    for (std::size_t i = 0; i < pad.size(); ++i)
      pad[i] = k[i] ^ 0x36U;
    SHA256_Init(&inner_);
    SHA256_Update(&inner_, pad.data(), pad.size());
    for (std::size_t i = 0; i < pad.size(); ++i)
      pad[i] = k[i] ^ 0x5cU;
    SHA256_Init(&outer_);
    SHA256_Update(&outer_, pad.data(), pad.size());
    OPENSSL_cleanse(k.data(), k.size());
    OPENSSL_cleanse(pad.data(), pad.size());
  }
  hmac_key(const hmac_key&) = delete;
  hmac_key& operator=(const hmac_key&) = delete;
  ~hmac_key() {
    OPENSSL_cleanse(&inner_, sizeof inner_);
    OPENSSL_cleanse(&outer_, sizeof outer_);
  }

  // HMAC of the concatenation of `parts`.
  void mac(std::initializer_list<std::pair<const void*, std::size_t>> parts,
           unsigned char* out) const {
    SHA256_CTX c = inner_;
    for (const auto& [data, len] : parts)
      SHA256_Update(&c, data, len);
    SHA256_Final(out, &c);
    c = outer_;
    SHA256_Update(&c, out, SHA256_DIGEST_LENGTH);
    SHA256_Final(out, &c);
    OPENSSL_cleanse(&c, sizeof c);
  }

private:
  SHA256_CTX inner_{};
  SHA256_CTX outer_{};
};

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
  // PBKDF2 with one output block: U1 = HMAC(P, salt || INT(1)), Ui = HMAC(P, Ui-1), the XOR of all.
  const hmac_key prf(reinterpret_cast<const unsigned char*>(password.data()), password.size());
  static constexpr unsigned char block_one[4] = {0, 0, 0, 1};
  std::array<unsigned char, SHA256_DIGEST_LENGTH> u{};
  prf.mac({{salt.data(), salt.size()}, {block_one, sizeof block_one}}, u.data());
  auto& out = k.salted_password;
  std::memcpy(out.data(), u.data(), out.size());
  for (int i = 1; i < iterations; ++i) {
    prf.mac({{u.data(), u.size()}}, u.data());
    for (std::size_t j = 0; j < out.size(); ++j)
      out[j] ^= u[j];
  }
  OPENSSL_cleanse(u.data(), u.size());
  return k;
}

std::array<unsigned char, 32> hmac_sha256(const unsigned char* key, std::size_t key_len,
                                          std::string_view data) {
  std::array<unsigned char, 32> out{};
  hmac_key(key, key_len).mac({{data.data(), data.size()}}, out.data());
  return out;
}

std::array<unsigned char, 32> sha256(const unsigned char* data, std::size_t len) {
  std::array<unsigned char, 32> out{};
  SHA256(data, len, out.data());
  return out;
}

std::string scram_verifier_of(const scram_keys& k) {
  const auto client_key = hmac_sha256(k.salted_password.data(), k.salted_password.size(),
                                      "Client Key");
  const auto stored_key = sha256(client_key.data(), client_key.size());
  const auto server_key = hmac_sha256(k.salted_password.data(), k.salted_password.size(),
                                      "Server Key");
  return "SCRAM-SHA-256$" + std::to_string(k.iterations) + ":"
         + base64_encode(k.salt) + "$" + base64_encode(as_text(stored_key)) + ":"
         + base64_encode(as_text(server_key));
}

result<scram_secret> make_scram_secret(std::string_view password, std::string_view role,
                                       int iterations) {
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
  s.keys = derive_scram_keys(pw, salt, iterations);
  if (!s.keys)
    return make_unexpected(
      make_error(error_kind::internal, "OpenSSL could not compute PBKDF2-HMAC-SHA-256",
                 "while computing the verifier of role " + user));
  s.verifier = scram_verifier_of(*s.keys);
  return s;
}

} // namespace dbuser::pg
