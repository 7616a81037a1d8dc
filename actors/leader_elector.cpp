#include "actors/leader_elector.hpp"

#include "actors/continuation.hpp"

#include <caf/all.hpp>
#include <fstream>
#include <spdlog/spdlog.h>
#include <unistd.h>

namespace dbuser::actors {

using nlohmann::json;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using std::chrono::system_clock;

election_step decide(const std::optional<k8s::lease_spec>& lease, const std::string& record,
                     const std::string& identity, lease_observation& seen,
                     steady_clock::time_point now, milliseconds patience) {
  if (lease && lease->holder == identity)
    return election_step::renew;
  const bool free = !lease || lease->holder.empty();
  if (free && patience <= milliseconds(0))
    return lease ? election_step::take : election_step::create;
  // Free for `patience`, or held and not renewed for its duration: ours.
  const std::string seen_as = lease ? record : std::string("(absent)");
  if (seen_as != seen.record || seen.observed_at == steady_clock::time_point{}) {
    seen.record = seen_as;
    seen.observed_at = now;
    return election_step::wait;
  }
  const auto wait_for = free ? patience : milliseconds(seconds(std::max(lease->lease_duration_seconds, 1)));
  if (now - seen.observed_at < wait_for)
    return election_step::wait;
  return lease ? election_step::take : election_step::create;
}

k8s::lease_spec holding_spec(const std::optional<k8s::lease_spec>& current, election_step step,
                             const std::string& identity, milliseconds lease_duration,
                             system_clock::time_point now) {
  k8s::lease_spec s;
  s.holder = identity;
  s.lease_duration_seconds =
    static_cast<int>(std::max<std::int64_t>(1, duration_cast<seconds>(lease_duration).count()));
  s.renew_time = now;
  s.acquire_time = now;
  if (current) {
    s.transitions = current->transitions;
    if (step == election_step::renew && current->acquire_time)
      s.acquire_time = current->acquire_time;
    if (step == election_step::take)
      ++s.transitions;
  }
  return s;
}

k8s::lease_spec released_spec(const k8s::lease_spec& current, system_clock::time_point now) {
  k8s::lease_spec s = current;
  s.holder.clear();
  s.lease_duration_seconds = 1;
  s.renew_time = now;
  s.acquire_time.reset();
  return s;
}

std::string default_identity() {
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0)
    std::snprintf(host, sizeof host, "dbuser-operator");
  return std::string(host) + "_" + std::to_string(::getpid());
}

std::string default_election_namespace() {
  std::ifstream in("/var/run/secrets/kubernetes.io/serviceaccount/namespace");
  std::string ns;
  if (in && std::getline(in, ns) && !ns.empty())
    return ns;
  return "default";
}

