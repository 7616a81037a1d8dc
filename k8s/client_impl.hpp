#pragma once

// Private to k8s/client_transport.cpp and k8s/client.cpp, the only translation units that include
// cpprestsdk (its http_client header costs seconds): the client's state and what both use. Never
// include it from anywhere else.
//
//   client_transport.cpp  the connection to the API server: process-wide cpprestsdk/OpenSSL
//                         setup, the TLS context, the timer thread, transport exceptions → errors,
//                         making and destroying a client
//   client.cpp            requests and their responses: building, admission (rate limit, in-flight
//                         bound), the response → JSON or a typed error, list paging, watch streams,
//                         the client's operations

#include "common/fair_queue.hpp"
#include "k8s/client.hpp"

#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include <cpprest/http_client.h>
#include <spdlog/spdlog.h>

#include "k8s/rate_limiter.hpp"

namespace dbuser::k8s {

namespace http = web::http;

namespace detail {

std::shared_ptr<spdlog::logger> logger();

// A single timer thread: runs cheap functions at a time point (rate-limited sends, backoff). Its
// state is shared with the thread, so destroying the owner from a timer task is safe.
class timer_thread {
public:
  timer_thread();
  ~timer_thread() { shutdown(); }
  timer_thread(const timer_thread&) = delete;
  timer_thread& operator=(const timer_thread&) = delete;

  void shutdown();
  void schedule(std::chrono::steady_clock::time_point at, std::function<void()> fn);

private:
  struct state {
    std::mutex mutex;
    std::condition_variable cv;
    std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> queue;
    bool done = false;
  };

  static void run(state& s);

  std::shared_ptr<state> state_;
  std::thread thread_;
};

// Exceptions of cpprestsdk / pplx / boost at the edge → typed errors.
error error_from_exception(std::exception_ptr ep);

} // namespace detail

struct client::impl : std::enable_shared_from_this<impl> {
  config cfg_;
  client_options opts_;
  token_source token_;
  token_bucket limiter_;
  std::unique_ptr<http::client::http_client> http_;
  pplx::cancellation_token_source cts_; // canceled on shutdown
  detail::timer_thread timer_;
  mutable std::mutex metrics_mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> counts_;

  impl(config c, client_options o);

  http::client::http_client_config make_http_config(std::chrono::seconds timeout) const;

  void count(const std::string& verb, int code);

  http::http_request build(const http_request& r);

  void admit(std::function<void()> start);

  // At most opts_.max_in_flight requests at once (watches aside): cpprestsdk opens one
  // connection, with its own TLS context, per concurrent request and keeps it; without a bound,
  // a burst of reconciles costs hundreds of connections and megabytes each.
  // Requests waiting for a slot take turns by namespace (common/fair_queue.hpp): one namespace's
  // thousands of writes do not hold back another namespace's first request.
  std::mutex slots_mutex_;
  std::size_t in_flight_ = 0;
  fair_queue<std::function<void()>> waiting_;

  void acquire(const std::string& target, std::function<void()> go);
  void release();

  void send(const http_request& r, callback<nlohmann::json> cb);
  void start(const http_request& r, callback<nlohmann::json> cb);
  void list_pages(const resource& res, const std::string& ns, list_options o,
                  std::shared_ptr<nlohmann::json> acc, callback<nlohmann::json> cb);
};

} // namespace dbuser::k8s
