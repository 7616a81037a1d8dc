#include "k8s/events.hpp"

#include <cstdio>
#include <functional>

namespace dbuser::k8s {

using nlohmann::json;

namespace {

std::uint64_t fnv1a(const std::string& s, std::uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

void aggregate(const std::shared_ptr<client>& c, const object_ref& ref, int attempts_left, callback<json> done) {
  c->get(ref, [c, ref, attempts_left, done](expected<json, error> cur) {
    if (!cur) {
      if (done) done(std::move(cur));
      return;
    }
    c->patch(ref, patch_type::merge, event_repeat_patch(*cur, std::chrono::system_clock::now()),
             [c, ref, attempts_left, done](expected<json, error> r) {
               if (!r && r.error().code == error::kind::conflict && attempts_left > 1) {
                 aggregate(c, ref, attempts_left - 1, done);
                 return;
               }
               if (done) done(std::move(r));
             });
  });
}

} // namespace

std::string event_name(const json& involved, const event_info& info) {
  std::uint64_t h = fnv1a(uid_of(involved));
  for (const auto* part : {&info.type, &info.reason, &info.message}) h = fnv1a("\x1f" + *part, h);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  std::string base = name_of(involved);
  if (base.size() > 200) base.resize(200);
  return base + "." + hex;
}

json make_event(const json& involved, const event_info& info, std::chrono::system_clock::time_point now) {
  const std::string ns = namespace_of(involved).empty() ? "default" : namespace_of(involved);
  json ref{{"apiVersion", involved.value("apiVersion", std::string())},
           {"kind", involved.value("kind", std::string())},
           {"name", name_of(involved)},
           {"namespace", namespace_of(involved)},
           {"uid", uid_of(involved)},
           {"resourceVersion", resource_version_of(involved)}};
  const std::string ts = format_time(now);
  json ev{{"apiVersion", "v1"},
          {"kind", "Event"},
          {"metadata", {{"name", event_name(involved, info)}, {"namespace", ns}}},
          {"involvedObject", ref},
          {"type", info.type},
          {"reason", info.reason},
          {"message", info.message},
          {"source", {{"component", info.component}}},
          {"reportingComponent", info.component},
          {"reportingInstance", info.instance.empty() ? info.component : info.instance},
          {"firstTimestamp", ts},
          {"lastTimestamp", ts},
          {"count", 1}};
  return ev;
}

json event_repeat_patch(const json& existing, std::chrono::system_clock::time_point now) {
  const int count = existing.value("count", 1);
  return json{{"metadata", {{"resourceVersion", resource_version_of(existing)}}},
              {"count", count + 1},
              {"lastTimestamp", format_time(now)}};
}

bool namespace_terminating(const error& e) {
  if (e.code != error::kind::forbidden) return false;
  for (const auto& c : e.causes)
    if (c.reason == "NamespaceTerminating") return true;
  return false;
}

json make_namespace_event(const json& involved, const event_info& info,
                          std::chrono::system_clock::time_point now) {
  const json ns{{"apiVersion", "v1"},
                {"kind", "Namespace"},
                {"metadata", {{"name", namespace_of(involved)}}}};
  event_info about_ns = info;
  about_ns.message =
      involved.value("kind", std::string()) + " " + name_of(involved) + ": " + info.message;
  return make_event(ns, about_ns, now);
}

namespace {

// Steps 1-2 of the flow for the Event `ev`; `fallback` (step 3) when its namespace is going.
void create_or_aggregate(const std::shared_ptr<client>& c, const json& ev, callback<json> done,
                         std::function<void(callback<json>)> fallback) {
  const std::string ns = ev["metadata"]["namespace"].get<std::string>();
  object_ref ref{resource::events(), ns, ev["metadata"]["name"].get<std::string>(), ""};
  c->create(resource::events(), ns, ev,
            [c, ref, done, fallback = std::move(fallback)](expected<json, error> r) {
              if (!r && r.error().code == error::kind::already_exists) {
                aggregate(c, ref, 3, done);
                return;
              }
              if (!r && fallback && namespace_terminating(r.error())) {
                fallback(done);
                return;
              }
              if (done) done(std::move(r));
            });
}

} // namespace

void record_event(const std::shared_ptr<client>& c, const json& involved, const event_info& info,
                  callback<json> done) {
  const auto now = std::chrono::system_clock::now();
  std::function<void(callback<json>)> fallback;
  if (info.type == "Warning" && !namespace_of(involved).empty())
    fallback = [c, ev = make_namespace_event(involved, info, now)](callback<json> d) {
      create_or_aggregate(c, ev, std::move(d), {});
    };
  create_or_aggregate(c, make_event(involved, info, now), std::move(done), std::move(fallback));
}

} // namespace dbuser::k8s
