// The only translation unit that includes cpprestsdk (its http_client header costs seconds).

#include "k8s/client.hpp"

#include <atomic>
#include <fstream>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include <cpprest/http_client.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pplx/threadpool.h>
#include <spdlog/spdlog.h>

#include "k8s/rate_limiter.hpp"

namespace dbuser::k8s {

namespace http = web::http;
using nlohmann::json;

namespace {

// cpprestsdk's thread pool is static: its threads can be in a TLS handshake (a watch being
// cancelled) when the process exits, and OpenSSL's atexit cleanup would free what they are
// using (ASan: heap-use-after-free in OSSL_DECODER_CTX_new_for_pkey). OpenSSL's memory goes
// with the process instead. Before main: the first OpenSSL initialisation decides.
const bool openssl_without_atexit = OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr) == 1;

std::shared_ptr<spdlog::logger> logger() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (!spdlog::get("k8s")) {
      auto l = spdlog::default_logger()->clone("k8s");
      spdlog::register_logger(l);
    }
  });
  auto l = spdlog::get("k8s");
  return l ? l : spdlog::default_logger();
}

void init_thread_pool(std::size_t n) {
  static std::once_flag once;
  std::call_once(once, [n] {
    try {
      crossplat::threadpool::initialize_with_threads(n == 0 ? 4 : n);
    } catch (const std::exception& e) {
      logger()->debug("cpprestsdk thread pool already initialised: {}", e.what());
    }
  });
}

// A single timer thread: runs cheap functions at a time point (rate-limited sends, backoff). Its
// state is shared with the thread, so destroying the owner from a timer task is safe.
class timer_thread {
public:
  timer_thread() : state_(std::make_shared<state>()) {
    thread_ = std::thread([s = state_] { run(*s); });
  }
  ~timer_thread() { shutdown(); }
  timer_thread(const timer_thread&) = delete;
  timer_thread& operator=(const timer_thread&) = delete;

  void shutdown() {
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      if (state_->done) return;
      state_->done = true;
    }
    state_->cv.notify_all();
    if (thread_.get_id() == std::this_thread::get_id())
      thread_.detach();
    else if (thread_.joinable())
      thread_.join();
    // Whatever was still waiting runs now: the requests it starts fail at once as canceled, so
    // no callback is silently dropped.
    std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> rest;
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      rest.swap(state_->queue);
    }
    for (auto& entry : rest) entry.second();
  }

  void schedule(std::chrono::steady_clock::time_point at, std::function<void()> fn) {
    {
      std::unique_lock<std::mutex> lock(state_->mutex);
      if (state_->done) {
        lock.unlock();
        fn(); // shut down: runs now and fails fast
        return;
      }
      state_->queue.emplace(at, std::move(fn));
    }
    state_->cv.notify_all();
  }

private:
  struct state {
    std::mutex mutex;
    std::condition_variable cv;
    std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> queue;
    bool done = false;
  };

  static void run(state& s) {
    std::unique_lock<std::mutex> lock(s.mutex);
    while (!s.done) {
      if (s.queue.empty()) {
        s.cv.wait(lock);
        continue;
      }
      auto first = s.queue.begin();
      if (first->first > std::chrono::steady_clock::now()) {
        s.cv.wait_until(lock, first->first);
        continue;
      }
      auto fn = std::move(first->second);
      s.queue.erase(first);
      lock.unlock();
      try {
        fn();
      } catch (const std::exception& e) {
        logger()->error("timer task threw: {}", e.what());
      }
      fn = nullptr; // release captures (possibly the timer's owner) before touching the state
      lock.lock();
    }
  }

  std::shared_ptr<state> state_;
  std::thread thread_;
};

void deliver(const callback<json>& cb, expected<json, error> r) {
  try {
    cb(std::move(r));
  } catch (const std::exception& e) {
    logger()->error("request callback threw: {}", e.what());
  }
}

bool readable(const std::string& path) { return std::ifstream(path).good(); }

