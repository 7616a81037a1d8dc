#include "k8s/error.hpp"

#include <cstdlib>
#include <string_view>
#include <utility>

namespace dbuser::k8s {

namespace {

// A Status's reason (metav1.StatusReason) and the kind it names.
constexpr std::pair<std::string_view, error::kind> reasons[] = {
  {"NotFound", error::kind::not_found},
  {"AlreadyExists", error::kind::already_exists},
  {"Conflict", error::kind::conflict},
  {"Gone", error::kind::gone},
  {"Expired", error::kind::gone},
  {"Invalid", error::kind::invalid},
  {"BadRequest", error::kind::bad_request},
  {"Forbidden", error::kind::forbidden},
  {"Unauthorized", error::kind::unauthorized},
  {"TooManyRequests", error::kind::too_many_requests},
  {"Timeout", error::kind::server_timeout},
  {"ServerTimeout", error::kind::server_timeout},
  {"ServiceUnavailable", error::kind::unavailable},
  {"InternalError", error::kind::internal},
};

error::kind kind_from(int status, const std::string& reason) {
  for (const auto& [name, kind] : reasons)
    if (reason == name)
      return kind;
  switch (status) {
    case 400: return error::kind::bad_request;
    case 401: return error::kind::unauthorized;
    case 403: return error::kind::forbidden;
    case 404: return error::kind::not_found;
    case 409: return error::kind::conflict;
    case 410: return error::kind::gone;
    case 422: return error::kind::invalid;
    case 429: return error::kind::too_many_requests;
    case 503: return error::kind::unavailable;
    case 504: return error::kind::server_timeout;
    default: break;
  }
  if (status >= 500) return error::kind::internal;
  return error::kind::bad_response;
}

std::optional<std::chrono::seconds> parse_retry_after(const std::string& v) {
  if (v.empty()) return std::nullopt;
  char* end = nullptr;
  long n = std::strtol(v.c_str(), &end, 10);
  if (end == v.c_str() || n < 0) return std::nullopt; // HTTP-date form: not used by kube
  return std::chrono::seconds(n);
}

} // namespace

const char* to_string(error::kind k) {
  switch (k) {
    case error::kind::not_found: return "not_found";
    case error::kind::already_exists: return "already_exists";
    case error::kind::conflict: return "conflict";
    case error::kind::gone: return "gone";
    case error::kind::invalid: return "invalid";
    case error::kind::bad_request: return "bad_request";
    case error::kind::forbidden: return "forbidden";
    case error::kind::unauthorized: return "unauthorized";
    case error::kind::too_many_requests: return "too_many_requests";
    case error::kind::server_timeout: return "server_timeout";
    case error::kind::unavailable: return "unavailable";
    case error::kind::internal: return "internal";
    case error::kind::transport: return "transport";
    case error::kind::tls: return "tls";
    case error::kind::timeout: return "timeout";
    case error::kind::canceled: return "canceled";
    case error::kind::bad_response: return "bad_response";
    case error::kind::config: return "config";
  }
  return "unknown";
}

bool error::retryable() const {
  switch (code) {
    case kind::conflict:
    case kind::gone:
    case kind::too_many_requests:
    case kind::server_timeout:
    case kind::unavailable:
    case kind::internal:
    case kind::transport:
    case kind::timeout:
      return true;
    default:
      return false;
  }
}

std::string error::to_string() const {
  std::string s = reason.empty() ? k8s::to_string(code) : reason;
  if (http_status != 0) s += " (" + std::to_string(http_status) + ")";
  if (!message.empty()) s += ": " + message;
  for (const auto& c : causes) s += "; " + c.field + ": " + c.message;
  return s;
}

error make_error(error::kind k, std::string message) {
  error e;
  e.code = k;
  e.reason = to_string(k);
  e.message = std::move(message);
  return e;
}

error error_from_status(const nlohmann::json& status, int http_status_hint) {
  error e;
  e.http_status = status.value("code", http_status_hint);
  if (e.http_status == 0) e.http_status = http_status_hint;
  e.reason = status.value("reason", std::string());
  e.message = status.value("message", std::string());
  e.code = kind_from(e.http_status, e.reason);
  if (auto d = status.find("details"); d != status.end() && d->is_object()) {
    if (auto cs = d->find("causes"); cs != d->end() && cs->is_array()) {
      for (const auto& c : *cs) {
        if (!c.is_object()) continue;
        e.causes.push_back({c.value("reason", std::string()), c.value("message", std::string()),
                            c.value("field", std::string())});
      }
    }
    if (auto ra = d->find("retryAfterSeconds"); ra != d->end() && ra->is_number_integer())
      e.retry_after = std::chrono::seconds(ra->get<long>());
  }
  if (e.reason.empty()) e.reason = k8s::to_string(e.code);
  return e;
}

error error_from_response(int http_status, const std::string& body,
                          const std::string& retry_after_header) {
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  error e;
  if (j.is_object() && j.value("kind", std::string()) == "Status") {
    e = error_from_status(j, http_status);
    e.http_status = http_status;
    e.code = kind_from(http_status, j.value("reason", std::string()));
  } else {
    e.http_status = http_status;
    e.code = kind_from(http_status, "");
    e.reason = k8s::to_string(e.code);
    e.message = body.substr(0, 512);
  }
  if (auto ra = parse_retry_after(retry_after_header)) e.retry_after = ra;
  return e;
}

} // namespace dbuser::k8s
