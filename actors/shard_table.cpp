#include "actors/shard_table.hpp"

namespace dbuser::actors {

shard_table::shard_table(int shards, api::shard_key_mode mode, const std::string& lease_base,
                         int preferred)
    : mode_(mode), rows_(static_cast<std::size_t>(std::max(shards, 1))) {
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    rows_[i].status.shard = static_cast<int>(i);
    rows_[i].status.lease = api::shard_lease_name(lease_base, static_cast<int>(i));
    rows_[i].status.preferred = static_cast<int>(i) == preferred;
  }
}

int shard_table::shard_of(const std::string& target, const std::string& ns) const {
  return api::shard_of(api::shard_key(mode_, target, ns), shards());
}

bool shard_table::holds(int shard) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (shard < 0 || shard >= shards())
    return false;
  const auto& r = rows_[static_cast<std::size_t>(shard)];
  return r.status.held && clock::now() < r.valid_until;
}

void shard_table::set_held(int shard, bool held) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (shard < 0 || shard >= shards())
    return;
  auto& r = rows_[static_cast<std::size_t>(shard)];
  if (r.status.held == held)
    return;
  r.status.held = held;
  if (held) {
    ++r.status.takeovers;
    r.status.held_since_unix = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  } else {
    r.status.held_since_unix = 0;
    r.valid_until = {};
  }
}

void shard_table::renewed(int shard, clock::time_point valid_until) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (shard >= 0 && shard < shards())
    rows_[static_cast<std::size_t>(shard)].valid_until = valid_until;
}

void shard_table::count_users(const std::string& kind, const std::vector<std::size_t>& per_shard) {
  std::lock_guard<std::mutex> lock(mutex_);
  users_[kind] = per_shard;
}

std::vector<shard_status> shard_table::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = clock::now();
  std::vector<shard_status> out;
  for (const auto& r : rows_) {
    auto s = r.status;
    s.held = s.held && now < r.valid_until;
    s.valid_for_seconds =
      s.held ? std::chrono::duration<double>(r.valid_until - now).count() : 0.0;
    for (const auto& [kind, counts] : users_)
      if (static_cast<std::size_t>(s.shard) < counts.size())
        s.users += counts[static_cast<std::size_t>(s.shard)];
    out.push_back(std::move(s));
  }
  return out;
}

} // namespace dbuser::actors
