#pragma once

// core/v1 Events about an object, aggregated like client-go's recorder: the same (object, type,
// reason, message) always maps to the same Event name, so a repeat bumps `count` and
// `lastTimestamp` on the existing Event instead of creating a new one — even across restarts.
//
// Expected flow (record_event)
//   1. POST the Event with count 1.
//   2. AlreadyExists: GET it, then merge-PATCH count+1 and lastTimestamp with its
//      resourceVersion; on Conflict, back to the GET (at most 3 times).
//   3. Forbidden because the object's namespace is being deleted (cause NamespaceTerminating: no
//      new object, Events included, may be created in it), and a Warning: the same Event about
//      the Namespace instead (in `default`, where Events about cluster-scoped objects live),
//      its message prefixed with the object's kind and name, so that what holds a namespace in
//      Terminating can still be read: `kubectl events -n default --for namespace/NS`.

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "k8s/client.hpp"

namespace dbuser::k8s {

struct event_info {
  std::string type = "Normal"; // Normal or Warning
  std::string reason;          // CamelCase, e.g. Reconciled
  std::string message;
  std::string component = "dbuser-operator"; // source.component / reportingComponent
  std::string instance;                      // reportingInstance (e.g. the pod name); optional
};

// The deterministic name: "<involved name>.<16 hex digits of a hash of uid/type/reason/message>".
[[nodiscard]] std::string event_name(const nlohmann::json& involved, const event_info& info);
// The Event object for `involved` (an object with apiVersion, kind and metadata). Pure.
[[nodiscard]] nlohmann::json make_event(const nlohmann::json& involved, const event_info& info,
                                        std::chrono::system_clock::time_point now);
// The merge patch for a repeat: count, lastTimestamp, resourceVersion precondition. Pure.
[[nodiscard]] nlohmann::json event_repeat_patch(const nlohmann::json& existing,
                                                std::chrono::system_clock::time_point now);

// Whether the API server refused a create because the namespace is being deleted. Pure.
[[nodiscard]] bool namespace_terminating(const error& e);
// The Event of step 3: `info` about `involved`, recorded on its Namespace. Pure.
[[nodiscard]] nlohmann::json make_namespace_event(const nlohmann::json& involved,
                                                  const event_info& info,
                                                  std::chrono::system_clock::time_point now);

// Records (or aggregates) the Event; `done` (optional) gets the resulting Event or the error.
void record_event(const std::shared_ptr<client>& c, const nlohmann::json& involved, const event_info& info,
                  callback<nlohmann::json> done = {});

} // namespace dbuser::k8s
