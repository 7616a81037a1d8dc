#pragma once

// The login check's own PostgreSQL client: TCP (+ TLS as sslmode says), the startup message,
// SCRAM-SHA-256 and the wait for ReadyForQuery, then Terminate. No query is sent: the server
// reports server_version when the session starts, and reaching ReadyForQuery is what proves the
// credentials log in to the database (CONNECT is checked before it).
//
// Why not libpq: its SCRAM client spends 3.9 ms of CPU per login deriving the salted password
// (pg/scram.hpp says why), and right after the operator set a password it already holds that
// salted password: with it the check derives nothing.
//
// It answers only what it can answer exactly like libpq would; everything else is `unsupported`
// and the caller logs in with libpq instead: sslmode allow, verify-ca/verify-full without a CA
// file, a TLS handshake or verification failure (libpq gives the authoritative error), a server
// that refuses TLS where it is required, an authentication method other than SCRAM-SHA-256 (or
// none), a non-ASCII password (SASLprep), a Unix socket host.
//
// Guarantees: the password never leaves the process (only the SCRAM proof does); nothing read
// from the server is logged; the server's signature is checked (a server that does not know the
// verifier cannot pass); every wait is bounded by connect_timeout; the socket is registered with
// the job's socket_cutter while it is open.

#include "common/socket_cutter.hpp"
#include "pg/error.hpp"
#include "pg/scram.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dbuser::pg {

struct login_endpoint {
  std::string host;
  int port = 5432;
  std::string ssl_mode = "prefer";
  std::string ca_path; // sslrootcert; empty: the server's certificate is not verified
  std::chrono::seconds connect_timeout{10};
  std::string application_name = "dbuser-operator-login-check";
};

struct native_login {
  bool unsupported = false;     // the caller logs in with libpq instead
  bool ok = false;
  std::string server_version;   // ParameterStatus server_version
  std::optional<error> failure; // when !ok and supported: the server's error or why it failed
};

// One per executor: holds the TLS context (the CA file read once).
class login_client {
public:
  explicit login_client(login_endpoint endpoint);
  ~login_client();
  login_client(const login_client&) = delete;
  login_client& operator=(const login_client&) = delete;

  // Logs in as `role` with `password` to `database`. `known`: the keys the password's current
  // verifier was made from, if the caller has them (used when the server's salt and iteration
  // count are theirs). `secrets` are redacted from any message.
  [[nodiscard]] native_login check(std::string_view role, std::string_view password,
                                   std::string_view database, const scram_keys* known,
                                   socket_cutter* cutter,
                                   const std::vector<std::string>& secrets) const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// The client side of SCRAM-SHA-256 without channel binding ("n,,"), as PostgreSQL speaks it
// (the user name is sent empty: the server uses the startup packet's). Exposed for tests.
class scram_client {
public:
  explicit scram_client(std::string nonce) : nonce_(std::move(nonce)) {}
  [[nodiscard]] std::string first_message() const { return "n,," + first_bare(); }
  // The client-final message for the server-first message, or nullopt when it is malformed or its
  // nonce does not extend ours. Derives the keys unless `known` matches the salt and iterations.
  [[nodiscard]] std::optional<std::string> final_message(std::string_view server_first,
                                                         std::string_view password,
                                                         const scram_keys* known);
  // Whether the server-final message carries the server's valid signature.
  [[nodiscard]] bool server_verified(std::string_view server_final) const;

private:
  [[nodiscard]] std::string first_bare() const { return "n=,r=" + nonce_; }
  std::string nonce_;
  std::string auth_message_;
  std::array<unsigned char, 32> server_signature_{};
};

} // namespace dbuser::pg
