#pragma once

// Credentials for the api tests, by the fields that matter to them.
#include "api/credentials.hpp"

#include <optional>
#include <string>

namespace dbuser::test {

inline api::credentials creds(std::string password,
                              std::optional<std::string> pending = std::nullopt,
                              std::string rotated_for = {}, std::string updated_at = {}) {
  api::credentials c;
  c.password = std::move(password);
  c.pending = std::move(pending);
  c.rotated_for = std::move(rotated_for);
  c.updated_at = std::move(updated_at);
  return c;
}

} // namespace dbuser::test