// Exceptions of cpprestsdk / pplx / boost at the edge → typed errors.
error error_from_exception(std::exception_ptr ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const pplx::task_canceled&) {
    return make_error(error::kind::canceled, "request canceled");
  } catch (const http::http_exception& e) {
    const auto ec = e.error_code();
    const std::string what = e.what();
    if (ec == std::errc::operation_canceled || what.find("canceled") != std::string::npos
        || what.find("cancelled") != std::string::npos)
      return make_error(error::kind::canceled, what);
    if (ec == std::errc::timed_out || what.find("timed out") != std::string::npos)
      return make_error(error::kind::timeout, what);
    const auto code = static_cast<unsigned long>(ec.value());
    if (ERR_GET_LIB(code) != 0) {
      if (const char* r = ERR_reason_error_string(code); r != nullptr)
        return make_error(error::kind::tls, what + " (OpenSSL: " + r + ")");
    }
    if (what.find("handshake") != std::string::npos || what.find("certificate") != std::string::npos
        || what.find("SSL") != std::string::npos || what.find("ssl") != std::string::npos)
      return make_error(error::kind::tls, what);
    return make_error(error::kind::transport, what + (ec ? " (" + ec.message() + ")" : std::string()));
  } catch (const std::exception& e) {
    return make_error(error::kind::transport, e.what());
  } catch (...) {
    return make_error(error::kind::transport, "unknown exception");
  }
}

} // namespace

struct client::impl : std::enable_shared_from_this<impl> {
  config cfg_;
  client_options opts_;
  token_source token_;
  token_bucket limiter_;
  std::unique_ptr<http::client::http_client> http_;
  pplx::cancellation_token_source cts_; // canceled on shutdown
  timer_thread timer_;
  mutable std::mutex metrics_mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> counts_;

  impl(config c, client_options o)
      : cfg_(std::move(c)), opts_(std::move(o)), token_(cfg_.token, cfg_.token_file),
        limiter_(opts_.qps, opts_.burst) {
    http_ = std::make_unique<http::client::http_client>(utility::conversions::to_string_t(cfg_.server),
                                                        make_http_config(opts_.timeout));
  }

  http::client::http_client_config make_http_config(std::chrono::seconds timeout) const {
    http::client::http_client_config hc;
    hc.set_timeout(timeout);
    hc.set_validate_certificates(!cfg_.insecure_skip_tls_verify);
    const config c = cfg_;
    hc.set_ssl_context_callback([c](boost::asio::ssl::context& ctx) {
      boost::system::error_code ec;
      auto check = [&ec](const char* what) {
        if (ec) logger()->error("TLS setup: {} failed: {}", what, ec.message());
        ec.clear();
      };
      // A cluster's CA is the only root its certificate may chain to (client-go does the same):
      // the store cpprestsdk filled with the system bundle (~140 parsed certificates per
      // connection) is replaced by one with that CA alone.
      if (!c.ca_data.empty() || !c.ca_file.empty())
        if (X509_STORE* only = X509_STORE_new(); only != nullptr)
          SSL_CTX_set_cert_store(ctx.native_handle(), only);
      if (!c.ca_data.empty()) {
        ctx.add_certificate_authority(boost::asio::buffer(c.ca_data), ec);
        check("certificate-authority-data");
      }
      if (!c.ca_file.empty()) {
        ctx.load_verify_file(c.ca_file, ec);
        check("certificate-authority file");
      }
      if (!c.client_cert_data.empty()) {
        ctx.use_certificate_chain(boost::asio::buffer(c.client_cert_data), ec);
        check("client-certificate-data");
      } else if (!c.client_cert_file.empty()) {
        ctx.use_certificate_chain_file(c.client_cert_file, ec);
        check("client-certificate file");
      }
      if (!c.client_key_data.empty()) {
        ctx.use_private_key(boost::asio::buffer(c.client_key_data), boost::asio::ssl::context::pem, ec);
        check("client-key-data");
      } else if (!c.client_key_file.empty()) {
        ctx.use_private_key_file(c.client_key_file, boost::asio::ssl::context::pem, ec);
        check("client-key file");
      }
    });
    return hc;
  }

  void count(const std::string& verb, int code) {
    std::lock_guard<std::mutex> lock(metrics_mutex_);
    ++counts_[{verb, code}];
  }

  http::http_request build(const http_request& r) {
    http::http_request req(utility::conversions::to_string_t(r.method));
    req.set_request_uri(utility::conversions::to_string_t(r.target));
    auto& h = req.headers();
    h.add("Accept", "application/json");
    h.add("User-Agent", utility::conversions::to_string_t(opts_.user_agent));
    if (!token_.empty()) {
      const std::string t = token_.get();
      if (!t.empty()) h.add("Authorization", "Bearer " + t);
    }
    if (!r.body.empty()) req.set_body(r.body, r.content_type);
    return req;
  }

