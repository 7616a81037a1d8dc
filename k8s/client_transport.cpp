// The connection to the API server: process-wide cpprestsdk/OpenSSL setup, the TLS context, the
// timer thread, transport exceptions → typed errors, making and destroying a client. One of the
// two translation units that include cpprestsdk (see client_impl.hpp).

#include "k8s/client_impl.hpp"

#include <fstream>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pplx/threadpool.h>

namespace dbuser::k8s {

using detail::logger;

namespace {

// cpprestsdk's thread pool is static: its threads can be in a TLS handshake (a watch being
// cancelled) when the process exits, and OpenSSL's atexit cleanup would free what they are
// using (ASan: heap-use-after-free in OSSL_DECODER_CTX_new_for_pkey). OpenSSL's memory goes
// with the process instead. Before main: the first OpenSSL initialisation decides.
const bool openssl_without_atexit = OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr) == 1;

} // namespace

namespace detail {

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

} // namespace detail

namespace {

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

bool readable(const std::string& path) { return std::ifstream(path).good(); }

} // namespace

namespace detail {

timer_thread::timer_thread() : state_(std::make_shared<state>()) {
  thread_ = std::thread([s = state_] { run(*s); });
}

void timer_thread::shutdown() {
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

void timer_thread::schedule(std::chrono::steady_clock::time_point at, std::function<void()> fn) {
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

void timer_thread::run(state& s) {
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

} // namespace detail

client::impl::impl(config c, client_options o)
    : cfg_(std::move(c)), opts_(std::move(o)), token_(cfg_.token, cfg_.token_file),
      limiter_(opts_.qps, opts_.burst) {
  http_ = std::make_unique<http::client::http_client>(utility::conversions::to_string_t(cfg_.server),
                                                      make_http_config(opts_.timeout));
}

http::client::http_client_config client::impl::make_http_config(
    std::chrono::seconds timeout) const {
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

} // namespace dbuser::k8s
