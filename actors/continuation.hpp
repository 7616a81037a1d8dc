#pragma once

// Kubernetes callbacks run on the client's threads and must never touch an actor's state. A
// callback made by resume_in() sends its result back to the actor that asked, as
// (resume_atom, continuation); the actor runs the continuation in its own context, serialised
// with its other messages. If the actor is gone by then, the message is dropped unrun.

#include "k8s/client.hpp"
#include "messages/reconcile.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/send.hpp>
#include <functional>

namespace dbuser::actors {

struct continuation {
  std::function<void()> run;
};

template <class T>
k8s::callback<T> resume_in(const caf::actor& target,
                           std::function<void(expected<T, k8s::error>)> fn) {
  return [target, fn = std::move(fn)](expected<T, k8s::error> r) {
    caf::anon_send(target, msg::resume_atom::value,
                   continuation{[fn, r = std::move(r)]() mutable { fn(std::move(r)); }});
  };
}

} // namespace dbuser::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dbuser::actors::continuation)