  // Takes a rate-limiter token, then runs `start` (now, or later on the timer thread).
  void admit(std::function<void()> start) {
    const auto delay = limiter_.reserve();
    if (delay.count() == 0)
      start();
    else
      timer_.schedule(std::chrono::steady_clock::now() + delay, std::move(start));
  }

  // At most opts_.max_in_flight requests at once (watches aside): cpprestsdk opens one
  // connection, with its own TLS context, per concurrent request and keeps it; without a bound,
  // a burst of reconciles costs hundreds of connections and megabytes each.
  std::mutex slots_mutex_;
  std::size_t in_flight_ = 0;
  std::deque<std::function<void()>> waiting_;

  void acquire(std::function<void()> go) {
    {
      std::lock_guard<std::mutex> lock(slots_mutex_);
      if (opts_.max_in_flight != 0 && in_flight_ >= opts_.max_in_flight) {
        waiting_.push_back(std::move(go));
        return;
      }
      ++in_flight_;
    }
    go();
  }

  void release() {
    std::function<void()> next;
    {
      std::lock_guard<std::mutex> lock(slots_mutex_);
      if (waiting_.empty()) {
        --in_flight_;
      } else {
        next = std::move(waiting_.front()); // the slot passes to the next request
        waiting_.pop_front();
      }
    }
    if (next)
      next();
  }

  void send(const http_request& r, callback<json> cb) {
    auto self = shared_from_this();
    admit([self, r, cb = std::move(cb)]() mutable {
      self->acquire([self, r, cb = std::move(cb)]() mutable {
        self->start(r, [self, cb = std::move(cb)](expected<json, error> result) mutable {
          self->release();
          cb(std::move(result));
        });
      });
    });
  }

  void start(const http_request& r, callback<json> cb) {
    auto self = shared_from_this();
    const auto t0 = std::chrono::steady_clock::now();
    pplx::task<http::http_response> task;
    try {
      task = http_->request(build(r), cts_.get_token());
    } catch (...) {
      auto e = error_from_exception(std::current_exception());
      count(r.verb, 0);
      cb(make_unexpected(std::move(e)));
      return;
    }
    task.then([self, r, cb, t0](pplx::task<http::http_response> t) {
          http::http_response resp = t.get();
          const int status = resp.status_code();
          std::string retry_after;
          if (auto it = resp.headers().find("Retry-After"); it != resp.headers().end()) retry_after = it->second;
          return resp.extract_utf8string(true).then([self, r, cb, t0, status, retry_after](pplx::task<std::string> b) {
            std::string body = b.get();
            self->count(r.verb, status);
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
            logger()->debug("{} {} -> {} in {} ms", r.method, r.target, status, ms.count());
            if (status >= 200 && status < 300) {
              auto j = body.empty() ? json() : json::parse(body, nullptr, false);
              if (j.is_discarded())
                deliver(cb, make_unexpected(make_error(error::kind::bad_response, "response is not JSON")));
              else
                deliver(cb, std::move(j));
              return;
            }
            deliver(cb, make_unexpected(error_from_response(status, body, retry_after)));
          });
        })
        .then([self, r, cb](pplx::task<void> t) {
          try {
            t.get();
          } catch (...) {
            auto e = error_from_exception(std::current_exception());
            self->count(r.verb, 0);
            logger()->debug("{} {} failed: {}", r.method, r.target, e.to_string());
            deliver(cb, make_unexpected(std::move(e)));
          }
        });
  }

  void list_pages(const resource& res, const std::string& ns, list_options o, std::shared_ptr<json> acc,
                  callback<json> cb) {
    auto self = shared_from_this();
    send(list_request(res, ns, o), [self, res, ns, o, acc, cb](expected<json, error> page) mutable {
      if (!page) {
        cb(make_unexpected(page.error()));
        return;
      }
      json& p = *page;
      if (acc->is_null()) {
        *acc = p;
        (*acc)["items"] = json::array();
      }
      if (auto items = p.find("items"); items != p.end() && items->is_array())
        for (auto& item : *items) (*acc)["items"].push_back(std::move(item));
      std::string cont;
      if (auto m = p.find("metadata"); m != p.end() && m->is_object()) cont = m->value("continue", std::string());
      if (cont.empty()) {
        (*acc)["metadata"].erase("continue");
        cb(std::move(*acc));
        return;
      }
      o.continue_ = cont;
      o.resource_version.clear(); // not allowed together with continue
      self->list_pages(res, ns, o, acc, std::move(cb));
    });
  }
};

