// Requests and their responses: building a request, admission (rate limit, in-flight bound), the
// response → JSON or a typed error, list paging, watch streams, and the client's operations. One
// of the two translation units that include cpprestsdk (see client_impl.hpp).

#include "k8s/client_impl.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>
#include <optional>

namespace dbuser::k8s {

using detail::error_from_exception;
using detail::logger;
using nlohmann::json;

namespace {

void deliver(const callback<json>& cb, expected<json, error> r) {
  try {
    cb(std::move(r));
  } catch (const std::exception& e) {
    logger()->error("request callback threw: {}", e.what());
  }
}

} // namespace

void client::impl::count(const std::string& verb, int code) {
  std::lock_guard<std::mutex> lock(metrics_mutex_);
  ++counts_[{verb, code}];
}

http::http_request client::impl::build(const http_request& r) {
  http::http_request req(utility::conversions::to_string_t(r.method));
  req.set_request_uri(utility::conversions::to_string_t(r.target));
  auto& h = req.headers();
  h.add("Accept", utility::conversions::to_string_t(r.accept));
  h.add("User-Agent", utility::conversions::to_string_t(opts_.user_agent));
  if (!token_.empty()) {
    const std::string t = token_.get();
    if (!t.empty()) h.add("Authorization", "Bearer " + t);
  }
  if (!r.body.empty()) req.set_body(r.body, r.content_type);
  return req;
}

// Takes a rate-limiter token, then runs `start` (now, or later on the timer thread).
void client::impl::admit(std::function<void()> start) {
  const auto delay = limiter_.reserve();
  if (delay.count() == 0)
    start();
  else
    timer_.schedule(std::chrono::steady_clock::now() + delay, std::move(start));
}

namespace {

// The namespace a request path names ("/api/v1/namespaces/<ns>/..."), "" for cluster-scoped ones.
std::string request_namespace(const std::string& target) {
  static const std::string marker = "/namespaces/";
  const auto at = target.find(marker);
  if (at == std::string::npos)
    return "";
  const auto from = at + marker.size();
  const auto to = target.find_first_of("/?", from);
  return target.substr(from, to == std::string::npos ? std::string::npos : to - from);
}

} // namespace

void client::impl::acquire(const std::string& target, std::function<void()> go) {
  {
    std::lock_guard<std::mutex> lock(slots_mutex_);
    if (opts_.max_in_flight != 0 && in_flight_ >= opts_.max_in_flight) {
      waiting_.push(lane::urgent, request_namespace(target), std::move(go));
      return;
    }
    ++in_flight_;
  }
  go();
}

void client::impl::release() {
  std::function<void()> next;
  {
    std::lock_guard<std::mutex> lock(slots_mutex_);
    if (waiting_.empty())
      --in_flight_;
    else
      next = waiting_.pop().first; // the slot passes to the next namespace's request
  }
  if (next)
    next();
}

void client::impl::send(const http_request& r, callback<json> cb) {
  auto self = shared_from_this();
  admit([self, r, cb = std::move(cb)]() mutable {
    const std::string target = r.target;
    self->acquire(target, [self, r, cb = std::move(cb)]() mutable {
      self->start(r, [self, cb = std::move(cb)](expected<json, error> result) mutable {
        self->release();
        cb(std::move(result));
      });
    });
  });
}

void client::impl::start(const http_request& r, callback<json> cb) {
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
  // The callback runs in the last continuation of the chain: when it returns, no continuation
  // of this request is left queued on cpprestsdk's pool (a process that exits right after its
  // last answer, as a test does, leaves none behind).
  // The answer travels between continuations behind a pointer: pplx's task::get() returns a copy
  // of the stored value, and a parsed body copied twice per request was a tenth of the
  // operator's CPU (bench/README.md).
  using outcome = std::shared_ptr<expected<json, error>>;
  task.then([self, r, t0](pplx::task<http::http_response> t) {
        http::http_response resp = t.get();
        const int status = resp.status_code();
        std::string retry_after;
        if (auto it = resp.headers().find("Retry-After"); it != resp.headers().end()) retry_after = it->second;
        return resp.extract_utf8string(true).then([self, r, t0, status, retry_after](pplx::task<std::string> b) {
          std::string body = b.get();
          self->count(r.verb, status);
          const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
          logger()->debug("{} {} -> {} in {} ms", r.method, r.target, status, ms.count());
          if (status >= 200 && status < 300) {
            auto j = body.empty() ? json() : json::parse(body, nullptr, false);
            if (j.is_discarded())
              return std::make_shared<expected<json, error>>(
                make_unexpected(make_error(error::kind::bad_response, "response is not JSON")));
            return std::make_shared<expected<json, error>>(std::move(j));
          }
          return std::make_shared<expected<json, error>>(
            make_unexpected(error_from_response(status, body, retry_after)));
        });
      })
      .then([self, r, cb](pplx::task<outcome> t) {
        outcome out;
        try {
          out = t.get();
        } catch (...) {
          auto e = error_from_exception(std::current_exception());
          self->count(r.verb, 0);
          logger()->debug("{} {} failed: {}", r.method, r.target, e.to_string());
          out = std::make_shared<expected<json, error>>(make_unexpected(std::move(e)));
        }
        deliver(cb, std::move(*out));
      });
}

void client::impl::list_pages(const resource& res, const std::string& ns, list_options o,
                              std::shared_ptr<json> acc, callback<json> cb) {
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

  // Reads what has arrived (at least a byte, at most a chunk) and hands on each complete line.
  // Not istream::read_line: it moves the stream one byte at a time through two locked buffers,
  // which was most of what a watch event cost (bench/README.md).
  void read_next() {
    if (stopped_) return;
    auto self = shared_from_this();
    auto sb = body_.streambuf();
    const std::size_t avail = sb.in_avail();
    const std::size_t want = avail == 0 ? 1 : std::min(avail, chunk_.size());
    sb.getn(chunk_.data(), want).then([self](pplx::task<size_t> t) {
      std::size_t n = 0;
      try {
        n = t.get();
      } catch (...) {
        self->close(make_unexpected(error_from_exception(std::current_exception())));
        return;
      }
      if (n == 0) { // the server ended the watch
        if (self->partial_.find_first_not_of(" \r\t") != std::string::npos
            && !self->handle_line(self->partial_))
          return;
        self->close(expected<void, error>());
        return;
      }
      self->partial_.append(reinterpret_cast<const char*>(self->chunk_.data()), n);
      std::size_t from = 0;
      for (auto nl = self->partial_.find('\n'); nl != std::string::npos;
           nl = self->partial_.find('\n', from)) {
        const std::string_view line(self->partial_.data() + from, nl - from);
        from = nl + 1;
        if (line.empty()) continue;
        if (!self->handle_line(line)) return;
      }
      self->partial_.erase(0, from);
      self->read_next();
    });
  }

  // Returns whether to keep reading.
  bool handle_line(std::string_view line) {
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
  std::array<std::uint8_t, 16384> chunk_{}; // one read at a time: read_next's continuation owns it
  std::string partial_;                      // a line not complete yet
};

} // namespace

void client::get(const object_ref& ref, callback<json> cb) { impl_->send(get_request(ref), std::move(cb)); }
void client::get_metadata(const object_ref& ref, callback<json> cb) {
  impl_->send(get_metadata_request(ref), std::move(cb));
}

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
