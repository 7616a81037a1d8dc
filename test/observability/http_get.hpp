#pragma once

// A plain HTTP/1.0 GET over a socket, for tests of the operator's endpoint (no cpprestsdk client).

#include <string>

namespace dbuser::test {

struct http_response {
  int status = 0; // 0 when nothing answered
  std::string body;
};

// `hostport` is "127.0.0.1:8080".
[[nodiscard]] http_response http_get(const std::string& hostport, const std::string& path);

} // namespace dbuser::test
