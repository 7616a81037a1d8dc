#pragma once

// Objects read from the API server, kept for a short time: a burst of reconciles naming the same
// admin (or CA) Secret reads it once instead of once per reconcile. Not an informer — nothing
// watches these Secrets (watching every Secret of the cluster is what we avoid) — so an entry is
// trusted for `ttl` only, and dropped at once when the database refuses the credentials it held.
// Thread-safe: supervisors on any scheduler thread share one.

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace dbuser::actors {

class read_cache {
public:
  using clock = std::chrono::steady_clock;

  explicit read_cache(std::chrono::milliseconds ttl) : ttl_(ttl) {}

  [[nodiscard]] std::optional<nlohmann::json> get(const std::string& key) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto i = entries_.find(key);
    if (i == entries_.end() || clock::now() - i->second.read_at >= ttl_)
      return std::nullopt;
    return i->second.object;
  }

  void put(const std::string& key, nlohmann::json object) {
    if (ttl_.count() <= 0)
      return;
    std::lock_guard<std::mutex> lock(mutex_);
    const auto now = clock::now();
    for (auto i = entries_.begin(); i != entries_.end();) // few keys: sweep on every write
      i = now - i->second.read_at >= ttl_ ? entries_.erase(i) : std::next(i);
    entries_[key] = entry{std::move(object), now};
  }

  void forget(const std::string& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.erase(key);
  }

private:
  struct entry {
    nlohmann::json object;
    clock::time_point read_at;
  };
  std::chrono::milliseconds ttl_;
  mutable std::mutex mutex_;
  std::map<std::string, entry> entries_;
};

} // namespace dbuser::actors
