#include "k8s/lease.hpp"

#include <cstdio>
#include <ctime>

namespace dbuser::k8s {

using nlohmann::json;

json make_lease(const std::string& ns, const std::string& name, const lease_spec& spec) {
  json s{{"holderIdentity", spec.holder},
         {"leaseDurationSeconds", spec.lease_duration_seconds},
         {"leaseTransitions", spec.transitions}};
  if (spec.acquire_time) s["acquireTime"] = format_time(*spec.acquire_time, true);
  if (spec.renew_time) s["renewTime"] = format_time(*spec.renew_time, true);
  return json{{"apiVersion", "coordination.k8s.io/v1"},
              {"kind", "Lease"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"spec", s}};
}

std::optional<std::chrono::system_clock::time_point> parse_time(const std::string& t) {
  std::tm tm{};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (std::sscanf(t.c_str(), "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &s) != 6) return std::nullopt;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  auto tp = std::chrono::system_clock::from_time_t(timegm(&tm));
  if (auto dot = t.find('.'); dot != std::string::npos) {
    long us = 0;
    int digits = 0;
    for (size_t i = dot + 1; i < t.size() && t[i] >= '0' && t[i] <= '9' && digits < 6; ++i, ++digits)
      us = us * 10 + (t[i] - '0');
    for (; digits < 6; ++digits) us *= 10;
    tp += std::chrono::microseconds(us);
  }
  return tp;
}

lease_spec lease_spec_of(const json& lease) {
  lease_spec out;
  auto s = lease.find("spec");
  if (s == lease.end() || !s->is_object()) return out;
  out.holder = s->value("holderIdentity", std::string());
  out.lease_duration_seconds = s->value("leaseDurationSeconds", 0);
  out.transitions = s->value("leaseTransitions", 0);
  if (auto a = s->find("acquireTime"); a != s->end() && a->is_string()) out.acquire_time = parse_time(*a);
  if (auto r = s->find("renewTime"); r != s->end() && r->is_string()) out.renew_time = parse_time(*r);
  return out;
}

void get_lease(const std::shared_ptr<client>& c, const std::string& ns, const std::string& name,
               callback<json> cb) {
  c->get({resource::leases(), ns, name, ""}, std::move(cb));
}

void create_lease(const std::shared_ptr<client>& c, const std::string& ns, const std::string& name,
                  const lease_spec& spec, callback<json> cb) {
  c->create(resource::leases(), ns, make_lease(ns, name, spec), std::move(cb));
}

void update_lease(const std::shared_ptr<client>& c, const json& current, const lease_spec& spec,
                  callback<json> cb) {
  json obj = make_lease(namespace_of(current), name_of(current), spec);
  obj["metadata"]["resourceVersion"] = resource_version_of(current);
  c->update({resource::leases(), namespace_of(current), name_of(current), ""}, obj, std::move(cb));
}

} // namespace dbuser::k8s
