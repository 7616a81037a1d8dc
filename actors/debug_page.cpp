#include "actors/debug_page.hpp"

#include "actors/debug_page_html.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace dbuser::actors {

namespace {

// The q value of `type` (or its wildcard `family/*`) in an Accept header; -1 when not listed.
double quality(const std::string& accept, const std::string& type) {
  const std::string family = type.substr(0, type.find('/')) + "/*";
  double best = -1;
  std::size_t start = 0;
  while (start <= accept.size()) {
    auto end = accept.find(',', start);
    if (end == std::string::npos)
      end = accept.size();
    std::string item = accept.substr(start, end - start);
    start = end + 1;
    std::string media = item.substr(0, item.find(';'));
    const auto space = [](unsigned char c) { return std::isspace(c) != 0; };
    media.erase(std::remove_if(media.begin(), media.end(), space), media.end());
    std::transform(media.begin(), media.end(), media.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (media != type && media != family)
      continue;
    double q = 1;
    if (auto qp = item.find("q="); qp != std::string::npos)
      q = std::strtod(item.c_str() + qp + 2, nullptr);
    best = std::max(best, q);
  }
  return best;
}

} // namespace

const std::string& debug_page_html() {
  static const std::string html = debug_page_document;
  return html;
}

const char* debug_page_csp() {
  return "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
         "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
         "frame-ancestors 'none'";
}

bool accepts_html(const std::string& accept) {
  const double html = quality(accept, "text/html");
  return html > 0 && html >= quality(accept, "application/json");
}

} // namespace dbuser::actors
