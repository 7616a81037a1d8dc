#include "pg/error.hpp"

#include <regex>

namespace dbuser::pg {

std::string error::to_string() const {
  std::string out = described();
  if (!sqlstate.empty())
    out += " (SQLSTATE " + sqlstate + ")";
  return out;
}

error_kind kind_of_sqlstate(std::string_view s) {
  if (s.size() != 5)
    return error_kind::internal;
  const std::string_view cls = s.substr(0, 2);
  if (cls == "08")
    return error_kind::unavailable; // connection exception
  if (s == "40001" || s == "40P01")
    return error_kind::transient; // serialization failure, deadlock
  if (cls == "53")
    return error_kind::transient; // insufficient resources (too many connections, ...)
  if (s.substr(0, 4) == "57P0")
    return error_kind::unavailable; // admin/crash shutdown, cannot connect now, database dropped
  if (s == "57014")
    return error_kind::transient; // query canceled: statement timeout
  // Catalog races between concurrent sessions: "tuple concurrently updated" (XX000) when two
  // sessions GRANT on one object, and a unique violation (23505) when two CREATE DATABASE race.
  // The statements the operator sends insert no user data, so both mean "try again".
  if (s == "XX000" || s == "23505")
    return error_kind::transient;
  if (s == "42501")
    return error_kind::permission;
  if (cls == "54")
    return error_kind::limit; // program limit exceeded: the same statement fails the same way
  if (cls == "28")
    return error_kind::auth;
  if (s == "42710" || s == "42P04" || s == "2BP01" || s == "55006")
    return error_kind::conflict; // duplicate object/database, dependent objects, object in use
  if (cls == "42" || cls == "22" || cls == "3D" || cls == "3F" || cls == "0L" || cls == "0P")
    return error_kind::invalid;
  return error_kind::internal;
}

error make_error(error_kind kind, std::string message, std::string context) {
  return make_db_error<error>(kind, std::move(message), std::move(context));
}

error sql_error(std::string_view sqlstate, std::string_view server_message, std::string context,
                const std::vector<std::string>& secrets) {
  error e = make_error(kind_of_sqlstate(sqlstate), redact(server_message, secrets),
                       std::move(context));
  e.sqlstate = std::string(sqlstate);
  if (e.kind == error_kind::limit)
    e.message = limit_message(e.message);
  return e;
}

std::string limit_message(const std::string& server_message) {
  std::string out = "PostgreSQL limit reached: " + server_message + ". Retrying will not help";
  if (server_message.find("row is too big") != std::string::npos)
    out += ": a catalog row holds at most 8 KB, and an object's privilege list (ACL) is kept in "
           "it: a table, view or sequence takes about 2,440 grantees. The operator grants "
           "through privilege groups (roles dbuser-g-*); revoke the privileges granted to many "
           "roles one by one on that object (see \\dp), then change this resource or wait for "
           "its next resync";
  else
    out += ": reduce what reached the limit (the statement above), then change this resource "
           "or wait for its next resync";
  return out;
}

std::string redact(std::string_view text, const std::vector<std::string>& secrets) {
  // 1. Drop the statement echo: everything from "Query was:" on, and "LINE n:" lines followed by
  //    their caret line.
  std::string s(text);
  if (auto q = s.find("Query was:"); q != std::string::npos)
    s.erase(q);
  std::string out;
  size_t pos = 0;
  bool skip_caret = false;
  while (pos < s.size()) {
    size_t nl = s.find('\n', pos);
    std::string line = s.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? s.size() : nl + 1;
    if (line.rfind("LINE ", 0) == 0) {
      skip_caret = true;
      continue;
    }
    if (skip_caret && line.find_first_not_of(" ^") == std::string::npos) {
      skip_caret = false;
      continue;
    }
    skip_caret = false;
    if (!out.empty())
      out += ' ';
    out += line;
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == '\n'))
    out.pop_back();
  // 2. Anything shaped like a verifier.
  static const std::regex scram(R"(SCRAM-SHA-256\$[^\s']*)");
  static const std::regex md5(R"(md5[0-9a-f]{32})");
  out = std::regex_replace(out, scram, "<redacted>");
  out = std::regex_replace(out, md5, "<redacted>");
  // 3. Every known secret.
  redact_secrets(out, secrets);
  return out;
}

} // namespace dbuser::pg
