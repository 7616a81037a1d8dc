#include "actors/introspection.hpp"

#include <caf/all.hpp>

namespace dbuser::actors {

namespace {

struct introspection_state {
  introspection_table table;
  metric_sources sources;
  std::function<std::chrono::system_clock::time_point()> now;
  static inline const char* name = "introspection";
};

using introspection_actor = caf::stateful_actor<introspection_state>;

external_counters collect(introspection_actor* self) {
  external_counters ext;
  if (self->state.sources.counters)
    ext = self->state.sources.counters();
  if (self->state.sources.shards)
    ext.shards = self->state.sources.shards();
  ext.rss_bytes = process_rss_bytes();
  ext.open_fds = process_open_fds();
  return ext;
}

caf::behavior introspection(introspection_actor* self, bool leader_election,
                            std::function<std::chrono::system_clock::time_point()> now) {
  self->state.now = std::move(now);
  msg::leader_status initial;
  initial.enabled = leader_election;
  self->state.table.apply(initial);
  return {
    [self](msg::sup_report_atom, const supervisor_report& r) {
      self->state.table.apply(r, self->state.now());
    },
    [self](msg::pool_stats_atom, const pool_stats& s) { self->state.table.apply(s); },
    [self](msg::queue_stats_atom, const slot_queue_stats& s) { self->state.table.apply(s); },
    [self](msg::rotated_atom) { self->state.table.rotation(); },
    [self](msg::leader_atom, const msg::leader_status& s) { self->state.table.apply(s); },
    [self](msg::sources_atom, metric_sources& s) {
      self->state.table.set_install_id(s.install_id);
      self->state.sources = std::move(s);
    },
    [](msg::ping_atom) { return true; },
    [self](msg::ready_atom) -> std::string {
      const auto& src = self->state.sources;
      if (!src.synced || !src.synced())
        return "informer caches not synced";
      const auto& l = self->state.table.leader();
      if (l.enabled && !l.leader && !l.healthy)
        return "leader election: the Lease cannot be read";
      return "";
    },
    [self](msg::metrics_atom) -> std::string {
      return self->state.table.metrics_text(collect(self));
    },
    [self](msg::debug_atom) -> std::string {
      auto j = self->state.table.debug_json();
      if (self->state.sources.shards)
        j["shards"] = shards_json(self->state.sources.shards());
      return j.dump(2);
    },
    [self](msg::debug_atom, const std::string& key) -> std::string {
      auto j = self->state.table.supervisor_json(key);
      return j ? j->dump(2) : std::string();
    },
  };
}

} // namespace

caf::actor spawn_introspection(caf::actor_system& sys, bool leader_election,
                               std::function<std::chrono::system_clock::time_point()> now) {
  return sys.spawn(introspection, leader_election, std::move(now));
}

introspection_hooks hooks_for(const caf::actor& introspection) {
  introspection_hooks h;
  h.on_supervisor_report = [introspection](const supervisor_report& r) {
    caf::anon_send(introspection, msg::sup_report_atom::value, r);
  };
  h.on_pool_stats = [introspection](const pool_stats& s) {
    caf::anon_send(introspection, msg::pool_stats_atom::value, s);
  };
  h.on_queue_stats = [introspection](const slot_queue_stats& s) {
    caf::anon_send(introspection, msg::queue_stats_atom::value, s);
  };
  h.on_rotation = [introspection] { caf::anon_send(introspection, msg::rotated_atom::value); };
  h.on_leader = [introspection](const msg::leader_status& s) {
    caf::anon_send(introspection, msg::leader_atom::value, s);
  };
  return h;
}

} // namespace dbuser::actors
