#pragma once

// The Kubernetes API client: non-blocking CRUD, list (with pagination), patch, status, delete with
// preconditions and watch streams, over cpprestsdk (kept out of this header: see client_impl.hpp).
//
// Every operation returns at once; its callback runs later on one of the client's worker threads
// with the object or a typed error. Callbacks must be cheap (the actor layer forwards them as
// messages) and may call the client again. Nothing here throws.
//
// Requests pass a client-side token bucket (qps/burst); all writes carry fieldManager.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/expected.hpp"
#include "k8s/config.hpp"
#include "k8s/error.hpp"
#include "k8s/request.hpp"

namespace dbuser::k8s {

template <class T>
using callback = std::function<void(expected<T, error>)>;

struct client_options {
  double qps = 50;
  int burst = 100;
  std::chrono::seconds timeout{30}; // per request (inactivity); watches get timeoutSeconds + 30 s
  std::size_t threads = 4;          // cpprestsdk pool, initialised once per process
  std::size_t max_in_flight = 16;   // requests at once, watches aside (0: no bound)
  std::string field_manager = "dbuser-operator";
  std::string user_agent = "dbuser-operator/0.1";
};

struct watch_event {
  std::string type; // ADDED, MODIFIED, DELETED, BOOKMARK
  nlohmann::json object;
};

// A running watch. stop() is immediate: the connection is canceled and no callback of this watch
// starts after stop() returns (it waits for one that is running, unless called from inside it).
class watch_handle {
public:
  virtual ~watch_handle() = default;
  virtual void stop() = 0;
  [[nodiscard]] virtual bool stopped() const = 0;
};

struct request_count {
  std::string verb; // get, list, create, update, patch, delete, watch
  int code;         // HTTP status, 0 when no response arrived
  std::uint64_t count;
};

class client {
public:
  // Validates the configuration (readable files, a usable server URL) and builds the transport.
  [[nodiscard]] static expected<std::shared_ptr<client>, error> make(config cfg, client_options opts = {});
  ~client(); // cancels everything in flight (their callbacks see kind::canceled)
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  void get(const object_ref& ref, callback<nlohmann::json> cb);
  // The object's metadata only (a PartialObjectMetadata): for a large object (a CRD with its
  // schema) when only its metadata matters.
  void get_metadata(const object_ref& ref, callback<nlohmann::json> cb);
  // One page; follow metadata.continue yourself, or use list_all.
  void list(const resource& res, const std::string& ns, const list_options& opts, callback<nlohmann::json> cb);
  // Every page (limit per page from opts, default 500) merged into one List; resourceVersion of the snapshot.
  void list_all(const resource& res, const std::string& ns, const list_options& opts, callback<nlohmann::json> cb);
  void create(const resource& res, const std::string& ns, const nlohmann::json& obj, const write_options& opts,
              callback<nlohmann::json> cb);
  void create(const resource& res, const std::string& ns, const nlohmann::json& obj, callback<nlohmann::json> cb) {
    create(res, ns, obj, write_options{}, std::move(cb));
  }
  // PUT; obj carries metadata.resourceVersion for optimistic concurrency (stale → kind::conflict).
  void update(const object_ref& ref, const nlohmann::json& obj, callback<nlohmann::json> cb);
  // ref.subresource = "status" patches the status subresource. apply = server-side apply (force).
  void patch(const object_ref& ref, patch_type type, const nlohmann::json& patch, callback<nlohmann::json> cb);
  void remove(const object_ref& ref, const delete_options& opts, callback<nlohmann::json> cb);
  // Any request (e.g. serviceaccounts/x/token): method, path+query, JSON body.
  void raw(const http_request& req, callback<nlohmann::json> cb);

  // Opens a watch. Events arrive in order on one logical thread. on_close gets success when the
  // server ended the watch (timeoutSeconds), else the error (kind::gone for 410 / ERROR events
  // saying "too old resource version"); it is not called after stop().
  [[nodiscard]] std::shared_ptr<watch_handle> watch(const resource& res, const std::string& ns,
                                                    const watch_options& opts,
                                                    std::function<void(const watch_event&)> on_event,
                                                    std::function<void(expected<void, error>)> on_close);

  // Runs fn on the client's timer thread after `delay` (backoff, retries). fn must be cheap.
  void schedule_after(std::chrono::nanoseconds delay, std::function<void()> fn);

  [[nodiscard]] std::vector<request_count> metrics() const;
  [[nodiscard]] const config& cfg() const;
  [[nodiscard]] const client_options& options() const;

  struct impl;

private:
  explicit client(std::shared_ptr<impl> i);
  std::shared_ptr<impl> impl_;
};

// Blocking convenience for tests and tools only (never on a thread you don't own): waits for the
// callback of `start`.
template <class T>
[[nodiscard]] expected<T, error> wait_for(const std::function<void(callback<T>)>& start);

} // namespace dbuser::k8s

#include "k8s/client_wait.ipp"
