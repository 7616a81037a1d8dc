// The only translation unit of actors/ that includes cpprestsdk (its headers cost seconds).

#include "actors/http_endpoint.hpp"

#include "actors/debug_page.hpp"
#include "messages/introspection.hpp"

#include <arpa/inet.h>
#include <caf/all.hpp>
#include <cpprest/http_listener.h>
#include <netdb.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>

namespace dbuser::actors {

namespace http = web::http;

expected<listen_address, std::string> parse_listen(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos)
    return make_unexpected("--listen \"" + text + "\": expected host:port or :port");
  listen_address a;
  a.host = text.substr(0, colon);
  if (a.host.size() >= 2 && a.host.front() == '[' && a.host.back() == ']')
    a.host = a.host.substr(1, a.host.size() - 2);
  if (a.host.empty())
    a.host = "0.0.0.0";
  const std::string port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return make_unexpected("--listen \"" + text + "\": the port must be a number");
  a.port = std::stoi(port);
  if (a.port > 65535)
    return make_unexpected("--listen \"" + text + "\": the port must be at most 65535");
  return a;
}

http_route route_of(const std::string& raw) {
  std::string path = raw;
  while (path.size() > 1 && path.back() == '/')
    path.pop_back();
  // The paths served as they are; /debug/actors/<namespace>/<name> below.
  static const std::pair<const char*, http_route::kind> exact[] = {
    {"/healthz", http_route::kind::healthz},
    {"/readyz", http_route::kind::readyz},
    {"/metrics", http_route::kind::metrics},
    {"/debug/actors", http_route::kind::debug_actors},
    {"/debug/ui", http_route::kind::debug_ui},
  };
  http_route r;
  for (const auto& [p, kind] : exact)
    if (path == p) {
      r.what = kind;
      return r;
    }
  if (const std::string prefix = "/debug/actors/"; path.rfind(prefix, 0) == 0) {
    auto key = path.substr(prefix.size());
    auto slash = key.find('/');
    if (slash != std::string::npos && slash > 0 && slash + 1 < key.size()
        && key.find('/', slash + 1) == std::string::npos) {
      r.what = http_route::kind::debug_actor;
      r.key = key;
    }
  }
  return r;
}

namespace {

// A port nobody listens on right now, on `host` (cpprestsdk cannot report the port it bound).
expected<int, std::string> free_port(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), "0", &hints, &res) != 0 || res == nullptr)
    return make_unexpected("cannot resolve " + host);
  int fd = ::socket(res->ai_family, SOCK_STREAM, 0);
  int port = -1;
  if (fd >= 0 && ::bind(fd, res->ai_addr, res->ai_addrlen) == 0) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
      port = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }
  if (fd >= 0)
    ::close(fd);
  ::freeaddrinfo(res);
  if (port <= 0)
    return make_unexpected("cannot find a free port on " + host);
  return port;
}

// A scoped_actor leaves CAF's logger in a thread-local of the thread that made it, and
// ~actor_system waits for that logger to go: a cpprestsdk thread that asked once would block the
// shutdown forever. Declared before the scoped_actor, this clears it after each use.
struct forget_caf_logger {
  forget_caf_logger() = default;
  forget_caf_logger(const forget_caf_logger&) = delete;
  forget_caf_logger& operator=(const forget_caf_logger&) = delete;
  ~forget_caf_logger() { caf::logger::set_current_actor_system(nullptr); }
};

const char* json_type = "application/json";
const char* text_type = "text/plain; charset=utf-8";
const char* metrics_type = "text/plain; version=0.0.4; charset=utf-8";
const char* html_type = "text/html; charset=utf-8";

} // namespace

struct http_endpoint::impl {
  caf::actor_system* sys = nullptr;
  caf::actor introspection;
  std::chrono::milliseconds timeout{1000};
  std::unique_ptr<http::experimental::listener::http_listener> listener;

  // Asks the introspection actor; nullopt when it does not answer in time.
  std::optional<std::string> ask_text(caf::message m) {
    forget_caf_logger forget;
    caf::scoped_actor self{*sys};
    std::optional<std::string> out;
    self->request(introspection, timeout, std::move(m))
      .receive([&](std::string& s) { out = std::move(s); }, [&](caf::error&) {});
    return out;
  }

  bool ping() {
    forget_caf_logger forget;
    caf::scoped_actor self{*sys};
    bool ok = false;
    self->request(introspection, timeout, msg::ping_atom::value)
      .receive([&](bool b) { ok = b; }, [&](caf::error&) {});
    return ok;
  }

  static void reply(const http::http_request& req, http::status_code code, const std::string& body,
                    const char* type) {
    req.reply(code, body, type).then([](pplx::task<void> t) {
      try {
        t.get();
      } catch (const std::exception& e) {
        spdlog::debug("http endpoint: reply failed: {}", e.what());
      }
    });
  }

