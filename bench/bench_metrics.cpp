// dbuser-bench: the operator's HTTP endpoint as the bench reads it (see bench_driver.hpp).

#include "bench/bench_driver.hpp"

#include <arpa/inet.h>
#include <cctype>
#include <netinet/in.h>
#include <sys/socket.h>

namespace dbuser::bench {

// --- small HTTP client for /readyz and /metrics ----------------------------------------------

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("no free port");
  }
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

// GET http://127.0.0.1:port/path → (status, body); status 0 when it failed.
std::pair<int, std::string> http_get(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return {0, ""};
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::send(fd, req.data(), req.size(), 0) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return {0, ""};
  }
  std::string resp;
  char buf[65536];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    resp.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (resp.rfind("HTTP/1.", 0) != 0 || resp.size() < 12)
    return {0, ""};
  int status = std::atoi(resp.c_str() + 9);
  auto body_at = resp.find("\r\n\r\n");
  std::string body = body_at == std::string::npos ? "" : resp.substr(body_at + 4);
  // Chunked bodies: strip the chunk framing.
  auto headers = resp.substr(0, body_at);
  std::string lower;
  for (char c : headers)
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find("transfer-encoding: chunked") != std::string::npos) {
    std::string out;
    std::size_t at = 0;
    while (at < body.size()) {
      auto eol = body.find("\r\n", at);
      if (eol == std::string::npos)
        break;
      auto size = std::stoul(body.substr(at, eol - at), nullptr, 16);
      if (size == 0)
        break;
      out += body.substr(eol + 2, size);
      at = eol + 2 + size + 2;
    }
    body = out;
  }
  return {status, body};
}

series_map parse_metrics(const std::string& text) {
  series_map m;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#')
      continue;
    auto sp = line.rfind(' ');
    if (sp == std::string::npos)
      continue;
    try {
      m[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
    } catch (const std::exception&) {
    }
  }
  return m;
}

namespace {

std::string label_of(const std::string& series, const std::string& label) {
  auto at = series.find(label + "=\"");
  if (at == std::string::npos)
    return "";
  at += label.size() + 2;
  return series.substr(at, series.find('"', at) - at);
}

} // namespace

// Sum of a family's samples grouped by one label ("" → one total under "").
std::map<std::string, double> by_label(const series_map& m, const std::string& family,
                                       const std::string& label) {
  std::map<std::string, double> out;
  for (const auto& [s, v] : m)
    if (s == family || s.rfind(family + "{", 0) == 0)
      out[label.empty() ? "" : label_of(s, label)] += v;
  return out;
}

std::map<std::string, double> minus(std::map<std::string, double> a,
                                    const std::map<std::string, double>& b) {
  for (const auto& [k, v] : b)
    a[k] -= v;
  return a;
}

double total(const std::map<std::string, double>& m) {
  double t = 0;
  for (const auto& [k, v] : m)
    t += v;
  return t;
}

json per_user(const std::map<std::string, double>& m, int n) {
  json j = json::object();
  for (const auto& [k, v] : m)
    if (v != 0)
      j[k.empty() ? "all" : k] = v / n;
  return j;
}

} // namespace dbuser::bench
