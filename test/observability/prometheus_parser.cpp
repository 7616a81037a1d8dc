#include "test/observability/prometheus_parser.hpp"

#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

namespace dbuser::test::prom {

namespace {

bool name_start(char c, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}
bool name_char(char c, bool colon) {
  return name_start(c, colon) || (c >= '0' && c <= '9');
}

bool valid_name(const std::string& s, bool colon) {
  if (s.empty() || !name_start(s[0], colon))
    return false;
  for (char c : s)
    if (!name_char(c, colon))
      return false;
  return true;
}

std::optional<double> number(const std::string& s) {
  if (s == "+Inf" || s == "Inf")
    return HUGE_VAL;
  if (s == "-Inf")
    return -HUGE_VAL;
  if (s == "NaN")
    return NAN;
  if (s.empty())
    return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size())
    return std::nullopt;
  return v;
}

// The family a sample belongs to (histogram suffixes stripped when the base is a histogram).
std::string family_of(const std::string& name, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string sfx = suffix;
    if (name.size() > sfx.size() && name.compare(name.size() - sfx.size(), sfx.size(), sfx) == 0) {
      auto base = name.substr(0, name.size() - sfx.size());
      auto t = types.find(base);
      if (t != types.end() && (t->second == "histogram" || t->second == "summary"))
        return base;
    }
  }
  return name;
}

bool parse_sample(const std::string& line, sample& out, std::string& err) {
  std::size_t i = 0;
  while (i < line.size() && name_char(line[i], true))
    ++i;
  out.name = line.substr(0, i);
  if (!valid_name(out.name, true)) {
    err = "bad metric name";
    return false;
  }
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (true) {
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      std::size_t start = i;
      while (i < line.size() && name_char(line[i], false))
        ++i;
      std::string label = line.substr(start, i - start);
      if (!valid_name(label, false) || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
        err = "bad label";
        return false;
      }
      i += 2;
      std::string value;
      bool closed = false;
      while (i < line.size()) {
        char c = line[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\') {
          if (i >= line.size()) break;
          char e = line[i++];
          if (e == 'n') value += '\n';
          else if (e == '\\' || e == '"') value += e;
          else {
            err = "bad escape in label value";
            return false;
          }
        } else {
          value += c;
        }
      }
      if (!closed) {
        err = "unterminated label value";
        return false;
      }
      if (out.labels.count(label) != 0) {
        err = "duplicate label " + label;
        return false;
      }
      out.labels[label] = value;
      if (i < line.size() && line[i] == ',')
        ++i;
      else if (i < line.size() && line[i] == '}')
        continue;
      else {
        err = "expected , or }";
        return false;
      }
    }
  }
  if (i >= line.size() || line[i] != ' ') {
    err = "expected a space before the value";
    return false;
  }
  std::istringstream rest(line.substr(i + 1));
  std::string value, timestamp, extra;
  rest >> value >> timestamp >> extra;
  auto v = number(value);
  if (!v) {
    err = "bad value \"" + value + "\"";
    return false;
  }
  if (!timestamp.empty() && (timestamp.find_first_not_of("-0123456789") != std::string::npos)) {
    err = "bad timestamp";
    return false;
  }
  if (!extra.empty()) {
    err = "trailing text";
    return false;
  }
  out.value = *v;
  return true;
}