  // The debug page, with a policy that lets it load nothing but this origin's JSON.
  static void reply_page(const http::http_request& req) {
    http::http_response resp(http::status_codes::OK);
    resp.headers().add("Content-Security-Policy", debug_page_csp());
    resp.headers().add("X-Content-Type-Options", "nosniff");
    resp.headers().add("Cache-Control", "no-store");
    resp.set_body(debug_page_html(), html_type);
    req.reply(resp).then([](pplx::task<void> t) {
      try {
        t.get();
      } catch (const std::exception& e) {
        spdlog::debug("http endpoint: reply failed: {}", e.what());
      }
    });
  }

  static bool wants_page(const http::http_request& req) {
    const auto& headers = req.headers();
    auto accept = headers.find(http::header_names::accept);
    if (accept == headers.end() || !accepts_html(accept->second))
      return false;
    return req.relative_uri().query().find("format=json") == std::string::npos;
  }

  void handle(const http::http_request& req) {
    const auto path = web::uri::decode(req.relative_uri().path());
    const auto route = route_of(path);
    using kind = http_route::kind;
    const auto unavailable = [&] {
      reply(req, http::status_codes::ServiceUnavailable,
            "the actor system did not answer within " + std::to_string(timeout.count()) + " ms\n",
            text_type);
    };
    switch (route.what) {
      case kind::healthz:
        if (ping())
          reply(req, http::status_codes::OK, "ok\n", text_type);
        else
          unavailable();
        return;
      case kind::readyz: {
        auto why = ask_text(caf::make_message(msg::ready_atom::value));
        if (!why)
          unavailable();
        else if (why->empty())
          reply(req, http::status_codes::OK, "ok\n", text_type);
        else
          reply(req, http::status_codes::ServiceUnavailable, *why + "\n", text_type);
        return;
      }
      case kind::metrics: {
        auto text = ask_text(caf::make_message(msg::metrics_atom::value));
        if (text)
          reply(req, http::status_codes::OK, *text, metrics_type);
        else
          unavailable();
        return;
      }
      case kind::debug_ui:
        reply_page(req);
        return;
      case kind::debug_actors: {
        if (wants_page(req)) {
          reply_page(req);
          return;
        }
        auto text = ask_text(caf::make_message(msg::debug_atom::value));
        if (text)
          reply(req, http::status_codes::OK, *text + "\n", json_type);
        else
          unavailable();
        return;
      }
      case kind::debug_actor: {
        auto text = ask_text(caf::make_message(msg::debug_atom::value, route.key));
        if (!text)
          unavailable();
        else if (text->empty())
          reply(req, http::status_codes::NotFound,
                R"({"error":"no supervisor for this resource"})" "\n", json_type);
        else
          reply(req, http::status_codes::OK, *text + "\n", json_type);
        return;
      }
      case kind::not_found:
        break;
    }
    reply(req, http::status_codes::NotFound, "not found\n", text_type);
  }
};

expected<std::unique_ptr<http_endpoint>, std::string>
http_endpoint::start(caf::actor_system& sys, const std::string& listen, caf::actor introspection,
                     std::chrono::milliseconds timeout) {
  auto addr = parse_listen(listen);
  if (!addr)
    return make_unexpected(addr.error());
  if (addr->port == 0) {
    auto port = free_port(addr->host);
    if (!port)
      return make_unexpected(port.error());
    addr->port = *port;
  }
  const bool v6 = addr->host.find(':') != std::string::npos;
  const std::string hostport =
    (v6 ? "[" + addr->host + "]" : addr->host) + ":" + std::to_string(addr->port);
  std::unique_ptr<http_endpoint> ep(new http_endpoint());
  ep->impl_ = std::make_unique<impl>();
  ep->impl_->sys = &sys;
  ep->impl_->introspection = std::move(introspection);
  ep->impl_->timeout = timeout;
  ep->address_ = hostport;
  try {
    ep->impl_->listener =
      std::make_unique<http::experimental::listener::http_listener>("http://" + hostport);
    auto* i = ep->impl_.get();
    ep->impl_->listener->support([i](const http::http_request& req) {
      if (req.method() != http::methods::GET && req.method() != http::methods::HEAD) {
        impl::reply(req, http::status_codes::MethodNotAllowed, "GET only\n", text_type);
        return;
      }
      try {
        i->handle(req);
      } catch (const std::exception& e) {
        spdlog::warn("http endpoint: {}", e.what());
        impl::reply(req, http::status_codes::InternalError, "internal error\n", text_type);
      }
    });
    ep->impl_->listener->open().wait();
  } catch (const std::exception& e) {
    return make_unexpected("cannot listen on " + hostport + ": " + e.what());
  }
  spdlog::info("http endpoint listening on {}", hostport);
  return ep;
}

void http_endpoint::stop() {
  if (!impl_ || !impl_->listener)
    return;
  try {
    impl_->listener->close().wait();
  } catch (const std::exception& e) {
    spdlog::debug("http endpoint: close: {}", e.what());
  }
  impl_->listener.reset();
}

http_endpoint::~http_endpoint() {
  stop();
}

} // namespace dbuser::actors
