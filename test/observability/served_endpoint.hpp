#pragma once

// The operator's HTTP endpoint as its tests start it: an actor system of two threads, the
// introspection actor and the endpoint on a free loopback port; stopped at the end of the scope.

#include "actors/http_endpoint.hpp"
#include "actors/introspection.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <utility>

namespace dbuser::test {

class served_endpoint {
public:
  served_endpoint() : sys_(two_threads(cfg_)), intro(actors::spawn_introspection(sys_, false)) {
    auto ep = actors::http_endpoint::start(sys_, "127.0.0.1:0", intro);
    if (!ep)
      caf::anon_send_exit(intro, caf::exit_reason::user_shutdown);
    REQUIRE(ep);
    endpoint_ = std::move(*ep);
    addr = endpoint_->address();
  }
  ~served_endpoint() {
    endpoint_->stop();
    caf::anon_send_exit(intro, caf::exit_reason::user_shutdown);
  }
  served_endpoint(const served_endpoint&) = delete;
  served_endpoint& operator=(const served_endpoint&) = delete;

private:
  static caf::actor_system_config& two_threads(caf::actor_system_config& cfg) {
    cfg.set("scheduler.max-threads", 2);
    return cfg;
  }
  caf::actor_system_config cfg_;
  caf::actor_system sys_;

public:
  caf::actor intro;
  std::string addr; // "127.0.0.1:<port>"

private:
  std::unique_ptr<actors::http_endpoint> endpoint_;
};

} // namespace dbuser::test
