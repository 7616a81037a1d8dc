#pragma once

// The status a PostgresUser reports: the Ready condition (metav1.Condition shape, keyed by type),
// ready/message as in the original API, observedGeneration, the login check and when the password
// last changed. Pure: the caller passes the time.

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace dbuser::api {

// Reasons of the Ready condition (one CamelCase word each).
namespace reason {
inline constexpr const char* reconciled = "Reconciled";
inline constexpr const char* reconciling = "Reconciling";
inline constexpr const char* invalid_spec = "InvalidSpec";
inline constexpr const char* admin_secret_not_found = "AdminSecretNotFound";
inline constexpr const char* admin_secret_invalid = "AdminSecretInvalid";
inline constexpr const char* ca_secret_not_found = "CASecretNotFound";
inline constexpr const char* database_unreachable = "DatabaseUnreachable";
inline constexpr const char* database_error = "DatabaseError";
// The admin lacks a right (SQLSTATE 42501); the message names it and the way out.
inline constexpr const char* insufficient_privilege = "InsufficientPrivilege";
// No DatabaseTargetPolicy allows the user's namespace to use its target: nothing connects to it.
inline constexpr const char* target_not_allowed = "TargetNotAllowed";
// A database server limit was hit (PostgreSQL SQLSTATE class 54, e.g. an ACL too long for its
// catalog row): retrying cannot help; the message says which limit and what to do.
inline constexpr const char* limit_exceeded = "DatabaseLimitExceeded";
inline constexpr const char* role_conflict = "RoleConflict";
inline constexpr const char* secret_conflict = "SecretConflict";
inline constexpr const char* login_failed = "LoginFailed";
inline constexpr const char* kubernetes_error = "KubernetesError";
inline constexpr const char* deleting = "Deleting";
inline constexpr const char* rotating = "RotatingPassword";
// The CRD is being deleted (an uninstall): the resource is let go, nothing is dropped.
inline constexpr const char* released_on_uninstall = "ReleasedOnUninstall";
// A PostgresRole whose deletion waits until no user is a member any more.
inline constexpr const char* role_in_use = "RoleInUse";
// A user whose memberOf names a role that does not exist yet (a PostgresRole not Ready yet).
inline constexpr const char* waiting_for_role = "WaitingForRole";
} // namespace reason

// The result of logging in with the generated credentials.
struct connection_check {
  bool verified = false;
  std::string method = "login"; // how: "login" (logged in) or "catalog" (pg_authid compared)
  std::string last_check_time; // RFC 3339
  std::int64_t latency_ms = 0;
  std::string server_version;
  std::string message;
  // The resourceVersion of the credentials Secret once it held the checked credentials ("" :
  // unknown). A restarted operator trusts the check only while the Secret is still that version.
  std::string secret_version;
};

// Which role the Secret's credentials log in as, and the previous ones while they still do.
struct login_status {
  std::string role;                 // status.loginRole
  std::string previous;             // status.previousLoginRole ("" : removed)
  std::string previous_valid_until; // status.previousLoginValidUntil
};

struct status_report {
  bool ready = false;
  std::string reason;
  std::string message;
  std::int64_t observed_generation = 0;
  std::optional<connection_check> connection;   // absent: keep what the status has
  std::optional<std::string> password_updated_at; // absent: keep what the status has
  // The credentials Secret that holds working credentials now; absent: keep what the status
  // has. A rename's next reconcile reads the old name here (see user_supervisor.hpp).
  std::optional<std::string> secret_name;
  std::optional<login_status> logins; // absent: keep what the status has
};

// What a status or an Event says about a target that cannot be reached: the class of the failure
// ("connection refused", "timed out", "host name not resolved", "no route to host", "connection
// closed", else "unreachable") read from the client library's text, which itself stays in the
// operator's log. Whoever writes a user resource learns no more about the network than that.
[[nodiscard]] std::string unreachable_class(const std::string& library_message);

// RFC 3339 UTC with second precision, as metav1.Time serialises: "2026-11-26T04:00:00Z".
[[nodiscard]] std::string rfc3339(std::chrono::system_clock::time_point t);
// Parses what rfc3339() writes (and fractional seconds); nullopt when malformed.
[[nodiscard]] std::optional<std::chrono::system_clock::time_point>
parse_rfc3339(const std::string& text);

// Whether the latest login check failed: `latest` when this reconcile checked, else the check the
// status `status` records (connection.verified false). No check at all is not a failure.
[[nodiscard]] bool login_check_failed(const nlohmann::json& status,
                                      const std::optional<connection_check>& latest);

// The new `status` object from the current one and a report. Ready is never True while
// login_check_failed(current, r.connection): such a report becomes Ready=False LoginFailed. The
// Ready condition's lastTransitionTime changes only when its status changes; other condition
// types are kept.
[[nodiscard]] nlohmann::json next_status(const nlohmann::json& current, const status_report& r,
                                         const std::string& now);

// When `status` shows a verified login check of the credentials that Secret version
// `secret_version` holds, as role `login_role` ("" : any; MySQL), for `generation` of the spec:
// the time of that check. nullopt otherwise (not verified, other credentials or spec, or a status
// written before the Secret's version was recorded): the check is due now.
[[nodiscard]] std::optional<std::chrono::system_clock::time_point>
verified_check_of(const nlohmann::json& status, std::int64_t generation,
                  const std::string& login_role, const std::string& secret_version);

// True when `next` says nothing `current` does not already say (no patch needed).
[[nodiscard]] bool same_status(const nlohmann::json& current, const nlohmann::json& next);
// A hash of what same_status() compares: equal for two statuses it finds the same.
[[nodiscard]] std::size_t status_fingerprint(const nlohmann::json& status);

} // namespace dbuser::api
