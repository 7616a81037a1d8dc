#include "api/status.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <iomanip>
#include <sstream>

namespace dbuser::api {

using json = nlohmann::json;

std::string rfc3339(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(const std::string& text) {
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail())
    return std::nullopt;
  std::time_t tt = timegm(&tm);
  if (tt == static_cast<std::time_t>(-1))
    return std::nullopt;
  return std::chrono::system_clock::from_time_t(tt);
}

std::string unreachable_class(const std::string& library_message) {
  std::string m = library_message;
  std::transform(m.begin(), m.end(), m.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto has = [&](const char* needle) { return m.find(needle) != std::string::npos; };
  if (has("connection refused"))
    return "connection refused";
  if (has("timeout") || has("timed out"))
    return "timed out";
  if (has("translate host name") || (has("unknown") && has("host"))
      || has("name or service not known") || has("temporary failure in name resolution"))
    return "host name not resolved";
  if (has("no route to host") || has("network is unreachable"))
    return "no route to host";
  if (has("closed the connection") || has("lost connection") || has("gone away")
      || has("connection reset"))
    return "connection closed";
  return "unreachable";
}

bool login_check_failed(const json& status, const std::optional<connection_check>& latest) {
  if (latest)
    return !latest->verified;
  if (!status.is_object())
    return false;
  const auto c = status.find("connection");
  return c != status.end() && c->is_object() && c->contains("verified")
         && (*c)["verified"].is_boolean() && !(*c)["verified"].get<bool>();
}

json next_status(const json& current, const status_report& report, const std::string& now) {
  json s = current.is_object() ? current : json::object();
  // Ready is never True while the latest login check (this report's, or the one the status
  // keeps when this reconcile did not check) failed: the credentials are not known to work.
  status_report r = report;
  if (r.ready && login_check_failed(s, r.connection)) {
    const auto c = r.connection ? r.connection->message
                                : s["connection"].value("message", std::string());
    r.ready = false;
    r.reason = reason::login_failed;
    r.message = "the latest login check with the generated credentials failed"
                + (c.empty() ? std::string() : ": " + c);
  }
  const std::string status = r.ready ? "True" : "False";
  json ready = {{"type", "Ready"},
                {"status", status},
                {"reason", r.reason},
                {"message", r.message},
                {"observedGeneration", r.observed_generation},
                {"lastTransitionTime", now}};
  json conditions = json::array();
  bool found = false;
  for (const auto& c : s.value("conditions", json::array())) {
    if (c.value("type", "") != "Ready") {
      conditions.push_back(c);
      continue;
    }
    found = true;
    if (c.value("status", "") == status && c.contains("lastTransitionTime"))
      ready["lastTransitionTime"] = c["lastTransitionTime"];
    conditions.push_back(ready);
  }
  if (!found)
    conditions.push_back(ready);
  s["conditions"] = conditions;
  s["ready"] = r.ready;
  s["message"] = r.message;
  s["observedGeneration"] = r.observed_generation;
  if (r.connection) {
    const auto& c = *r.connection;
    s["connection"] = {{"verified", c.verified},
                       {"method", c.method},
                       {"lastCheckTime", c.last_check_time},
                       {"latencyMs", c.latency_ms},
                       {"serverVersion", c.server_version},
                       {"message", c.message}};
    if (!c.secret_version.empty())
      s["connection"]["secretResourceVersion"] = c.secret_version;
  }
  if (r.password_updated_at)
    s["passwordUpdatedAt"] = *r.password_updated_at;
  if (r.secret_name)
    s["secretName"] = *r.secret_name;
  if (r.logins) {
    s["loginRole"] = r.logins->role;
    for (const auto& [key, value] :
         {std::pair<const char*, const std::string*>{"previousLoginRole", &r.logins->previous},
          {"previousLoginValidUntil", &r.logins->previous_valid_until}}) {
      if (!value->empty())
        s[key] = *value;
      else if (s.contains(key))
        s[key] = nullptr; // merge patch: removed (and absent from the next comparison)
    }
  }
  return s;
}

std::optional<std::chrono::system_clock::time_point>
verified_check_of(const json& status, std::int64_t generation, const std::string& login_role,
                  const std::string& secret_version) {
  if (!status.is_object() || secret_version.empty())
    return std::nullopt;
  const auto c = status.value("connection", json::object());
  if (!c.is_object() || !c.value("verified", false)
      || c.value("secretResourceVersion", "") != secret_version
      || status.value("observedGeneration", std::int64_t{-1}) != generation
      || (!login_role.empty() && status.value("loginRole", "") != login_role))
    return std::nullopt;
  return parse_rfc3339(c.value("lastCheckTime", ""));
}

namespace {

// The connection's check time moves on every check: statuses are compared without it.
json without_check_time(json j) {
  if (j.contains("connection") && j["connection"].is_object())
    j["connection"].erase("lastCheckTime");
  return j;
}

} // namespace

bool same_status(const json& current, const json& next) {
  if (!current.is_object())
    return false;
  return without_check_time(current) == without_check_time(next);
}

std::size_t status_fingerprint(const json& status) {
  return std::hash<std::string>{}(without_check_time(status).dump());
}

} // namespace dbuser::api