namespace {

// One watch connection: headers, then a newline-delimited JSON stream read as it arrives.
class watch_impl : public watch_handle, public std::enable_shared_from_this<watch_impl> {
public:
  watch_impl(std::shared_ptr<client::impl> c, std::function<void(const watch_event&)> on_event,
             std::function<void(expected<void, error>)> on_close)
      : client_(std::move(c)), on_event_(std::move(on_event)), on_close_(std::move(on_close)) {}

  void stop() override {
    {
      std::lock_guard<std::recursive_mutex> lock(deliver_mutex_);
      stopped_ = true;
    }
    cts_.cancel();
  }
  bool stopped() const override { return stopped_; }

  void start(http_request r, std::chrono::seconds http_timeout) {
    auto self = shared_from_this();
    client_->admit([self, r, http_timeout] { self->connect(r, http_timeout); });
  }

private:
  void connect(const http_request& r, std::chrono::seconds http_timeout) {
    if (stopped_) return;
    auto self = shared_from_this();
    try {
      http_ = std::make_unique<http::client::http_client>(utility::conversions::to_string_t(client_->cfg_.server),
                                                          client_->make_http_config(http_timeout));
      std::vector<pplx::cancellation_token> tokens{cts_.get_token(), client_->cts_.get_token()};
      linked_ = pplx::cancellation_token_source::create_linked_source(tokens.begin(), tokens.end());
      logger()->debug("WATCH {}", r.target);
      http_->request(client_->build(r), linked_.get_token())
          .then([self, r](pplx::task<http::http_response> t) {
            http::http_response resp = t.get();
            const int status = resp.status_code();
            self->client_->count("watch", status);
            if (status != 200) {
              return resp.extract_utf8string(true).then([self, status](pplx::task<std::string> b) {
                self->close(make_unexpected(error_from_response(status, b.get())));
              });
            }
            self->body_ = resp.body();
            self->read_next();
            return pplx::task_from_result();
          })
          .then([self](pplx::task<void> t) {
            try {
              t.get();
            } catch (...) {
              self->client_->count("watch", 0);
              self->close(make_unexpected(error_from_exception(std::current_exception())));
            }
          });
    } catch (...) {
      close(make_unexpected(error_from_exception(std::current_exception())));
    }
  }

  void read_next() {
    if (stopped_) return;
    auto self = shared_from_this();
    auto buf = std::make_shared<concurrency::streams::container_buffer<std::string>>();
    body_.read_line(*buf).then([self, buf](pplx::task<size_t> t) {
      try {
        t.get();
      } catch (...) {
        self->close(make_unexpected(error_from_exception(std::current_exception())));
        return;
      }
      const std::string& line = buf->collection();
      if (line.empty()) {
        if (self->body_.is_eof()) {
          self->close(expected<void, error>());
          return;
        }
        self->read_next();
        return;
      }
      if (!self->handle_line(line)) return;
      self->read_next();
    });
  }

  // Returns whether to keep reading.
  bool handle_line(const std::string& line) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("type")) {
      close(make_unexpected(make_error(error::kind::bad_response, "watch line is not a watch event")));
      return false;
    }
    watch_event ev{j.value("type", std::string()), std::move(j["object"])};
    if (ev.type == "ERROR") {
      close(make_unexpected(error_from_status(ev.object)));
      return false;
    }
    std::lock_guard<std::recursive_mutex> lock(deliver_mutex_);
    if (stopped_) return false;
    try {
      on_event_(ev);
    } catch (const std::exception& e) {
      logger()->error("watch event callback threw: {}", e.what());
    }
    return true;
  }

  void close(expected<void, error> result) {
    std::lock_guard<std::recursive_mutex> lock(deliver_mutex_);
    if (stopped_) return;
    stopped_ = true;
    cts_.cancel();
    if (!result) logger()->debug("watch closed: {}", result.error().to_string());
    try {
      on_close_(std::move(result));
    } catch (const std::exception& e) {
      logger()->error("watch close callback threw: {}", e.what());
    }
  }

  std::shared_ptr<client::impl> client_;
  std::function<void(const watch_event&)> on_event_;
  std::function<void(expected<void, error>)> on_close_;
  std::recursive_mutex deliver_mutex_;
  std::atomic<bool> stopped_{false};
  pplx::cancellation_token_source cts_;
  pplx::cancellation_token_source linked_;
  std::unique_ptr<http::client::http_client> http_;
  concurrency::streams::istream body_;
};

} // namespace

