#include "common/db_link.hpp"

#include "common/private_file.hpp"

#include <utility>

#include <unistd.h>

namespace dbuser {

expected<db_link, db_link_error> db_link::make(const db_endpoint& e, std::string_view ca_prefix) {
  if (e.port <= 0 || e.port > 65535)
    return make_unexpected(
      db_link_error{db_error_kind::invalid, "port " + std::to_string(e.port) + " is out of range"});
  if (e.host.empty() || e.admin_user.empty())
    return make_unexpected(
      db_link_error{db_error_kind::invalid, "host and admin user are required"});
  db_link link;
  if (!e.ca_pem.empty()) {
    auto path = write_private_file(ca_prefix, e.ca_pem);
    if (!path)
      return make_unexpected(
        db_link_error{db_error_kind::internal, path.error() + " for the CA certificate"});
    link.ca_path_ = *path;
    link.owned_ca_.reset(new std::string(std::move(*path)));
  } else {
    link.ca_path_ = std::string(e.ca_file);
  }
  return link;
}

void db_link::file_remover::operator()(const std::string* path) const {
  ::unlink(path->c_str());
  delete path;
}

void db_link::watch_admin(int fd) {
  if (cutter_)
    admin_ = cutter_->watch(fd);
}

socket_cutter::lease db_link::watch(int fd) const {
  return cutter_ ? cutter_->watch(fd) : socket_cutter::lease();
}

std::string ping_context(std::string_view host, int port) {
  return "while checking that " + std::string(host) + ":" + std::to_string(port) + " answers";
}

} // namespace dbuser
