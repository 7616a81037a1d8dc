#pragma once

// mysql_native_password hashes, computed on the client. The plaintext lives only in the caller's
// Secret and in the login check; the server only ever receives the hash.
//
// Password generation is engine-neutral and is not duplicated here: callers use
// pg::generate_password (OpenSSL CSPRNG, URL-safe alphabet). mysql/ does not depend on pg/.

#include "mysql/error.hpp"

#include <string>
#include <string_view>

namespace dbuser::mysql {

// "*" + uppercase hex(SHA1(SHA1(password))), via OpenSSL: the authentication string the server
// stores for mysql_native_password (what PASSWORD('...') returns). `invalid` for an empty
// password (the server would store an empty string: no password at all), `internal` when OpenSSL
// fails. Errors never contain the password.
[[nodiscard]] result<std::string> native_password_hash(std::string_view password);

// "*" followed by exactly 40 hexadecimal digits (either case).
[[nodiscard]] bool is_native_password_hash(std::string_view text);

} // namespace dbuser::mysql