namespace {

struct elector_state {
  std::shared_ptr<k8s::client> kube;
  leader_election_options opts;
  std::function<void(bool)> on_leading;
  std::function<void(const msg::leader_status&)> on_status;
  std::function<void(steady_clock::time_point)> on_renewed;
  lease_observation seen;
  json lease;                            // the Lease as last read or written
  bool leader = false;
  bool healthy = false;
  bool in_flight = false;
  bool released = false;
  steady_clock::time_point last_renew{}; // when the last successful renew was sent
  static inline const char* name = "leader_elector";
};

using elector = caf::stateful_actor<elector_state>;

void publish(elector* self) {
  auto& st = self->state;
  if (!st.on_status)
    return;
  msg::leader_status s;
  s.enabled = true;
  s.leader = st.leader;
  s.healthy = st.healthy;
  s.identity = st.opts.identity;
  auto spec = k8s::lease_spec_of(st.lease);
  s.holder = spec.holder;
  s.transitions = spec.transitions;
  st.on_status(s);
}

void set_leader(elector* self, bool leader, const std::string& why) {
  auto& st = self->state;
  if (st.leader == leader)
    return;
  st.leader = leader;
  if (leader)
    spdlog::info("leader election: became the leader of Lease {}/{} as {}", st.opts.ns,
                 st.opts.name, st.opts.identity);
  else
    spdlog::warn("leader election: stopped leading Lease {}/{} ({})", st.opts.ns, st.opts.name,
                 why);
  if (st.on_leading)
    st.on_leading(leader);
}

template <class T>
k8s::callback<T> then(elector* self, std::function<void(expected<T, k8s::error>)> fn) {
  return resume_in<T>(caf::actor_cast<caf::actor>(self), std::move(fn));
}

// The answer to a create or update of the Lease that was sent at `sent`.
void on_written(elector* self, steady_clock::time_point sent, expected<json, k8s::error> r) {
  auto& st = self->state;
  st.in_flight = false;
  if (st.released)
    return;
  if (r) {
    st.lease = std::move(*r);
    st.healthy = true;
    st.last_renew = sent;
    if (st.on_renewed)
      st.on_renewed(sent + st.opts.renew_deadline);
    set_leader(self, true, "");
  } else {
    const auto kind = r.error().code;
    const bool lost = kind == k8s::error::kind::conflict
                      || kind == k8s::error::kind::already_exists;
    st.healthy = lost; // the API server answered
    if (lost)
      set_leader(self, false, "another candidate holds the Lease");
    else
      spdlog::warn("leader election: writing Lease {}/{}: {}", st.opts.ns, st.opts.name,
                   r.error().to_string());
  }
  publish(self);
}

void on_read(elector* self, expected<json, k8s::error> r) {
  auto& st = self->state;
  if (st.released) {
    st.in_flight = false;
    return;
  }
  const auto now = steady_clock::now();
  std::optional<k8s::lease_spec> current;
  std::string record;
  if (r) {
    st.lease = *r;
    current = k8s::lease_spec_of(*r);
    record = r->value("spec", json::object()).dump();
  } else if (r.error().code != k8s::error::kind::not_found) {
    st.in_flight = false;
    st.healthy = false;
    spdlog::warn("leader election: reading Lease {}/{}: {}", st.opts.ns, st.opts.name,
                 r.error().to_string());
    publish(self);
    return;
  }
  const auto step = decide(current, record, st.opts.identity, st.seen, now, st.opts.patience);
  if (step == election_step::wait) {
    st.in_flight = false;
    st.healthy = true;
    set_leader(self, false, "the Lease is held by " + (current ? current->holder : ""));
    publish(self);
    return;
  }
  const auto spec = holding_spec(current, step, st.opts.identity, st.opts.lease_duration,
                                 system_clock::now());
  auto done = then<json>(self, [self, now](expected<json, k8s::error> w) {
    on_written(self, now, std::move(w));
  });
  if (step == election_step::create)
    k8s::create_lease(st.kube, st.opts.ns, st.opts.name, spec, std::move(done));
  else
    k8s::update_lease(st.kube, *r, spec, std::move(done));
}

void attempt(elector* self) {
  auto& st = self->state;
  if (st.leader && steady_clock::now() - st.last_renew > st.opts.renew_deadline)
    set_leader(self, false, "the Lease was not renewed within the renew deadline");
  if (st.in_flight)
    return;
  st.in_flight = true;
  k8s::get_lease(st.kube, st.opts.ns, st.opts.name,
                 then<json>(self, [self](expected<json, k8s::error> r) { on_read(self, std::move(r)); }));
}

void release(elector* self, caf::response_promise rp, int tries) {
  auto& st = self->state;
  auto spec = released_spec(k8s::lease_spec_of(st.lease), system_clock::now());
  k8s::update_lease(
    st.kube, st.lease, spec,
    then<json>(self, [self, rp, tries](expected<json, k8s::error> r) mutable {
      auto& s = self->state;
      if (!r && r.error().code == k8s::error::kind::conflict && tries > 0) {
        // A renew raced with us: read the Lease again and release it if still ours.
        k8s::get_lease(s.kube, s.opts.ns, s.opts.name,
                       then<json>(self, [self, rp, tries](expected<json, k8s::error> g) mutable {
                         if (g && k8s::lease_spec_of(*g).holder == self->state.opts.identity) {
                           self->state.lease = std::move(*g);
                           release(self, rp, tries - 1);
                           return;
                         }
                         rp.deliver(false);
                         self->quit();
                       }));
        return;
      }
      if (r)
        spdlog::info("leader election: released Lease {}/{}", s.opts.ns, s.opts.name);
      else
        spdlog::warn("leader election: releasing Lease {}/{}: {}", s.opts.ns, s.opts.name,
                     r.error().to_string());
      rp.deliver(static_cast<bool>(r));
      self->quit();
    }));
}

caf::behavior leader_elector(elector* self, std::shared_ptr<k8s::client> kube,
                             leader_election_options opts, std::function<void(bool)> on_leading,
                             std::function<void(const msg::leader_status&)> on_status,
                             std::function<void(steady_clock::time_point)> on_renewed) {
  auto& st = self->state;
  st.kube = std::move(kube);
  st.opts = std::move(opts);
  st.on_leading = std::move(on_leading);
  st.on_status = std::move(on_status);
  st.on_renewed = std::move(on_renewed);
  spdlog::info("leader election: candidate {} for Lease {}/{} (lease {} ms, renew deadline {} ms, "
               "retry {} ms)",
               st.opts.identity, st.opts.ns, st.opts.name, st.opts.lease_duration.count(),
               st.opts.renew_deadline.count(), st.opts.retry_period.count());
  publish(self);
  self->send(self, msg::elect_atom::value);
  return {
    [self](msg::elect_atom) {
      if (self->state.released)
        return;
      attempt(self);
      self->delayed_send(self, self->state.opts.retry_period, msg::elect_atom::value);
    },
    [](msg::resume_atom, continuation& c) { c.run(); },
    [self](msg::release_atom) -> caf::result<bool> {
      auto& s = self->state;
      const bool was_leader = s.leader;
      s.released = true;
      set_leader(self, false, "shutting down");
      if (!was_leader) {
        self->quit();
        return false;
      }
      auto rp = self->make_response_promise();
      release(self, rp, 2);
      return caf::delegated<bool>();
    },
  };
}

} // namespace

caf::actor spawn_leader_elector(caf::actor_system& sys, std::shared_ptr<k8s::client> kube,
                                leader_election_options opts, std::function<void(bool)> on_leading,
                                std::function<void(const msg::leader_status&)> on_status,
                                std::function<void(steady_clock::time_point)> on_renewed) {
  if (opts.identity.empty())
    opts.identity = default_identity();
  return sys.spawn(leader_elector, std::move(kube), std::move(opts), std::move(on_leading),
                   std::move(on_status), std::move(on_renewed));
}

} // namespace dbuser::actors
