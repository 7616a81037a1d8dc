#pragma once

// A plain HTTP/1.0 GET over a socket, for tests of the operator's endpoint (no cpprestsdk client).

#include <map>
#include <string>

namespace dbuser::test {

struct http_response {
  int status = 0; // 0 when nothing answered
  std::string body;
  std::map<std::string, std::string> headers; // names in lower case
};

// `hostport` is "127.0.0.1:8080"; `headers` are sent as given.
[[nodiscard]] http_response http_get(const std::string& hostport, const std::string& path,
                                     const std::map<std::string, std::string>& headers = {});

} // namespace dbuser::test
