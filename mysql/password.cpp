#include "mysql/password.hpp"

#include <array>

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace dbuser::mysql {

namespace {

bool sha1(const unsigned char* data, size_t size, std::array<unsigned char, 20>& out) {
  unsigned int len = 0;
  return EVP_Digest(data, size, out.data(), &len, EVP_sha1(), nullptr) == 1 && len == out.size();
}

} // namespace

result<std::string> native_password_hash(std::string_view password) {
  if (password.empty())
    return make_unexpected(make_error(error_kind::invalid, "the password is empty"));
  std::array<unsigned char, 20> stage1{};
  std::array<unsigned char, 20> stage2{};
  const bool ok =
    sha1(reinterpret_cast<const unsigned char*>(password.data()), password.size(), stage1)
    && sha1(stage1.data(), stage1.size(), stage2);
  OPENSSL_cleanse(stage1.data(), stage1.size()); // SHA1(password) alone is enough to log in
  if (!ok)
    return make_unexpected(make_error(error_kind::internal, "OpenSSL SHA1 failed",
                                      "while computing a mysql_native_password hash"));
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out = "*";
  for (unsigned char b : stage2) {
    out += hex[b >> 4U];
    out += hex[b & 0x0fU];
  }
  return out;
}

bool is_native_password_hash(std::string_view text) {
  if (text.size() != 41 || text.front() != '*')
    return false;
  for (char c : text.substr(1))
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

} // namespace dbuser::mysql