void check_histograms(exposition& e) {
  for (const auto& [family, type] : e.types) {
    if (type != "histogram")
      continue;
    // label set without le → (le → count)
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;
    std::map<std::map<std::string, std::string>, double> counts, sums;
    for (const auto& s : e.samples) {
      auto l = s.labels;
      if (s.name == family + "_bucket") {
        auto le = l.find("le");
        if (le == l.end()) {
          e.errors.push_back(family + "_bucket without le");
          continue;
        }
        auto bound = number(le->second);
        if (!bound) {
          e.errors.push_back(family + "_bucket with a bad le \"" + le->second + "\"");
          continue;
        }
        l.erase(le);
        buckets[l].emplace_back(*bound, s.value);
      } else if (s.name == family + "_count") {
        counts[l] = s.value;
      } else if (s.name == family + "_sum") {
        sums[l] = s.value;
      }
    }
    for (const auto& [l, bs] : buckets) {
      for (std::size_t i = 1; i < bs.size(); ++i) {
        if (!(bs[i].first > bs[i - 1].first))
          e.errors.push_back(family + ": le bounds are not increasing");
        if (bs[i].second < bs[i - 1].second)
          e.errors.push_back(family + ": buckets are not cumulative (a count decreases)");
      }
      if (bs.empty() || !std::isinf(bs.back().first))
        e.errors.push_back(family + ": no le=\"+Inf\" bucket");
      else if (counts.count(l) == 0 || counts[l] != bs.back().second)
        e.errors.push_back(family + ": the +Inf bucket differs from _count");
      if (sums.count(l) == 0)
        e.errors.push_back(family + ": no _sum");
    }
    if (buckets.empty() && !counts.empty())
      e.errors.push_back(family + ": _count without buckets");
  }
}

} // namespace

std::optional<double> exposition::value(const std::string& name,
                                        const std::map<std::string, std::string>& labels) const {
  for (const auto& s : samples)
    if (s.name == name && s.labels == labels)
      return s.value;
  return std::nullopt;
}

double exposition::sum(const std::string& name,
                       const std::map<std::string, std::string>& match) const {
  double total = 0;
  for (const auto& s : samples) {
    if (s.name != name)
      continue;
    bool ok = true;
    for (const auto& [k, v] : match) {
      auto i = s.labels.find(k);
      ok = ok && i != s.labels.end() && i->second == v;
    }
    if (ok)
      total += s.value;
  }
  return total;
}

exposition parse(const std::string& text) {
  exposition e;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  std::string current;           // family of the previous sample
  std::set<std::string> closed;  // families whose samples ended
  std::set<std::string> helped;
  if (!text.empty() && text.back() != '\n')
    e.errors.push_back("the text does not end with a newline");
  while (std::getline(in, line)) {
    ++n;
    auto where = "line " + std::to_string(n) + " \"" + line + "\": ";
    if (line.empty())
      continue;
    if (line[0] == '#') {
      std::istringstream c(line.substr(1));
      std::string keyword, name, rest;
      c >> keyword >> name;
      if (keyword == "HELP" || keyword == "TYPE") {
        if (!valid_name(name, true)) {
          e.errors.push_back(where + "bad metric name in " + keyword);
          continue;
        }
        std::getline(c, rest);
        if (keyword == "TYPE") {
          if (!rest.empty() && rest[0] == ' ')
            rest.erase(0, 1);
          if (rest != "counter" && rest != "gauge" && rest != "histogram" && rest != "summary"
              && rest != "untyped")
            e.errors.push_back(where + "unknown type");
          if (e.types.count(name) != 0)
            e.errors.push_back(where + "second TYPE for " + name);
          for (const auto& s : e.samples)
            if (family_of(s.name, e.types) == name)
              e.errors.push_back(where + "TYPE after samples of " + name);
          e.types[name] = rest;
        } else if (!helped.insert(name).second) {
          e.errors.push_back(where + "second HELP for " + name);
        }
      }
      continue;
    }
    sample s;
    std::string err;
    if (!parse_sample(line, s, err)) {
      e.errors.push_back(where + err);
      continue;
    }
    const auto family = family_of(s.name, e.types);
    if (family != current) {
      if (closed.count(family) != 0)
        e.errors.push_back(where + "samples of " + family + " are not contiguous");
      if (!current.empty())
        closed.insert(current);
      current = family;
    }
    auto t = e.types.find(family);
    if (t != e.types.end() && t->second == "counter" && (s.value < 0 || std::isnan(s.value)))
      e.errors.push_back(where + "a counter is negative");
    e.samples.push_back(std::move(s));
  }
  check_histograms(e);
  return e;
}

} // namespace dbuser::test::prom