client::client(std::shared_ptr<impl> i) : impl_(std::move(i)) {}

client::~client() {
  impl_->cts_.cancel();
  impl_->timer_.shutdown();
}

expected<std::shared_ptr<client>, error> client::make(config cfg, client_options opts) {
  if (cfg.server.rfind("https://", 0) != 0 && cfg.server.rfind("http://", 0) != 0)
    return make_unexpected(make_error(error::kind::config, "server must be an http(s) URL: " + cfg.server));
  for (const auto* f : {&cfg.ca_file, &cfg.client_cert_file, &cfg.client_key_file})
    if (!f->empty() && !readable(*f)) return make_unexpected(make_error(error::kind::config, "cannot read " + *f));
  if (cfg.insecure_skip_tls_verify)
    logger()->warn("TLS verification of {} is disabled (insecure-skip-tls-verify)", cfg.server);
  init_thread_pool(opts.threads);
  try {
    auto i = std::make_shared<impl>(std::move(cfg), std::move(opts));
    logger()->debug("client for {} (auth: {}{})", i->cfg_.server,
                    i->cfg_.client_cert_file.empty() && i->cfg_.client_cert_data.empty() ? "" : "client certificate ",
                    i->token_.empty() ? "" : "bearer token");
    return std::shared_ptr<client>(new client(std::move(i)));
  } catch (const std::exception& e) {
    return make_unexpected(make_error(error::kind::config, e.what()));
  }
}

void client::get(const object_ref& ref, callback<json> cb) { impl_->send(get_request(ref), std::move(cb)); }

void client::list(const resource& res, const std::string& ns, const list_options& opts, callback<json> cb) {
  impl_->send(list_request(res, ns, opts), std::move(cb));
}

void client::list_all(const resource& res, const std::string& ns, const list_options& opts, callback<json> cb) {
  list_options o = opts;
  if (!o.limit) o.limit = 500;
  impl_->list_pages(res, ns, o, std::make_shared<json>(), std::move(cb));
}

void client::create(const resource& res, const std::string& ns, const json& obj, const write_options& opts,
                    callback<json> cb) {
  impl_->send(create_request(res, ns, obj, opts, impl_->opts_.field_manager), std::move(cb));
}

void client::update(const object_ref& ref, const json& obj, callback<json> cb) {
  impl_->send(update_request(ref, obj, impl_->opts_.field_manager), std::move(cb));
}

void client::patch(const object_ref& ref, patch_type type, const json& p, callback<json> cb) {
  impl_->send(patch_request(ref, type, p, impl_->opts_.field_manager, type == patch_type::apply), std::move(cb));
}

void client::remove(const object_ref& ref, const delete_options& opts, callback<json> cb) {
  impl_->send(delete_request(ref, opts), std::move(cb));
}

void client::raw(const http_request& req, callback<json> cb) { impl_->send(req, std::move(cb)); }

std::shared_ptr<watch_handle> client::watch(const resource& res, const std::string& ns, const watch_options& opts,
                                            std::function<void(const watch_event&)> on_event,
                                            std::function<void(expected<void, error>)> on_close) {
  auto w = std::make_shared<watch_impl>(impl_, std::move(on_event), std::move(on_close));
  const auto http_timeout = opts.timeout_seconds ? std::chrono::seconds(*opts.timeout_seconds + 30)
                                                 : std::chrono::seconds(3600);
  w->start(watch_request(res, ns, opts), http_timeout);
  return w;
}

void client::schedule_after(std::chrono::nanoseconds delay, std::function<void()> fn) {
  impl_->timer_.schedule(std::chrono::steady_clock::now() + delay, std::move(fn));
}

std::vector<request_count> client::metrics() const {
  std::lock_guard<std::mutex> lock(impl_->metrics_mutex_);
  std::vector<request_count> out;
  for (const auto& [k, n] : impl_->counts_) out.push_back({k.first, k.second, n});
  return out;
}

const config& client::cfg() const { return impl_->cfg_; }
const client_options& client::options() const { return impl_->opts_; }

} // namespace dbuser::k8s
