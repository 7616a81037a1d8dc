#include "pg/login.hpp"

#include "common/base64.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace dbuser::pg {

namespace {

using clock = std::chrono::steady_clock;

constexpr std::uint32_t ssl_request_code = 80877103;
constexpr std::uint32_t protocol_3_0 = 196608;
constexpr std::size_t max_message = 1U << 20U;

void put_u32(std::string& out, std::uint32_t v) {
  const std::uint32_t n = htonl(v);
  out.append(reinterpret_cast<const char*>(&n), 4);
}

std::uint32_t get_u32(const char* p) {
  std::uint32_t n = 0;
  std::memcpy(&n, p, 4);
  return ntohl(n);
}

// A frontend message: type, length, body.
std::string message(char type, const std::string& body) {
  std::string out(1, type);
  put_u32(out, static_cast<std::uint32_t>(body.size() + 4));
  return out + body;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// A socket, plain or TLS, whose every wait ends at the deadline.
class wire {
public:
  wire(int fd, clock::time_point deadline) : fd_(fd), deadline_(deadline) {}
  wire(const wire&) = delete;
  wire& operator=(const wire&) = delete;
  ~wire() {
    if (ssl_ != nullptr)
      SSL_free(ssl_);
  }

  void use(SSL* ssl) { ssl_ = ssl; }
  SSL* ssl() const { return ssl_; }

  bool wait(short events) const {
    const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - clock::now()).count();
    if (left <= 0)
      return false;
    pollfd p{fd_, events, 0};
    int rc = 0;
    do
      rc = ::poll(&p, 1, static_cast<int>(left));
    while (rc < 0 && errno == EINTR);
    return rc > 0 && (p.revents & (events | POLLHUP | POLLERR)) != 0;
  }

  // Retries an SSL call while it wants to read or write; false on anything else.
  template <class F>
  bool tls_step(F&& f, int& n) {
    for (;;) {
      ERR_clear_error();
      n = f();
      if (n > 0)
        return true;
      const int e = SSL_get_error(ssl_, n);
      if (e == SSL_ERROR_WANT_READ ? !wait(POLLIN) : e == SSL_ERROR_WANT_WRITE ? !wait(POLLOUT)
                                                                                : true)
        return false;
    }
  }

  bool handshake() {
    int n = 0;
    return tls_step([this] { return SSL_connect(ssl_); }, n);
  }

  bool send(const std::string& data) {
    return move_all(
      data.size(),
      [&](std::size_t done) {
        return SSL_write(ssl_, data.data() + done, static_cast<int>(data.size() - done));
      },
      [&](std::size_t done) {
        return ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      },
      POLLOUT);
  }

  bool recv(char* out, std::size_t len) {
    return move_all(
      len,
      [&](std::size_t done) { return SSL_read(ssl_, out + done, static_cast<int>(len - done)); },
      [&](std::size_t done) { return ::recv(fd_, out + done, len - done, 0); }, POLLIN);
  }

  // Moves `len` bytes, `tls(done)` or `plain(done)` at a time (each returns how many moved, below
  // zero on an error), waiting for `events` while the socket would block; false when the
  // connection failed or closed first.
  template <class Tls, class Plain>
  bool move_all(std::size_t len, Tls tls, Plain plain, short events) {
    std::size_t done = 0;
    while (done < len) {
      int n = 0;
      if (ssl_ != nullptr) {
        if (!tls_step([&] { return tls(done); }, n))
          return false;
      } else {
        n = static_cast<int>(plain(done));
        if (n == 0)
          return false;
        if (n < 0) {
          if ((errno == EAGAIN || errno == EINTR) && wait(events))
            continue;
          return false;
        }
      }
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  // One backend message: its type and body; false when the connection failed or it is too long.
  bool read_message(char& type, std::string& body) {
    char head[5];
    if (!recv(head, 5))
      return false;
    type = head[0];
    const std::uint32_t len = get_u32(head + 1);
    if (len < 4 || len - 4 > max_message)
      return false;
    body.assign(len - 4, '\0');
    return body.empty() || recv(body.data(), body.size());
  }

private:
  int fd_;
  clock::time_point deadline_;
  SSL* ssl_ = nullptr;
};

// The fields of an ErrorResponse: SQLSTATE ('C') and message ('M').
std::pair<std::string, std::string> error_fields(const std::string& body) {
  std::string code;
  std::string text;
  std::size_t i = 0;
  while (i < body.size() && body[i] != '\0') {
    const char field = body[i++];
    const auto end = body.find('\0', i);
    if (end == std::string::npos)
      break;
    if (field == 'C')
      code = body.substr(i, end - i);
    else if (field == 'M')
      text = body.substr(i, end - i);
    i = end + 1;
  }
  return {code, text};
}

// The value of one "k=value" attribute of a SCRAM message.
std::optional<std::string_view> attribute(std::string_view msg, char key) {
  std::size_t i = 0;
  while (i < msg.size()) {
    const auto end = std::min(msg.find(',', i), msg.size());
    if (end - i >= 2 && msg[i] == key && msg[i + 1] == '=')
      return msg.substr(i + 2, end - i - 2);
    i = end + 1;
  }
  return std::nullopt;
}

} // namespace

std::optional<std::string> scram_client::final_message(std::string_view server_first,
                                                       std::string_view password,
                                                       const scram_keys* known) {
  const auto nonce = attribute(server_first, 'r');
  const auto salt64 = attribute(server_first, 's');
  const auto iter = attribute(server_first, 'i');
  if (!nonce || !salt64 || !iter || nonce->size() <= nonce_.size()
      || nonce->substr(0, nonce_.size()) != nonce_ || iter->empty() || iter->size() > 9
      || iter->find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  const auto salt = base64_decode(*salt64);
  const int iterations = std::stoi(std::string(*iter));
  if (!salt || salt->empty() || iterations < 1)
    return std::nullopt;
  std::optional<scram_keys> derived;
  const scram_keys* keys = known;
  if (keys == nullptr || keys->salt != *salt || keys->iterations != iterations) {
    derived = derive_scram_keys(password, *salt, iterations);
    if (!derived)
      return std::nullopt;
    keys = &*derived;
  }
  const std::string without_proof = "c=biws,r=" + std::string(*nonce);
  auth_message_ = first_bare() + "," + std::string(server_first) + "," + without_proof;
  auto client_key =
    hmac_sha256(keys->salted_password.data(), keys->salted_password.size(), "Client Key");
  const auto stored_key = sha256(client_key.data(), client_key.size());
  const auto signature = hmac_sha256(stored_key.data(), stored_key.size(), auth_message_);
  std::array<unsigned char, 32> proof{};
  for (std::size_t i = 0; i < proof.size(); ++i)
    proof[i] = client_key[i] ^ signature[i];
  OPENSSL_cleanse(client_key.data(), client_key.size());
  const auto server_key =
    hmac_sha256(keys->salted_password.data(), keys->salted_password.size(), "Server Key");
  server_signature_ = hmac_sha256(server_key.data(), server_key.size(), auth_message_);
  return without_proof + ",p=" + base64_encode(as_text(proof));
}

bool scram_client::server_verified(std::string_view server_final) const {
  const auto v = attribute(server_final, 'v');
  if (!v || auth_message_.empty())
    return false;
  const auto got = base64_decode(*v);
  return got && got->size() == server_signature_.size()
         && CRYPTO_memcmp(got->data(), server_signature_.data(), got->size()) == 0;
}

struct login_client::impl {
  login_endpoint e;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{nullptr, &SSL_CTX_free};
  bool ctx_failed = false;

  SSL_CTX* tls() {
    if (ctx || ctx_failed)
      return ctx.get();
    ctx.reset(SSL_CTX_new(TLS_client_method()));
    // libpq's defaults: TLS 1.2 at least; the server's certificate verified against sslrootcert
    // whenever one is given (in every sslmode that uses TLS).
    if (!ctx || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1
        || (!e.ca_path.empty()
            && SSL_CTX_load_verify_locations(ctx.get(), e.ca_path.c_str(), nullptr) != 1)) {
      ctx.reset();
      ctx_failed = true;
      return nullptr;
    }
    SSL_CTX_set_verify(ctx.get(), e.ca_path.empty() ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
    return ctx.get();
  }

  // A connected non-blocking socket, or -1 with `why` set.
  int connect_tcp(clock::time_point deadline, std::string& why) const {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(e.port);
    if (const int rc = ::getaddrinfo(e.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
      why = "could not translate host name \"" + e.host + "\" to address: " + gai_strerror(rc);
      return -1;
    }
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, &freeaddrinfo);
    why = "could not connect";
    for (auto* a = found; a != nullptr; a = a->ai_next) {
      const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                              a->ai_protocol);
      if (fd < 0)
        continue;
      // As the admin connections (pg/executor.cpp conninfo): keepalives and tcp_user_timeout.
      const int one = 1;
      const int idle = 5;
      const int interval = 2;
      const int count = 3;
      const unsigned user_timeout = 10000;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
      ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof user_timeout);
      int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
      if (rc != 0 && errno == EINPROGRESS) {
        wire w(fd, deadline);
        int err = ETIMEDOUT;
        socklen_t len = sizeof err;
        if (w.wait(POLLOUT))
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        rc = err == 0 ? 0 : -1;
        errno = err;
      }
      if (rc == 0)
        return fd;
      why = "connection to server at \"" + e.host + "\", port " + port
            + " failed: " + std::strerror(errno);
      ::close(fd);
    }
    return -1;
  }
};

login_client::login_client(login_endpoint endpoint) : impl_(std::make_unique<impl>()) {
  impl_->e = std::move(endpoint);
}

login_client::~login_client() = default;

native_login login_client::check(std::string_view role, std::string_view password,
                                 std::string_view database, const scram_keys* known,
                                 socket_cutter* cutter,
                                 const std::vector<std::string>& secrets) const {
  auto& self = *impl_;
  const auto& e = self.e;
  native_login out;
  const bool verify = e.ssl_mode == "verify-ca" || e.ssl_mode == "verify-full";
  if (e.ssl_mode == "allow" || (verify && e.ca_path.empty()) || !scram_ascii(password)
      || e.host.empty() || e.host.front() == '/') {
    out.unsupported = true;
    return out;
  }
  const std::string context = "while logging in as " + std::string(role) + " to database "
                              + std::string(database);
  auto fail = [&](error_kind kind, std::string message) {
    out.failure = make_error(kind, redact(message, secrets), context);
    return out;
  };
  const auto timeout = e.connect_timeout.count() > 0 ? e.connect_timeout : std::chrono::seconds(60);
  const auto deadline = clock::now() + timeout;
  std::string why;
  const int fd = self.connect_tcp(deadline, why);
  if (fd < 0)
    return fail(error_kind::unavailable, why);
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_fd{fd};
  auto lease = cutter != nullptr ? cutter->watch(fd) : socket_cutter::lease();
  wire w(fd, deadline);
  const auto lost = [&] {
    return fail(error_kind::unavailable, "server closed the connection unexpectedly or did not "
                                         "answer within the connect timeout");
  };

  if (e.ssl_mode != "disable") {
    std::string req;
    put_u32(req, 8);
    put_u32(req, ssl_request_code);
    char answer = 0;
    if (!w.send(req) || !w.recv(&answer, 1))
      return lost();
    if (answer == 'S') {
      SSL_CTX* ctx = self.tls();
      SSL* ssl = ctx != nullptr ? SSL_new(ctx) : nullptr;
      if (ssl == nullptr) {
        out.unsupported = true;
        return out;
      }
      w.use(ssl);
      SSL_set_fd(ssl, fd);
      if (!is_ip_literal(e.host))
        SSL_set_tlsext_host_name(ssl, e.host.c_str());
      if (e.ssl_mode == "verify-full") {
        auto* param = SSL_get0_param(ssl);
        if ((is_ip_literal(e.host) ? X509_VERIFY_PARAM_set1_ip_asc(param, e.host.c_str())
                                   : X509_VERIFY_PARAM_set1_host(param, e.host.c_str(), 0))
            != 1) {
          out.unsupported = true;
          return out;
        }
      }
      if (!w.handshake()) {
        // libpq tells what is wrong with the certificate or the server, in its own words.
        out.unsupported = true;
        return out;
      }
    } else if (answer != 'N' || e.ssl_mode != "prefer") {
      out.unsupported = true; // TLS required and refused, or not a PostgreSQL server
      return out;
    }
  }

  std::string startup;
  put_u32(startup, protocol_3_0);
  for (const auto& [k, v] : {std::pair<std::string, std::string>{"user", std::string(role)},
                             {"database", std::string(database)},
                             {"application_name", e.application_name}})
    startup += k + '\0' + v + '\0';
  startup += '\0';
  std::string packet;
  put_u32(packet, static_cast<std::uint32_t>(startup.size() + 4));
  if (!w.send(packet + startup))
    return lost();

  std::string nonce_raw(18, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce_raw.data()), 18) != 1)
    return fail(error_kind::internal, "OpenSSL RAND_bytes failed");
  scram_client scram(base64_encode(nonce_raw));
  bool sasl_started = false;
  bool server_verified = false;
  char type = 0;
  std::string body;
  for (;;) {
    if (!w.read_message(type, body))
      return lost();
    if (type == 'E') {
      auto [code, text] = error_fields(body);
      out.failure = sql_error(code, text, context, secrets);
      return out;
    }
    if (type == 'N' || type == 'K')
      continue;
    if (type == 'S') {
      const auto name_end = body.find('\0');
      if (name_end != std::string::npos && body.compare(0, name_end, "server_version") == 0) {
        const auto value_end = body.find('\0', name_end + 1);
        out.server_version = body.substr(name_end + 1, value_end == std::string::npos
                                                         ? std::string::npos
                                                         : value_end - name_end - 1);
      }
      continue;
    }
    if (type == 'Z') {
      if (!sasl_started || !server_verified) // trust or another method: not ours to judge
        break;
      w.send(message('X', ""));
      out.ok = true;
      return out;
    }
    if (type != 'R' || body.size() < 4)
      break;
    const std::uint32_t code = get_u32(body.data());
    const std::string data = body.substr(4);
    if (code == 0) { // AuthenticationOk
      if (!server_verified)
        break;
      continue;
    }
    if (code == 10 && !sasl_started) { // AuthenticationSASL: the mechanisms
      bool offered = false;
      for (std::size_t i = 0; i < data.size() && data[i] != '\0';) {
        const auto end = data.find('\0', i);
        if (end == std::string::npos)
          break;
        offered = offered || data.compare(i, end - i, "SCRAM-SHA-256") == 0;
        i = end + 1;
      }
      if (!offered)
        break;
      const std::string first = scram.first_message();
      std::string m = std::string("SCRAM-SHA-256") + '\0';
      put_u32(m, static_cast<std::uint32_t>(first.size()));
      if (!w.send(message('p', m + first)))
        return lost();
      sasl_started = true;
      continue;
    }
    if (code == 11 && sasl_started) { // AuthenticationSASLContinue: server-first
      auto final_message = scram.final_message(data, password, known);
      if (!final_message)
        return fail(error_kind::auth, "the server's SCRAM message is malformed");
      if (!w.send(message('p', *final_message)))
        return lost();
      continue;
    }
    if (code == 12 && sasl_started) { // AuthenticationSASLFinal: server-final
      if (!scram.server_verified(data))
        return fail(error_kind::auth, "the server's SCRAM signature is invalid: it does not "
                                      "hold this role's verifier");
      server_verified = true;
      continue;
    }
    break; // cleartext, MD5, GSS, ...: libpq's to answer
  }
  out = native_login{};
  out.unsupported = true;
  return out;
}

} // namespace dbuser::pg
