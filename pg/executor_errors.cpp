// The edge of pg/: libpqxx's exceptions and libpq's connection failures become pg::error values
// (their kind and SQLSTATE), redacted.

#include "pg/executor_impl.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dbuser::pg {

namespace {

bool contains(std::string_view text, std::string_view what) {
  return text.find(what) != std::string_view::npos;
}

std::string strip_severity(std::string s) {
  for (const char* prefix : {"ERROR:  ", "FATAL:  "})
    if (s.rfind(prefix, 0) == 0)
      s.erase(0, std::char_traits<char>::length(prefix));
  return s;
}

// A failed connection attempt: libpqxx 6 gives only the text, so classify by what libpq says.
error connection_error(const std::string& what, std::string context,
                       const std::vector<std::string>& secrets) {
  error e;
  e.message = redact(what, secrets);
  e.context = std::move(context);
  if (contains(what, "password authentication failed")) {
    e.kind = error_kind::auth;
    e.sqlstate = "28P01";
  } else if (contains(what, "no pg_hba.conf entry") || contains(what, "not permitted to log in")
             || (contains(what, "role \"") && contains(what, "does not exist"))) {
    e.kind = error_kind::auth;
    e.sqlstate = "28000";
  } else if (contains(what, "database \"") && contains(what, "does not exist")) {
    e.kind = error_kind::invalid;
    e.sqlstate = "3D000";
  } else if (contains(what, "certificate") || contains(what, "SSL") || contains(what, "ssl")) {
    // TLS verification or configuration: retrying will not help until the config changes.
    e.kind = error_kind::invalid;
    e.message = "TLS: " + e.message;
  } else if (contains(what, "too many connections") || contains(what, "remaining connection slots")) {
    e.kind = error_kind::transient;
    e.sqlstate = "53300";
  } else {
    e.kind = error_kind::unavailable;
  }
  return e;
}

} // namespace

namespace detail {

// libpqxx 6.4 throws some sql_error subclasses without their SQLSTATE (insufficient_privilege
// comes with an empty sqlstate()): recover it from the class.
std::string sqlstate_of(const pqxx::sql_error& e) {
  if (!e.sqlstate().empty())
    return e.sqlstate();
  if (dynamic_cast<const pqxx::insufficient_privilege*>(&e) != nullptr)
    return "42501";
  if (dynamic_cast<const pqxx::too_many_connections*>(&e) != nullptr)
    return "53300";
  if (dynamic_cast<const pqxx::out_of_memory*>(&e) != nullptr)
    return "53200";
  if (dynamic_cast<const pqxx::disk_full*>(&e) != nullptr)
    return "53100";
  if (dynamic_cast<const pqxx::insufficient_resources*>(&e) != nullptr)
    return "53000";
  if (dynamic_cast<const pqxx::undefined_table*>(&e) != nullptr)
    return "42P01";
  if (dynamic_cast<const pqxx::undefined_column*>(&e) != nullptr)
    return "42703";
  if (dynamic_cast<const pqxx::undefined_function*>(&e) != nullptr)
    return "42883";
  if (dynamic_cast<const pqxx::syntax_error*>(&e) != nullptr)
    return "42601";
  if (dynamic_cast<const pqxx::feature_not_supported*>(&e) != nullptr)
    return "0A000";
  if (dynamic_cast<const pqxx::data_exception*>(&e) != nullptr)
    return "22000";
  if (dynamic_cast<const pqxx::integrity_constraint_violation*>(&e) != nullptr)
    return "23000";
  return "";
}

error from_exception(const std::exception& ex, std::string context,
                     const std::vector<std::string>& secrets) {
  if (const auto* s = dynamic_cast<const pqxx::sql_error*>(&ex))
    return sql_error(sqlstate_of(*s), strip_severity(s->what()), std::move(context), secrets);
  if (const auto* b = dynamic_cast<const pqxx::broken_connection*>(&ex))
    return connection_error(b->what(), std::move(context), secrets);
  if (dynamic_cast<const pqxx::in_doubt_error*>(&ex) != nullptr)
    return make_error(error_kind::unavailable,
                      "connection lost during commit: " + redact(ex.what(), secrets),
                      std::move(context));
  if (dynamic_cast<const pqxx::deadlock_detected*>(&ex) != nullptr)
    return error{{error_kind::transient, "40P01", redact(ex.what(), secrets), std::move(context)}};
  if (dynamic_cast<const pqxx::serialization_failure*>(&ex) != nullptr)
    return error{{error_kind::transient, "40001", redact(ex.what(), secrets), std::move(context)}};
  return make_error(error_kind::internal, redact(ex.what(), secrets), std::move(context));
}

} // namespace detail

} // namespace dbuser::pg
