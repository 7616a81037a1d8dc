#pragma once

// The executor: the only place that talks to MariaDB/MySQL (through the MariaDB C client,
// libmariadb, kept out of this header: executor.cpp is the only file that includes <mysql.h>).
// One executor per server target and per thread of use: it owns one admin connection (opened when
// first needed, dropped when broken) and is not thread-safe. It blocks: call it from a detached
// actor only.
//
// Every connection is TCP (never the socket, even for "localhost"), utf8mb4, with connect/read/
// write timeouts, LOCAL INFILE off, and the connection attribute program_name=dbuser-operator.
// Errors are mysql::error values with context; no password or hash ever appears in them.
//
// TLS modes (libmariadb 3.3 options):
//   disable         no TLS.
//   preferred       TLS when the server offers it, else plaintext (MYSQL_OPT_SSL_ENFORCE off,
//                   TLS requested).
//   required        TLS or fail (2026), the certificate is not checked.
//   verify-ca       TLS and the chain must verify against the CA (ca_file / ca_pem).
//   verify-identity verify-ca and the host name must match (MYSQL_OPT_SSL_VERIFY_SERVER_CERT).

#include "common/pimpl.hpp"
#include "common/socket_cutter.hpp"
#include "mysql/error.hpp"
#include "mysql/plan.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dbuser::mysql {

struct target {
  std::string host;
  int port = 3306;
  std::string admin_user;
  std::string admin_password;
  std::string tls_mode = "preferred"; // disable|preferred|required|verify-ca|verify-identity
  std::string ca_file;                // PEM file of the CA that signed the server, or
  std::string ca_pem;                 // the PEM bytes themselves (written to a 0600 file)
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds read_timeout{30}; // also the write timeout
};

// The outcome of logging in as a managed account. A failed login is a normal result, not an
// error.
struct login_result {
  bool ok = false;
  double latency_ms = 0;        // connect + first query
  std::string server_version;   // "10.11.19-MariaDB-0+deb12u1"
  std::string message;          // why it failed (redacted), empty on success
  std::optional<error> failure; // classified: auth, permission (database), unavailable, ...
};

class executor {
public:
  // Checks the target (tls_mode, port, CA for verify-*) and writes ca_pem to a private temp file
  // when given. Does not connect. Every socket it opens is registered with `cutter` (when
  // given), so that another thread can cut a blocked call short (common/socket_cutter.hpp).
  [[nodiscard]] static result<executor> create(target t,
                                               std::shared_ptr<socket_cutter> cutter = nullptr);

  // The account (existence, claim, max connections, global privileges), the desired databases,
  // and every database-level grant the account holds.
  [[nodiscard]] result<observed_state> observe(const desired_account& desired);
  // Only the account part of observe(): what ownership_of needs.
  [[nodiscard]] result<observed_account> observe_account(std::string_view user,
                                                         std::string_view host);
  // Runs the actions in order (each commits on its own: account statements are DDL). When one
  // fails, its `undo` runs first. Returns the descriptions of what was done (for Events).
  [[nodiscard]] result<std::vector<std::string>> apply(const std::vector<action>& actions);
  // observe → plan → apply. Converging an already converged account does nothing and returns {}.
  [[nodiscard]] result<std::vector<std::string>> converge(const desired_account& desired);

  [[nodiscard]] result<bool> database_exists(std::string_view database);
  // CREATE DATABASE IF NOT EXISTS; never drops one. True if it was missing.
  [[nodiscard]] result<bool> ensure_database(std::string_view database);
  // ALTER USER ... IDENTIFIED WITH mysql_native_password AS '<hash>' (never a plaintext).
  [[nodiscard]] result<void> set_password(std::string_view user, std::string_view host,
                                          std::string_view hash);
  // DROP USER IF EXISTS and the release of the claim of `owner` — only if the account is ours
  // or absent: `conflict` when it is unmanaged or owned by another (nothing is dropped). Data is
  // kept: databases are never dropped. Returns the descriptions of what was done.
  [[nodiscard]] result<std::vector<std::string>>
  drop_user(std::string_view user, std::string_view host, std::string_view owner);

  // Connects as `user` with `password` to `database` over TCP with the target's TLS mode (a fresh
  // connection, not cached) and runs SELECT VERSION().
  [[nodiscard]] login_result login_check(std::string_view user, std::string_view password,
                                         std::string_view database) const;

  // Connects as the admin and runs SELECT 1: is the target answering?
  [[nodiscard]] result<void> ping();

private:
  struct impl;
  explicit executor(std::unique_ptr<impl> p);
  pimpl<impl> impl_; // movable, not copyable
};

} // namespace dbuser::mysql
