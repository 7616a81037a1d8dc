#include "actors/user_manager.hpp"

#include "common/fair_queue.hpp"
#include "actors/user_supervisor.hpp"
#include "api/shard.hpp"
#include "messages/reconcile.hpp"

#include <caf/all.hpp>
#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <random>
#include <spdlog/spdlog.h>

namespace dbuser::actors {

namespace {

struct entry {
  caf::actor supervisor; // invalid while waiting to be restarted
  int restarts = 0;
  int shard = -1; // with shards: its user's shard when it started
};

struct manager_state {
  std::shared_ptr<const operator_context> ctx;
  std::map<std::string, entry> users;
  // Reconcile slots, max_concurrent_reconciles per database target (the bucket a supervisor
  // names when it asks): a target that is slow or down never holds another target's slots.
  struct bucket {
    std::size_t running = 0;
    fair_queue<caf::actor> waiting; // asked for one: by lane, namespaces in turn (fair_queue.hpp)
  };
  std::map<std::string, bucket> buckets;
  std::map<caf::actor_addr, std::string> running; // supervisors holding a slot → bucket
  struct waiter {
    std::string target;
    std::string ns;
    lane in = lane::urgent;
    std::chrono::steady_clock::time_point since;
  };
  std::map<caf::actor_addr, waiter> still_waiting; // asked, still alive (a dead one is skipped)
  // What /metrics and /debug/actors show of the waiting lines: by target, kept for good (one
  // entry per target), reported about once a second while something changes.
  std::map<std::string, slot_queue_stats> stats;
  std::set<std::string> changed;
  bool report_scheduled = false;
  bool paused = false;
  bool stopping = false;
  std::vector<std::size_t> per_shard; // with shards: entries by shard (shard_table::count_users)
  std::mt19937_64 rng{std::random_device{}()};
  static inline const char* name = "user_manager";
};

using manager = caf::stateful_actor<manager_state>;

// Marks `target`'s waiting line as changed; its report goes out within a second.
void note_change(manager* self, const std::string& target) {
  auto& st = self->state;
  if (!st.ctx->report_queue)
    return;
  st.changed.insert(target);
  if (!st.report_scheduled) {
    st.report_scheduled = true;
    self->delayed_send(self, std::chrono::seconds(1), msg::queue_tick_atom::value);
  }
}

void report_queues(manager* self) {
  auto& st = self->state;
  st.report_scheduled = false;
  for (const auto& target : st.changed) {
    auto& s = st.stats[target];
    s.kind = st.ctx->kind;
    s.target = target;
    auto b = st.buckets.find(target);
    s.running = b == st.buckets.end() ? 0 : b->second.running;
    for (auto l : {lane::urgent, lane::background}) {
      const auto i = static_cast<std::size_t>(l);
      s.waiting[i] = b == st.buckets.end() ? 0 : b->second.waiting.size(l);
    }
    s.namespaces_waiting = b == st.buckets.end() ? 0
                                                 : b->second.waiting.namespaces(lane::urgent)
                                                     + b->second.waiting.namespaces(lane::background);
    st.ctx->report_queue(s);
    s.max_wait_seconds[0] = s.max_wait_seconds[1] = 0;
  }
  st.changed.clear();
}

// Hands free slots of `name` to its waiting supervisors (skipping any that died meanwhile).
void grant(manager* self, const std::string& name) {
  auto& st = self->state;
  const auto limit = std::max<std::size_t>(1, st.ctx->settings.max_concurrent_reconciles);
  auto b = st.buckets.find(name);
  if (b == st.buckets.end())
    return;
  note_change(self, name);
  while (b->second.running < limit && !b->second.waiting.empty()) {
    auto next = b->second.waiting.pop().first;
    auto w = st.still_waiting.find(next.address());
    if (w == st.still_waiting.end())
      continue;
    if (st.ctx->shards && !st.ctx->shards->holds(w->second.target, w->second.ns)) {
      st.still_waiting.erase(w); // the fence, again: its shard was lost while it waited
      self->send_exit(next, caf::exit_reason::user_shutdown);
      continue;
    }
    const auto i = static_cast<std::size_t>(w->second.in);
    const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - w->second.since).count();
    st.still_waiting.erase(w);
    if (st.running.emplace(next.address(), name).second) {
      ++b->second.running;
      auto& s = st.stats[name];
      ++s.granted[i];
      s.waited_seconds[i] += waited;
      s.max_wait_seconds[i] = std::max(s.max_wait_seconds[i], waited);
      self->send(next, msg::grant_atom::value);
    }
  }
  if (b->second.running == 0 && b->second.waiting.empty())
    st.buckets.erase(b);
}

void release(manager* self, const caf::actor_addr& supervisor) {
  auto& st = self->state;
  st.still_waiting.erase(supervisor);
  auto i = st.running.find(supervisor);
  if (i == st.running.end())
    return;
  const std::string name = std::move(i->second);
  st.running.erase(i);
  if (auto b = st.buckets.find(name); b != st.buckets.end() && b->second.running > 0)
    --b->second.running;
  grant(self, name);
}

void start(manager* self, const std::string& key, entry& e) {
  e.supervisor = spawn_user_supervisor(self, key, self->state.ctx, e.restarts);
  self->send(e.supervisor, msg::reconcile_atom::value);
}

// Shards: whether this process may reconcile `key` now, and its shard (-1: it is not in the
// cache, or there are no shards: the key is ours if it has a supervisor).
struct ownership {
  bool ours = true;
  int shard = -1;
};

ownership owner_of(manager* self, const std::string& key) {
  const auto& ctx = *self->state.ctx;
  if (!ctx.shards)
    return {};
  auto object = ctx.users->get(key);
  if (!object)
    return {self->state.users.count(key) != 0, -1};
  const int shard =
    ctx.shards->shard_of(api::target_key(*object, ctx.engine), key.substr(0, key.find('/')));
  return {ctx.shards->holds(shard), shard};
}

// Counts an entry in (+1) or out (-1) of its shard, for shard_table::count_users.
void count(manager* self, const entry& e, int delta) {
  auto& st = self->state;
  if (!st.ctx->shards || e.shard < 0)
    return;
  st.per_shard.resize(static_cast<std::size_t>(st.ctx->shards->shards()), 0);
  auto& n = st.per_shard[static_cast<std::size_t>(e.shard)];
  n = delta > 0 ? n + 1 : (n > 0 ? n - 1 : 0);
  st.ctx->shards->count_users(st.ctx->kind, st.per_shard);
}

void forget(manager* self, std::map<std::string, entry>::iterator i) {
  count(self, i->second, -1);
  self->state.users.erase(i);
}

caf::behavior user_manager(manager* self, std::shared_ptr<const operator_context> ctx,
                           bool start_paused) {
  self->state.ctx = std::move(ctx);
  self->state.paused = start_paused;
  self->set_down_handler([self](caf::down_msg& dm) {
    release(self, dm.source);
    auto& users = self->state.users;
    auto i = std::find_if(users.begin(), users.end(), [&](const auto& kv) {
      return kv.second.supervisor.address() == dm.source;
    });
    if (i == users.end())
      return;
    if (self->state.stopping || self->state.paused
        || dm.reason == caf::exit_reason::user_shutdown) {
      const auto& context = *self->state.ctx;
      if (context.shards && context.report && !self->state.stopping) {
        // Stopped because its shard is not (or no longer) ours: it leaves /debug/actors and
        // the user counts here (it can report nothing more, so this is its last word).
        supervisor_report gone;
        gone.kind = context.kind;
        gone.key = i->first;
        gone.phase = "Stopped";
        gone.deleted = true;
        context.report(gone);
      }
      forget(self, i);
      return;
    }
    if (!dm.reason) { // it stopped because its resource is gone
      const std::string key = i->first;
      forget(self, i);
      if (self->state.ctx->users->get(key)) // ... and a new one by that name appeared since
        self->send(self, msg::reconcile_atom::value, key);
      return;
    }
    auto& e = i->second;
    e.supervisor = caf::actor();
    ++e.restarts;
    std::uniform_real_distribution<double> draw(0.0, 1.0);
    auto delay = backoff_delay(self->state.ctx->settings.backoff, e.restarts, draw(self->state.rng));
    spdlog::error("{}: supervisor died ({}); restart #{} in {} ms", i->first,
                  self->system().render(dm.reason), e.restarts, delay.count());
    self->delayed_send(self, delay, msg::respawn_atom::value, i->first);
  });
  return {
    [self](msg::reconcile_atom, const std::string& key) {
      if (self->state.paused || self->state.stopping)
        return;
      const auto owner = owner_of(self, key);
      if (!owner.ours) {
        // Another shard's user (or one whose target moved it there): not reconciled here.
        auto i = self->state.users.find(key);
        if (i != self->state.users.end() && i->second.supervisor)
          self->send_exit(i->second.supervisor, caf::exit_reason::user_shutdown);
        else if (i != self->state.users.end())
          forget(self, i);
        return;
      }
      auto [i, fresh] = self->state.users.try_emplace(key);
      if (fresh) {
        i->second.shard = owner.shard;
        count(self, i->second, +1);
        start(self, key, i->second);
      }
      else if (i->second.supervisor)
        self->send(i->second.supervisor, msg::reconcile_atom::value);
      // else: it is waiting to be restarted; the restart reconciles.
    },
    [self](msg::targets_atom, const std::string& ns) {
      if (self->state.paused || self->state.stopping)
        return;
      const std::string prefix = ns + "/";
      for (auto& [key, e] : self->state.users)
        if (e.supervisor && (ns.empty() || key.compare(0, prefix.size(), prefix) == 0))
          self->send(e.supervisor, msg::reconcile_atom::value);
    },
    [self](msg::respawn_atom, const std::string& key) {
      auto i = self->state.users.find(key);
      if (i == self->state.users.end() || i->second.supervisor || self->state.stopping)
        return;
      if (self->state.paused || !owner_of(self, key).ours) {
        forget(self, i);
        return;
      }
      start(self, key, i->second);
    },
    [self](msg::pause_atom, bool paused) {
      if (paused == self->state.paused)
        return;
      self->state.paused = paused;
      spdlog::info("reconciling {}", paused ? "paused" : "resumed");
      if (paused)
        for (auto& [key, e] : self->state.users)
          if (e.supervisor)
            self->send_exit(e.supervisor, caf::exit_reason::user_shutdown);
    },
    [self](msg::shutdown_atom) {
      self->state.stopping = true;
      for (auto& [key, e] : self->state.users)
        if (e.supervisor)
          self->send_exit(e.supervisor, caf::exit_reason::user_shutdown);
      self->quit();
    },
    [self](msg::shard_atom, int shard, bool held) {
      // A shard lost: its supervisors stop now (one taken: the runtime replays its users).
      if (held)
        return;
      for (auto i = self->state.users.begin(); i != self->state.users.end();) {
        auto next = std::next(i);
        if (i->second.shard == shard) {
          if (i->second.supervisor)
            self->send_exit(i->second.supervisor, caf::exit_reason::user_shutdown);
          else
            forget(self, i);
        }
        i = next;
      }
    },
    [self](msg::supervisors_atom) -> std::size_t { return self->state.users.size(); },
    [self](msg::acquire_atom, const std::string& target, const std::string& ns, bool urgent) {
      auto sender = caf::actor_cast<caf::actor>(self->current_sender());
      if (!sender)
        return;
      // The fence: no reconcile starts without the shard's Lease held and valid (shard_table).
      if (self->state.ctx->shards && !self->state.ctx->shards->holds(target, ns)) {
        self->send_exit(sender, caf::exit_reason::user_shutdown);
        return;
      }
      const auto l = urgent ? lane::urgent : lane::background;
      if (!self->state.still_waiting
             .emplace(sender.address(),
                      manager_state::waiter{target, ns, l, std::chrono::steady_clock::now()})
             .second)
        return; // already waiting
      self->state.buckets[target].waiting.push(l, ns, std::move(sender));
      grant(self, target);
    },
    [self](msg::queue_tick_atom) { report_queues(self); },
    [self](msg::release_atom) {
      release(self, caf::actor_cast<caf::actor_addr>(self->current_sender()));
    },
  };
}

} // namespace

caf::actor spawn_user_manager(caf::actor_system& sys, std::shared_ptr<const operator_context> ctx,
                              bool start_paused) {
  return sys.spawn(user_manager, std::move(ctx), start_paused);
}

} // namespace dbuser::actors
