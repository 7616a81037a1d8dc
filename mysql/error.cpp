#include "mysql/error.hpp"

#include <regex>

namespace dbuser::mysql {

std::string error::to_string() const {
  std::string out = described();
  if (code != 0 && !sqlstate.empty())
    out += " (MySQL error " + std::to_string(code) + ", SQLSTATE " + sqlstate + ")";
  else if (code != 0)
    out += " (MySQL error " + std::to_string(code) + ")";
  return out;
}

error_kind kind_of_code(unsigned code) {
  switch (code) {
    // Client library: cannot connect, server gone, connection lost, out of sync after a loss.
    case 2001: // cannot create socket
    case 2002: // cannot connect through socket
    case 2003: // cannot connect to host
    case 2004: // cannot create TCP/IP socket
    case 2005: // unknown host
    case 2006: // server has gone away
    case 2011: // TCP/IP connection error
    case 2012: // handshake error
    case 2013: // lost connection during query
    case 2047: // wrong or unknown protocol
    case 2048: // invalid connection handle
    case 2055: // lost connection at '%s', system error
    // Server: going away or refusing work for now.
    case 1053: // server shutdown in progress
    case 1077: // normal shutdown
    case 1078: // got signal
    case 1079: // shutdown complete
    case 1152: // aborted connection
    case 1158: // got an error reading communication packets
    case 1159: // timeout reading communication packets
    case 1160: // got an error writing communication packets
    case 1161: // timeout writing communication packets
    case 1290: // --read-only or a similar option prevents the statement
    case 1836: // running in read-only mode
    case 1927: // connection was killed
      return error_kind::unavailable;
    case 1040: // too many connections
    case 1203: // max_user_connections exceeded
    case 1205: // lock wait timeout
    case 1213: // deadlock
    case 1226: // user resource exceeded
    case 1969: // MariaDB max_statement_time exceeded
    case 3024: // MySQL max_execution_time exceeded
    case 1317: // query execution was interrupted
      return error_kind::transient;
    case 1045: // access denied for user (bad credentials)
    case 1698: // access denied (auth plugin, e.g. unix_socket)
    case 1862: // password expired
    case 1820: // must reset password
    case 4151: // MariaDB: account locked
    case 3118: // MySQL: account locked
      return error_kind::auth;
    case 1044: // access denied to database
    case 1142: // command denied on table
    case 1143: // command denied on column
    case 1227: // specific privilege required (SUPER, CREATE USER, ...)
    case 1370: // command denied on routine
    case 1410: // not allowed to create a user with GRANT
      return error_kind::permission;
    case 1007: // database exists
    case 1062: // duplicate entry
    case 1141: // there is no such grant defined
    case 1396: // operation CREATE/ALTER/DROP USER failed (exists / does not exist)
    case 1403: // there is no such grant defined on table
      return error_kind::conflict;
    case 1008: // cannot drop database: does not exist
    case 1046: // no database selected
    case 1049: // unknown database
    case 1064: // syntax error
    case 1102: // incorrect database name
    case 1146: // table does not exist
    case 1149: // syntax error
    case 1372: // password hash should be a 41-digit hexadecimal number
    case 1470: // string is too long for user name / host name
    case 1819: // password does not satisfy the policy
    case 2026: // TLS connection error: configuration, retrying will not help
      return error_kind::invalid;
    default:
      break;
  }
  return error_kind::internal;
}

error make_error(error_kind kind, std::string message, std::string context) {
  return make_db_error<error>(kind, std::move(message), std::move(context));
}

error server_error(unsigned code, std::string_view sqlstate, std::string_view server_message,
                   std::string context, const std::vector<std::string>& secrets) {
  error e = make_error(kind_of_code(code), redact(server_message, secrets), std::move(context));
  e.code = code;
  e.sqlstate = sqlstate == "00000" ? std::string() : std::string(sqlstate);
  return e;
}

std::string redact(std::string_view text, const std::vector<std::string>& secrets) {
  std::string out(text);
  // 1. Every known secret first, while the text is still whole.
  redact_secrets(out, secrets);
  // 2. The statement echo of a syntax error: "... near '<rest of the statement>' at line 1".
  //    The echo may itself hold quotes, so everything from "near '" to the last "' at line" goes.
  static const std::regex near(R"(near '[\s\S]*' at line ([0-9]+))");
  out = std::regex_replace(out, near, "near <statement> at line $1");
  if (auto q = out.find("near '"); q != std::string::npos) // truncated echo without its tail
    out = out.substr(0, q) + "near <statement>";
  // 3. Anything shaped like a mysql_native_password hash.
  static const std::regex native(R"(\*[0-9A-Fa-f]{40})");
  out = std::regex_replace(out, native, "<redacted>");
  for (auto& c : out)
    if (c == '\n' || c == '\r')
      c = ' ';
  return out;
}

} // namespace dbuser::mysql
