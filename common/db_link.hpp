#pragma once

// What every engine's executor keeps beside its client library's connection, checked and made
// the same way before anything connects: the endpoint (host, port, admin user), the CA
// certificate handed to the client library (libpq and libmariadb take a path), and the admin
// connection's socket registered with the pool's socket_cutter (common/socket_cutter.hpp). An
// engine adds only what differs: its TLS modes, its connection options, its handle.
//
// Guarantees:
// - A CA certificate given as PEM bytes is written to a 0600 file that the link removes when it
//   goes (a moved-from link removes nothing).
// - The admin socket's lease is given up by forget_admin(), which the engine calls before it
//   closes that socket: the cutter never hits a descriptor number reused by anyone else.

#include "common/db_error_kind.hpp"
#include "common/expected.hpp"
#include "common/socket_cutter.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace dbuser {

// What a target says of its endpoint, whatever the engine.
struct db_endpoint {
  std::string_view host;
  int port = 0;
  std::string_view admin_user;
  std::string_view ca_pem;  // the CA's PEM bytes, or
  std::string_view ca_file; // the path of a PEM file
};

// Why a link could not be made: an invalid endpoint, or the CA file not written (internal).
struct db_link_error {
  db_error_kind kind = db_error_kind::invalid;
  std::string message;
};

class db_link {
public:
  // Checks the endpoint (port in range, host and admin user given) and writes ca_pem, when
  // given, to a private temporary file named after `ca_prefix`. Does not connect.
  [[nodiscard]] static expected<db_link, db_link_error> make(const db_endpoint& e,
                                                            std::string_view ca_prefix);

  // The CA file for the client library; empty when none was given.
  [[nodiscard]] const std::string& ca_path() const { return ca_path_; }

  // Sockets registered from now on go to `cutter` (none: nothing is registered).
  void set_cutter(std::shared_ptr<socket_cutter> cutter) { cutter_ = std::move(cutter); }
  [[nodiscard]] socket_cutter* cutter() const { return cutter_.get(); }
  // The admin connection's socket, just connected: registered until forget_admin().
  void watch_admin(int fd);
  // Call before the admin connection's socket is closed.
  void forget_admin() { admin_.release(); }
  // Another connection's socket (a login check's): registered while the lease lives.
  [[nodiscard]] socket_cutter::lease watch(int fd) const;

private:
  // Removes the file it points to, then forgets it.
  struct file_remover {
    void operator()(const std::string* path) const;
  };
  std::string ca_path_;
  std::unique_ptr<const std::string, file_remover> owned_ca_; // written from ca_pem
  std::shared_ptr<socket_cutter> cutter_;
  socket_cutter::lease admin_;
};

// "while checking that host:port answers": the context of every engine's ping.
[[nodiscard]] std::string ping_context(std::string_view host, int port);

} // namespace dbuser
