#pragma once

// Objects read from the API server, kept for a short time: a burst of reconciles naming the same
// admin (or CA) Secret reads it once instead of once per reconcile. Not an informer — nothing
// watches these Secrets (watching every Secret of the cluster is what we avoid) — so an entry is
// trusted for `ttl` only, and dropped at once when the database refuses the credentials it held.
// Thread-safe: supervisors on any scheduler thread share one.
//
// Single flight: when many reconciles miss the same key at once (a burst of new users, or all the
// users of a target retrying together), the first reads it and the others wait for that read
// (begin_read / end_read) instead of sending the same GET each.

#include "common/expected.hpp"
#include "k8s/error.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

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
    std::lock_guard<std::mutex> lock(mutex_);
    last_known_[key] = last_read{object, std::chrono::system_clock::now()};
    if (ttl_.count() <= 0)
      return;
    const auto now = clock::now();
    for (auto i = entries_.begin(); i != entries_.end();) // few keys: sweep on every write
      i = now - i->second.read_at >= ttl_ ? entries_.erase(i) : std::next(i);
    entries_[key] = entry{std::move(object), now};
  }

  using result = expected<nlohmann::json, k8s::error>;
  using waiter = std::function<void(result)>;

  // A caller that missed: true when it should read `key` itself and then call end_read(); false
  // when a read is already in flight (`w` gets its result).
  [[nodiscard]] bool begin_read(const std::string& key, waiter w) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& waiting = reading_[key];
    waiting.push_back(std::move(w));
    return waiting.size() == 1;
  }

  // The read of `key` ended: kept on success, and every waiter (the reader's own included) gets
  // the result. Waiters run on the caller's thread, outside the lock.
  void end_read(const std::string& key, const result& r) {
    if (r)
      put(key, *r);
    std::vector<waiter> waiting;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto i = reading_.find(key);
      if (i == reading_.end())
        return;
      waiting = std::move(i->second);
      reading_.erase(i);
    }
    for (auto& w : waiting)
      w(r);
  }

  void forget(const std::string& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.erase(key);
    last_known_.erase(key);
  }

  // The object last read under `key`, however old, and when: for a deletion whose admin Secret
  // went first (a namespace being deleted takes its Secrets with it). Not for anything else.
  struct last_read {
    nlohmann::json object;
    std::chrono::system_clock::time_point at;
  };
  [[nodiscard]] std::optional<last_read> last_known(const std::string& key) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto i = last_known_.find(key);
    if (i == last_known_.end())
      return std::nullopt;
    return i->second;
  }

private:
  struct entry {
    nlohmann::json object;
    clock::time_point read_at;
  };
  std::chrono::milliseconds ttl_;
  mutable std::mutex mutex_;
  std::map<std::string, entry> entries_;
  std::map<std::string, last_read> last_known_; // one per admin or CA Secret ever read
  std::map<std::string, std::vector<waiter>> reading_;
};

} // namespace dbuser::actors
