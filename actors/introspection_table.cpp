#include "actors/introspection_table.hpp"

#include "common/fair_queue.hpp"

#include "k8s/request.hpp"

#include <dirent.h>
#include <functional>
#include <fstream>
#include <unistd.h>

namespace dbuser::actors {

using nlohmann::json;
using std::chrono::milliseconds;

namespace {

bool ends_a_reconcile(const std::string& phase) {
  return phase == "Idle" || phase == "Backoff" || phase == "Refused";
}

// Claimed by another install, or released by this one: not managed here.
bool not_ours(const supervisor_report& r) {
  return r.phase == "ClaimedElsewhere" || r.phase == "Released";
}

json time_or_null(std::optional<std::chrono::system_clock::time_point> t) {
  return t ? json(k8s::format_time(*t, true)) : json();
}

} // namespace

void introspection_table::apply(const supervisor_report& r, time_point now) {
  if (ends_a_reconcile(r.phase)) {
    ++reconciles_[r.last_result.empty() ? "unknown" : r.last_result];
    durations_.observe(r.last_duration_seconds);
  }
  // A PostgresUser and a MySQLUser may share namespace/name: rows are per kind.
  const std::string id = r.kind + " " + r.key;
  auto& seen = restarts_seen_[id];
  if (r.restarts > seen) {
    supervisor_restarts_ += static_cast<std::uint64_t>(r.restarts - seen);
    seen = r.restarts;
  }
  if (r.deleted) {
    supervisors_.erase(id);
    restarts_seen_.erase(id);
    return;
  }
  auto& row = supervisors_[id];
  // A supervisor re-reports ready=false while it reconciles: keep the last known readiness.
  const bool was_ready = row.last.ready;
  const bool known = !row.last.key.empty();
  row.last = r;
  if (r.phase == "Reconciling" && known)
    row.last.ready = was_ready;
  row.updated = now;
  row.next_wakeup = now + milliseconds(r.next_wakeup_ms);
}

void introspection_table::apply(const pool_stats& s) {
  pools_[s.target] = s;
}

void introspection_table::apply(const slot_queue_stats& s) {
  queues_[{s.kind, s.target}] = s;
}

void introspection_table::apply(const msg::leader_status& s) {
  if (leader_.leader && !s.leader) {
    supervisors_.clear(); // the manager stops every supervisor when reconciling pauses
    restarts_seen_.clear();
  }
  leader_ = s;
}

json introspection_table::row_json(const supervisor_row& row) const {
  const auto& r = row.last;
  const auto slash = r.key.find('/');
  json j{{"key", r.key},
         {"kind", r.kind},
         {"namespace", slash == std::string::npos ? "" : r.key.substr(0, slash)},
         {"name", slash == std::string::npos ? r.key : r.key.substr(slash + 1)},
         {"phase", r.phase},
         {"ready", r.ready},
         {"attempts", r.attempts},
         {"restarts", r.restarts},
         {"last_result", r.last_result.empty() ? json() : json(r.last_result)},
         {"last_error", r.last_error.empty() ? json() : json(r.last_error)},
         {"last_duration_seconds", r.last_duration_seconds},
         {"updated", time_or_null(row.updated)}};
  j["last_success"] = r.last_success_unix > 0
                        ? time_or_null(std::chrono::system_clock::time_point(
                            std::chrono::seconds(r.last_success_unix)))
                        : json();
  j["rotation_due"] = r.rotation_due_unix > 0
                        ? time_or_null(std::chrono::system_clock::time_point(
                            std::chrono::seconds(r.rotation_due_unix)))
                        : json();
  j["claimed_by"] = r.claimed_by.empty() ? json() : json(r.claimed_by);
  const bool waiting = r.next_wakeup_ms > 0;
  j["next_wakeup"] = waiting ? time_or_null(row.next_wakeup) : json();
  j["next_retry"] = waiting && r.phase == "Backoff" ? time_or_null(row.next_wakeup) : json();
  return j;
}

json introspection_table::debug_json() const {
  json sups = json::array();
  for (const auto& [key, row] : supervisors_)
    sups.push_back(row_json(row));
  json pools = json::array();
  auto unix_time = [](std::int64_t t) {
    return t > 0 ? time_or_null(std::chrono::system_clock::time_point(std::chrono::seconds(t)))
                 : json();
  };
  for (const auto& [target, p] : pools_)
    pools.push_back({{"target", p.target},
                     {"state", p.up ? "up" : "down"},
                     {"down_since", unix_time(p.down_since_unix)},
                     {"last_error", p.last_error.empty() ? json() : json(p.last_error)},
                     {"next_probe", unix_time(p.next_probe_unix)},
                     {"waiting_for_target", p.parked},
                     {"failures", p.failures},
                     {"size", p.size},
                     {"busy", p.busy},
                     {"idle", p.size >= p.busy ? p.size - p.busy : 0},
                     {"waiting", p.waiting},
                     {"restarts", p.restarts},
                     {"jobs", p.jobs}});
  json queues = json::array();
  for (const auto& [key, q] : queues_) {
    json lanes = json::object();
    for (int l = 0; l < 2; ++l)
      lanes[lane_name(static_cast<lane>(l))] = {
        {"waiting", q.waiting[l]},
        {"granted", q.granted[l]},
        {"mean_wait_seconds", q.granted[l] != 0 ? q.waited_seconds[l] / q.granted[l] : 0.0},
        {"max_wait_seconds", q.max_wait_seconds[l]}};
    queues.push_back({{"kind", q.kind},
                      {"target", q.target},
                      {"running", q.running},
                      {"namespaces_waiting", q.namespaces_waiting},
                      {"lanes", lanes}});
  }
  json reconciles = json::object();
  for (const auto& [result, n] : reconciles_)
    reconciles[result] = n;
  return {{"install", {{"id", install_id_}}},
          {"supervisors", sups},
          {"pools", pools},
          {"queues", queues},
          {"leader",
           {{"enabled", leader_.enabled},
            {"leader", leader_.leader},
            {"healthy", leader_.healthy},
            {"identity", leader_.identity},
            {"holder", leader_.holder}}},
          {"counters",
           {{"reconciles", reconciles},
            {"rotations", rotations_},
            {"supervisor_restarts", supervisor_restarts_}}}};
}

std::optional<json> introspection_table::supervisor_json(const std::string& key) const {
  // Every kind's supervisor of that namespace/name: one object, or a list when both kinds have one.
  json found = json::array();
  for (const auto& [id, row] : supervisors_)
    if (row.last.key == key)
      found.push_back(row_json(row));
  if (found.empty())
    return std::nullopt;
  return found.size() == 1 ? found[0] : found;
}

std::vector<metrics::metric_family> introspection_table::families(
    const external_counters& ext) const {
  using metrics::metric_family;
  using metrics::metric_type;
  std::vector<metric_family> out;
  auto family = [&out](const char* name, const char* help, metric_type t) -> metric_family& {
    out.push_back(metric_family{name, help, t, {}, {}});
    return out.back();
  };
  auto n = [](auto v) { return static_cast<double>(v); };

  auto& rec = family("dbuser_reconciles_total", "Reconciles that ended, by result.",
                     metric_type::counter);
  for (const char* result : {"success", "retry", "refused"}) {
    auto i = reconciles_.find(result);
    rec.add({{"result", result}}, i == reconciles_.end() ? 0 : n(i->second));
  }
  for (const auto& [result, count] : reconciles_)
    if (result != "success" && result != "retry" && result != "refused")
      rec.add({{"result", result}}, n(count));
  family("dbuser_reconcile_duration_seconds", "Duration of a reconcile, from read to result.",
         metric_type::histogram)
    .histograms.emplace_back(metrics::labels{}, durations_);

  family("dbuser_install_info",
         "This install's identity (--install-id): the users it claims carry it.",
         metric_type::gauge)
    .add({{"install_id", install_id_}}, 1);
  std::map<std::pair<std::string, std::string>, std::size_t> elsewhere; // kind, holder
  std::map<std::string, std::size_t> released;                           // kind
  std::size_t ready = 0, backoff = 0, managed = 0;
  for (const auto& [key, row] : supervisors_) {
    if (row.last.phase == "ClaimedElsewhere")
      ++elsewhere[{row.last.kind, row.last.claimed_by}];
    if (row.last.phase == "Released")
      ++released[row.last.kind];
    if (not_ours(row.last))
      continue;
    ++managed;
    ready += row.last.ready ? 1 : 0;
    backoff += row.last.phase == "Backoff" ? 1 : 0;
  }
  auto& users = family("dbuser_managed_users", "PostgresUsers with a supervisor, by Ready state.",
                       metric_type::gauge);
  users.add({{"ready", "true"}}, n(ready));
  users.add({{"ready", "false"}}, n(managed - ready));
  auto& claimed = family("dbuser_users_claimed_elsewhere",
                         "Users this install leaves alone: another install claimed them "
                         "(annotation database.example.com/claimed-by), by kind and install.",
                         metric_type::gauge);
  for (const auto& [kind_holder, count] : elsewhere)
    claimed.add({{"kind", kind_holder.first}, {"claimed_by", kind_holder.second}}, n(count));
  auto& let_go = family("dbuser_users_released",
                        "Users this install released (--release-all) and leaves alone until "
                        "another install claims them.",
                        metric_type::gauge);
  for (const auto& [kind, count] : released)
    let_go.add({{"kind", kind}}, n(count));
  family("dbuser_supervisors_in_backoff", "Supervisors waiting to retry after a failure.",
         metric_type::gauge)
    .add({}, n(backoff));
  // By kind and namespace (label user_namespace: a scrape adds its own `namespace`, the pod's).
  std::map<std::pair<std::string, std::string>, std::pair<std::size_t, std::size_t>> by_ns;
  std::int64_t earliest_rotation = 0;
  for (const auto& [id, row] : supervisors_) {
    const auto& r = row.last;
    if (not_ours(r))
      continue;
    const auto slash = r.key.find('/');
    auto& [ready_n, not_ready_n] =
      by_ns[{r.kind, slash == std::string::npos ? std::string() : r.key.substr(0, slash)}];
    ++(r.ready ? ready_n : not_ready_n);
    const auto due = r.rotation_due_unix;
    if (due > 0 && (earliest_rotation == 0 || due < earliest_rotation))
      earliest_rotation = due;
  }
  auto& per_ns = family("dbuser_managed_users_by_namespace",
                        "Users with a supervisor, by kind, namespace and Ready state.",
                        metric_type::gauge);
  for (const auto& [kind_ns, counts] : by_ns) {
    per_ns.add({{"kind", kind_ns.first}, {"user_namespace", kind_ns.second}, {"ready", "true"}},
               n(counts.first));
    per_ns.add({{"kind", kind_ns.first}, {"user_namespace", kind_ns.second}, {"ready", "false"}},
               n(counts.second));
  }
  if (earliest_rotation > 0)
    family("dbuser_password_rotation_earliest_due_timestamp_seconds",
           "When the earliest periodic password rotation among the users is due (Unix time).",
           metric_type::gauge)
      .add({}, n(earliest_rotation));

  struct pool_metric {
    const char* name;
    const char* help;
    metric_type type;
    double (*value)(const pool_stats&);
  };
  const pool_metric pool_metrics[] = {
    {"dbuser_db_pool_size", "Open connections of a pool.", metric_type::gauge,
     [](const pool_stats& p) { return static_cast<double>(p.size); }},
    {"dbuser_db_pool_busy", "Connections running a job.", metric_type::gauge,
     [](const pool_stats& p) { return static_cast<double>(p.busy); }},
    {"dbuser_db_pool_idle", "Open connections without a job.", metric_type::gauge,
     [](const pool_stats& p) { return static_cast<double>(p.size >= p.busy ? p.size - p.busy : 0); }},
    {"dbuser_db_pool_waiting", "Jobs queued for a free connection.", metric_type::gauge,
     [](const pool_stats& p) { return static_cast<double>(p.waiting); }},
    {"dbuser_db_pool_restarts_total", "Connection actors of a pool that died and were replaced.",
     metric_type::counter, [](const pool_stats& p) { return static_cast<double>(p.restarts); }},
    {"dbuser_db_pool_jobs_total", "Jobs a pool ran.", metric_type::counter,
     [](const pool_stats& p) { return static_cast<double>(p.jobs); }},
  };
  auto& up = family("dbuser_db_target_up",
                     "1 while a database target answers, 0 while it is down (its jobs fail fast).",
                     metric_type::gauge);
  for (const auto& [target, p] : pools_)
    up.add({{"target", target}}, p.up ? 1 : 0);
  auto& failures = family("dbuser_db_target_failures_total",
                          "Failures of a database target by kind (unavailable, auth, "
                          "unresponsive): connections refused or timed out, broken or silent.",
                          metric_type::counter);
  for (const auto& [target, p] : pools_)
    for (const auto& [kind, count] : p.failures)
      failures.add({{"target", target}, {"kind", kind}}, n(count));
  std::uint64_t connection_restarts = 0;
  for (const auto& [target, p] : pools_)
    connection_restarts += p.restarts;
  for (const auto& m : pool_metrics) {
    auto& f = family(m.name, m.help, m.type);
    for (const auto& [target, p] : pools_)
      f.add({{"target", target}}, m.value(p));
  }

  // The reconcile slots of each database target and their waiting line (common/fair_queue.hpp).
  // Each family is filled before the next is made (family() returns a reference into `out`).
  auto& slots = family("dbuser_reconcile_slots_busy",
                       "Reconciles running on a database target (at most "
                       "--max-concurrent-reconciles).",
                       metric_type::gauge);
  for (const auto& [key, q] : queues_)
    slots.add({{"kind", q.kind}, {"target", q.target}}, n(q.running));
  const struct {
    const char* name;
    const char* help;
    metric_type type;
    double (*value)(const slot_queue_stats&, std::size_t lane);
  } lane_metrics[] = {
    {"dbuser_reconcile_queue_depth",
     "Resources waiting for a reconcile slot of a database target, by lane (urgent: new or "
     "changed; background: resyncs, retries, deletions).",
     metric_type::gauge,
     [](const slot_queue_stats& q, std::size_t l) { return static_cast<double>(q.waiting[l]); }},
    {"dbuser_reconcile_queue_grants_total", "Reconcile slots handed out, by target and lane.",
     metric_type::counter,
     [](const slot_queue_stats& q, std::size_t l) { return static_cast<double>(q.granted[l]); }},
    {"dbuser_reconcile_queue_wait_seconds_total",
     "Seconds the granted resources waited for their slot, in total (divide by the grants for "
     "the mean).",
     metric_type::counter,
     [](const slot_queue_stats& q, std::size_t l) { return q.waited_seconds[l]; }},
    {"dbuser_reconcile_queue_max_wait_seconds",
     "The longest wait for a slot between two reports (about a second).", metric_type::gauge,
     [](const slot_queue_stats& q, std::size_t l) { return q.max_wait_seconds[l]; }},
  };
  for (const auto& m : lane_metrics) {
    auto& f = family(m.name, m.help, m.type);
    for (const auto& [key, q] : queues_)
      for (std::size_t l = 0; l < 2; ++l)
        f.add({{"kind", q.kind}, {"target", q.target}, {"lane", lane_name(static_cast<lane>(l))}},
              m.value(q, l));
  }

  auto& kube = family("dbuser_kube_requests_total",
                      "Kubernetes API requests by verb and HTTP status (0: no response).",
                      metric_type::counter);
  for (const auto& r : ext.kube_requests)
    kube.add({{"verb", r.verb}, {"code", std::to_string(r.code)}}, n(r.count));
  family("dbuser_watch_restarts_total", "Watches of the informers that were reopened.",
         metric_type::counter)
    .add({}, n(ext.watch_restarts));
  family("dbuser_informer_relists_total", "Full lists made by the informers.",
         metric_type::counter)
    .add({}, n(ext.relists));
  family("dbuser_cache_synced", "1 when the informer caches hold a full list.",
         metric_type::gauge)
    .add({}, ext.caches_synced ? 1 : 0);
  family("dbuser_password_rotations_total", "Passwords rotated.", metric_type::counter)
    .add({}, n(rotations_));
  auto& restarts = family("dbuser_actor_restarts_total", "Actors that died and were restarted.",
                          metric_type::counter);
  restarts.add({{"kind", "user_supervisor"}}, n(supervisor_restarts_));
  restarts.add({{"kind", "db_connection"}}, n(connection_restarts));
  family("dbuser_leader", "1 while this process may reconcile (leader, or no election).",
         metric_type::gauge)
    .add({}, !leader_.enabled || leader_.leader ? 1 : 0);
  if (!ext.shards.empty()) {
    // One family at a time: `family` appends to `out`, which moves the ones before.
    const auto per_shard = [&](const char* name, const char* help, metric_type t,
                               const std::function<double(const shard_status&)>& value) {
      auto& f = family(name, help, t);
      for (const auto& s : ext.shards)
        f.add({{"shard", std::to_string(s.shard)}}, value(s));
    };
    per_shard("dbuser_shard_held", "1 while this process holds the shard's Lease.",
              metric_type::gauge, [](const shard_status& s) { return s.held ? 1.0 : 0.0; });
    per_shard("dbuser_shard_held_since_seconds",
              "When this process took the shard's Lease (Unix time; 0: not held).",
              metric_type::gauge, [&](const shard_status& s) { return n(s.held_since_unix); });
    per_shard("dbuser_shard_takeovers_total", "Times this process took the shard's Lease.",
              metric_type::counter, [&](const shard_status& s) { return n(s.takeovers); });
    per_shard("dbuser_shard_users", "Users of the shard this process looks after (supervisors).",
              metric_type::gauge, [&](const shard_status& s) { return n(s.users); });
  }
  if (ext.rss_bytes)
    family("process_resident_memory_bytes", "Resident memory size in bytes.", metric_type::gauge)
      .add({}, n(*ext.rss_bytes));
  if (ext.open_fds)
    family("process_open_fds", "Number of open file descriptors.", metric_type::gauge)
      .add({}, n(*ext.open_fds));
  return out;
}

json shards_json(const std::vector<shard_status>& shards) {
  json out = json::array();
  for (const auto& s : shards)
    out.push_back({{"shard", s.shard},
                   {"lease", s.lease},
                   {"preferred", s.preferred},
                   {"held", s.held},
                   {"valid_for_seconds", s.valid_for_seconds},
                   {"held_since_unix", s.held_since_unix},
                   {"takeovers", s.takeovers},
                   {"users", s.users}});
  return out;
}

std::optional<std::uint64_t> process_rss_bytes() {
  std::ifstream in("/proc/self/statm");
  std::uint64_t total = 0, resident = 0;
  if (!(in >> total >> resident))
    return std::nullopt;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

std::optional<std::uint64_t> process_open_fds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr)
    return std::nullopt;
  std::uint64_t n = 0;
  while (const dirent* e = ::readdir(d))
    if (e->d_name[0] != '.')
      ++n;
  ::closedir(d);
  return n > 0 ? n - 1 : 0; // minus the directory stream itself
}

} // namespace dbuser::actors
