#pragma once

// The HTTP endpoint (cpprestsdk http_listener; its headers stay in http_endpoint.cpp):
//
//   GET /healthz                        200 when the introspection actor answers within ~1 s
//   GET /readyz                         200 when the informer caches are synced and, with leader
//                                       election, this process leads or is a healthy standby
//   GET /metrics                        Prometheus text exposition format 0.0.4
//   GET /debug/actors                   JSON: supervisors, pools, leader election, counters;
//                                       the debug page (actors/debug_page.hpp) instead when the
//                                       Accept header prefers text/html (a browser), unless
//                                       the query says format=json
//   GET /debug/ui                       the debug page, whatever the Accept header
//   GET /debug/actors/<namespace>/<name> one supervisor (404 when unknown)
//
// Handlers run on cpprestsdk's threads (never on CAF's) and wait for the introspection actor
// with a short timeout; they never talk to a supervisor, so serving never delays a reconcile.

#include "common/expected.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <chrono>
#include <memory>
#include <string>

namespace dbuser::actors {

struct listen_address {
  std::string host; // "0.0.0.0" for ":8080"
  int port = 0;     // 0: any free port
};

// ":8080", "127.0.0.1:0", "localhost:9090", "[::1]:8080". Pure.
[[nodiscard]] expected<listen_address, std::string> parse_listen(const std::string& text);

struct http_route {
  enum class kind { healthz, readyz, metrics, debug_actors, debug_actor, debug_ui, not_found };
  kind what = kind::not_found;
  std::string key; // "namespace/name" for debug_actor
};

// The route of a request path (already percent-decoded; a trailing slash is ignored). Pure.
[[nodiscard]] http_route route_of(const std::string& path);

class http_endpoint {
public:
  // Binds and starts serving; port 0 picks a free port (see address()).
  [[nodiscard]] static expected<std::unique_ptr<http_endpoint>, std::string>
  start(caf::actor_system& sys, const std::string& listen, caf::actor introspection,
        std::chrono::milliseconds timeout = std::chrono::seconds(1));

  ~http_endpoint();
  http_endpoint(const http_endpoint&) = delete;
  http_endpoint& operator=(const http_endpoint&) = delete;

  // "host:port" actually bound.
  [[nodiscard]] const std::string& address() const { return address_; }
  void stop();

  struct impl;

private:
  http_endpoint() = default;
  std::unique_ptr<impl> impl_;
  std::string address_;
};

} // namespace dbuser::actors
