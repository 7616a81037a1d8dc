#pragma once

// Typed errors of the Kubernetes API client. Every failure that leaves k8s/ is one of these values:
// an API `Status` (404, 409, 410, 422, ...) decoded into a kind, or a transport problem (TLS,
// refused connection, timeout, cancellation). `retryable()` is the one policy that says whether
// trying again later can help.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dbuser::k8s {

struct error {
  enum class kind {
    not_found,         // 404 NotFound
    already_exists,    // 409 AlreadyExists
    conflict,          // 409 Conflict (stale resourceVersion, failed precondition)
    gone,              // 410 Gone / Expired: resourceVersion too old, relist
    invalid,           // 422 Invalid (see causes)
    bad_request,       // 400 BadRequest
    forbidden,         // 403 Forbidden
    unauthorized,      // 401 Unauthorized
    too_many_requests, // 429 (honour retry_after)
    server_timeout,    // 504 / reason Timeout or ServerTimeout
    unavailable,       // 503 ServiceUnavailable
    internal,          // 500 InternalError and other 5xx
    transport,         // connection refused, reset, DNS, ...
    tls,               // handshake or certificate verification failed
    timeout,           // client-side timeout
    canceled,          // the caller canceled (shutdown)
    bad_response,      // a response we could not understand
    config,            // unusable configuration (kubeconfig, in-cluster files)
  };

  struct cause {
    std::string reason, message, field;
  };

  kind code = kind::internal;
  int http_status = 0; // 0 when no HTTP response was received
  std::string reason;  // the Status reason, e.g. "NotFound", or a transport summary
  std::string message;
  std::vector<cause> causes;
  std::optional<std::chrono::seconds> retry_after;

  // Whether the same request may succeed later without a change by the caller (a conflict is
  // retryable after re-reading the object; gone after a relist).
  [[nodiscard]] bool retryable() const;
  // "NotFound (404): configmaps \"x\" not found"
  [[nodiscard]] std::string to_string() const;
};

[[nodiscard]] const char* to_string(error::kind k);

// Builds an error from an HTTP status, the response body (ideally a metav1.Status) and the
// Retry-After header value ("" when absent). Pure.
[[nodiscard]] error error_from_response(int http_status, const std::string& body,
                                        const std::string& retry_after_header = "");
// Builds an error from a metav1.Status object (watch ERROR events carry one).
[[nodiscard]] error error_from_status(const nlohmann::json& status, int http_status_hint = 0);

[[nodiscard]] error make_error(error::kind k, std::string message);

} // namespace dbuser::k8s
