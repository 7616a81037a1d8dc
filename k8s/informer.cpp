#include "k8s/informer.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace dbuser::k8s {

using nlohmann::json;

namespace {
std::shared_ptr<spdlog::logger> logger() {
  auto l = spdlog::get("k8s");
  return l ? l : spdlog::default_logger();
}
} // namespace

std::shared_ptr<informer> informer::make(std::shared_ptr<client> c, resource res, std::string ns,
                                         informer_handlers handlers, informer_options opts) {
  return std::shared_ptr<informer>(new informer(std::move(c), std::move(res), std::move(ns), std::move(handlers),
                                                std::move(opts)));
}

informer::informer(std::shared_ptr<client> c, resource res, std::string ns, informer_handlers handlers,
                   informer_options opts)
    : client_(std::move(c)), res_(std::move(res)), ns_(std::move(ns)), handlers_(std::move(handlers)),
      opts_(std::move(opts)), backoff_(opts_.backoff_initial) {}

informer::~informer() {
  std::shared_ptr<watch_handle> w;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    w = std::move(watch_);
  }
  if (w) w->stop();
}

void informer::start() { relist(); }

void informer::stop() {
  std::shared_ptr<watch_handle> w;
  {
    std::lock_guard<std::recursive_mutex> deliver(deliver_mutex_);
    std::lock_guard<std::mutex> lock(mutex_);
    stopped_ = true;
    ++epoch_;
    w = std::move(watch_);
  }
  if (w) w->stop();
}

bool informer::synced() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return synced_;
}

informer::entry informer::pack(const json& obj) {
  entry e{resource_version_of(obj), json::to_msgpack(obj)};
  // to_msgpack grows its vector by doubling: up to half of what it holds would be unused, for as
  // long as the object is cached (heaptrack at N=1000: the largest share of the live heap).
  e.packed.shrink_to_fit();
  return e;
}

json informer::unpack(const entry& e) { return json::from_msgpack(e.packed); }

std::optional<json> informer::get(const std::string& key) const {
  std::vector<std::uint8_t> packed;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = cache_.find(key);
    if (it == cache_.end()) return std::nullopt;
    packed = it->second.packed;
  }
  return json::from_msgpack(packed);
}

std::vector<json> informer::list() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<json> out;
  out.reserve(cache_.size());
  for (const auto& [k, v] : cache_) out.push_back(unpack(v));
  return out;
}

std::size_t informer::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cache_.size();
}

std::string informer::last_resource_version() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return rv_;
}

std::uint64_t informer::relists() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return relists_;
}

std::uint64_t informer::watch_restarts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return watch_restarts_;
}

void informer::report(const error& e) {
  logger()->debug("informer {} {}: {}", res_.plural, ns_, e.to_string());
  if (handlers_.on_error) handlers_.on_error(e);
}

void informer::relist() {
  std::uint64_t epoch;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return;
    epoch = ++epoch_;
    ++relists_;
  }
  list_options lo;
  lo.label_selector = opts_.label_selector;
  lo.field_selector = opts_.field_selector;
  lo.limit = opts_.page_limit;
  std::weak_ptr<informer> weak = shared_from_this();
  client_->list_all(res_, ns_, lo, [weak, epoch](expected<json, error> r) {
    if (auto self = weak.lock()) self->on_list(epoch, std::move(r));
  });
}

void informer::on_list(std::uint64_t epoch, expected<json, error> result) {
  std::lock_guard<std::recursive_mutex> deliver(deliver_mutex_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_ || epoch != epoch_) return;
  }
  if (!result && opts_.absent_is_empty && result.error().code == error::kind::not_found) {
    // Not served (yet): nothing of it exists. Listed again later, when its CRD may be installed.
    report(result.error());
    std::vector<json> deleted;
    bool first_sync = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& [key, e] : cache_) deleted.push_back(unpack(e));
      cache_.clear();
      first_sync = !synced_;
      synced_ = true;
      backoff_ = opts_.backoff_max;
    }
    for (const auto& o : deleted)
      if (handlers_.on_delete) handlers_.on_delete(o);
    if (first_sync && handlers_.on_synced) handlers_.on_synced();
    retry_later(/*relist_after=*/true, std::nullopt);
    return;
  }
  if (!result) {
    report(result.error());
    if (result.error().code == error::kind::canceled) return;
    retry_later(/*relist_after=*/true, result.error().retry_after);
    return;
  }
  // The cache becomes exactly the list; callbacks for what differs.
  std::map<std::string, json> fresh;
  auto& items = (*result)["items"];
  if (!items.is_array()) items = json::array();
  for (auto& item : items) {
    // List items carry no apiVersion/kind: fill them in like watch events have them.
    if (!item.contains("apiVersion")) item["apiVersion"] = res_.api_version();
    if (!item.contains("kind")) {
      const auto k = result->value("kind", std::string());
      if (k.size() > 4 && k.compare(k.size() - 4, 4, "List") == 0) item["kind"] = k.substr(0, k.size() - 4);
    }
    trim(item);
    fresh.emplace(key_of(item), std::move(item));
  }
  std::vector<json> added, deleted;
  std::vector<std::pair<json, json>> updated;
  bool first_sync = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::map<std::string, entry> packed;
    for (const auto& [key, obj] : fresh) {
      auto e = pack(obj);
      auto it = cache_.find(key);
      if (it == cache_.end())
        added.push_back(obj);
      else if (it->second.resource_version != e.resource_version)
        updated.emplace_back(unpack(it->second), obj);
      packed.emplace(key, std::move(e));
    }
    for (const auto& [key, e] : cache_)
      if (fresh.find(key) == fresh.end()) deleted.push_back(unpack(e));
    cache_ = std::move(packed);
    const auto meta = result->find("metadata");
    rv_ = meta != result->end() && meta->is_object() ? meta->value("resourceVersion", std::string()) : "";
    first_sync = !synced_;
    synced_ = true;
  }
  logger()->debug("informer {} {}: listed at resourceVersion {} ({} added, {} updated, {} deleted)", res_.plural,
                  ns_, last_resource_version(), added.size(), updated.size(), deleted.size());
  for (const auto& o : deleted)
    if (handlers_.on_delete) handlers_.on_delete(o);
  for (const auto& o : added)
    if (handlers_.on_add) handlers_.on_add(o);
  for (const auto& [o, n] : updated)
    if (handlers_.on_update) handlers_.on_update(o, n);
  if (first_sync && handlers_.on_synced) handlers_.on_synced();
  start_watch();
}

