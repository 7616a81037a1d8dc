#include "test/observability/http_get.hpp"

#include <arpa/inet.h>
#include <cctype>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace dbuser::test {

http_response http_get(const std::string& hostport, const std::string& path,
                       const std::map<std::string, std::string>& headers) {
  http_response r;
  auto colon = hostport.rfind(':');
  if (colon == std::string::npos)
    return r;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(hostport.substr(colon + 1))));
  if (::inet_pton(AF_INET, hostport.substr(0, colon).c_str(), &addr.sin_addr) != 1)
    return r;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return r;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return r;
  }
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: test\r\nConnection: close\r\n";
  for (const auto& [name, value] : headers)
    req += name + ": " + value + "\r\n";
  req += "\r\n";
  if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return r;
  }
  std::string raw;
  char buf[8192];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
    raw.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  if (raw.size() < 12 || raw.compare(0, 5, "HTTP/") != 0)
    return r;
  r.status = std::stoi(raw.substr(9, 3));
  auto body = raw.find("\r\n\r\n");
  if (body != std::string::npos)
    r.body = raw.substr(body + 4);
  // Header lines between the status line and the blank line.
  for (auto at = raw.find("\r\n"); at != std::string::npos && at < body;) {
    auto next = raw.find("\r\n", at + 2);
    const auto line = raw.substr(at + 2, next - at - 2);
    if (auto sep = line.find(':'); sep != std::string::npos) {
      std::string name = line.substr(0, sep);
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const auto value = line.find_first_not_of(' ', sep + 1);
      r.headers[name] = value == std::string::npos ? "" : line.substr(value);
    }
    at = next;
  }
  return r;
}

} // namespace dbuser::test