void informer::start_watch() {
  std::uint64_t epoch;
  watch_options wo;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return;
    epoch = ++epoch_;
    wo.resource_version = rv_;
    watch_started_ = std::chrono::steady_clock::now();
  }
  wo.label_selector = opts_.label_selector;
  wo.field_selector = opts_.field_selector;
  wo.timeout_seconds = opts_.watch_timeout_seconds;
  wo.allow_bookmarks = true;
  std::weak_ptr<informer> weak = shared_from_this();
  auto w = client_->watch(
      res_, ns_, wo,
      [weak, epoch](const watch_event& ev) {
        if (auto self = weak.lock()) self->on_event(epoch, ev);
      },
      [weak, epoch](expected<void, error> r) {
        if (auto self = weak.lock()) self->on_close(epoch, std::move(r));
      });
  std::shared_ptr<watch_handle> old;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    old = std::move(watch_);
    watch_ = w;
    if (stopped_) old = w;
  }
  if (old && old != w) old->stop();
  if (old == w) w->stop();
}

void informer::trim(json& obj) const {
  if (!opts_.strip_managed_fields) return;
  if (auto md = obj.find("metadata"); md != obj.end() && md->is_object()) md->erase("managedFields");
}

void informer::on_event(std::uint64_t epoch, const watch_event& event) {
  std::lock_guard<std::recursive_mutex> deliver(deliver_mutex_);
  enum { none, add, update, del } action = none;
  json old_obj;
  watch_event ev = event;
  trim(ev.object);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_ || epoch != epoch_) return;
    backoff_ = opts_.backoff_initial;
    const std::string rv = resource_version_of(ev.object);
    if (!rv.empty()) rv_ = rv;
    if (ev.type == "BOOKMARK") return;
    const std::string key = key_of(ev.object);
    auto it = cache_.find(key);
    if (ev.type == "ADDED" || ev.type == "MODIFIED") {
      if (it == cache_.end()) {
        cache_.emplace(key, pack(ev.object));
        action = add;
      } else if (it->second.resource_version != rv) {
        if (handlers_.on_update) old_obj = unpack(it->second);
        it->second = pack(ev.object);
        action = update;
      }
    } else if (ev.type == "DELETED") {
      if (it != cache_.end()) {
        cache_.erase(it);
        action = del;
      }
    }
  }
  switch (action) {
    case add:
      if (handlers_.on_add) handlers_.on_add(ev.object);
      break;
    case update:
      if (handlers_.on_update) handlers_.on_update(old_obj, ev.object);
      break;
    case del:
      if (handlers_.on_delete) handlers_.on_delete(ev.object);
      break;
    case none:
      break;
  }
}

void informer::on_close(std::uint64_t epoch, expected<void, error> result) {
  std::lock_guard<std::recursive_mutex> deliver(deliver_mutex_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_ || epoch != epoch_) return;
    ++watch_restarts_;
    watch_.reset();
  }
  if (result) { // the server ended the watch (timeoutSeconds): resume at once, unless it ended
                // suspiciously fast (then back off rather than spin)
    if (std::chrono::steady_clock::now() - watch_started_ < std::chrono::seconds(1))
      retry_later(/*relist_after=*/false);
    else
      start_watch();
    return;
  }
  report(result.error());
  switch (result.error().code) {
    case error::kind::canceled:
      return;
    case error::kind::gone:
      relist();
      return;
    default:
      retry_later(/*relist_after=*/false, result.error().retry_after);
  }
}

void informer::retry_later(bool relist_after, std::optional<std::chrono::seconds> retry_after) {
  std::chrono::milliseconds delay;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    delay = backoff_;
    backoff_ = std::min(backoff_ * 2, opts_.backoff_max);
  }
  if (retry_after && *retry_after > delay) delay = *retry_after; // the server asked (429)
  std::weak_ptr<informer> weak = shared_from_this();
  client_->schedule_after(delay, [weak, relist_after] {
    auto self = weak.lock();
    if (!self) return;
    if (relist_after)
      self->relist();
    else
      self->start_watch();
  });
}

} // namespace dbuser::k8s
