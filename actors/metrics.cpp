#include "actors/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace dbuser::metrics {

histogram::histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size(), 0) {
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  counts_.assign(bounds_.size(), 0);
}

void histogram::observe(double value) {
  if (std::isnan(value))
    return;
  ++count_;
  sum_ += value;
  auto i = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  if (i != bounds_.end())
    ++counts_[static_cast<std::size_t>(i - bounds_.begin())];
}

std::vector<std::uint64_t> histogram::cumulative() const {
  std::vector<std::uint64_t> out(counts_.size());
  std::uint64_t acc = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i)
    out[i] = acc += counts_[i];
  return out;
}

std::vector<double> reconcile_duration_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

namespace {

// Prometheus' text format escapes: backslash and newline, and in a label value the double quote.
std::string escaped(const std::string& v, bool quotes) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"' && quotes)
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

} // namespace

std::string escape_label_value(const std::string& v) { return escaped(v, true); }

std::string escape_help(const std::string& v) { return escaped(v, false); }

std::string format_value(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    for (int precision = 6; precision <= 17; ++precision) { // shortest text that reads back as v
      std::snprintf(buf, sizeof buf, "%.*g", precision, v);
      if (std::strtod(buf, nullptr) == v)
        break;
    }
  return buf;
}

namespace {

const char* type_name(metric_type t) {
  switch (t) {
    case metric_type::counter: return "counter";
    case metric_type::gauge: return "gauge";
    case metric_type::histogram: return "histogram";
  }
  return "untyped";
}

void write_labels(std::string& out, const labels& l, const std::string& le = "") {
  if (l.empty() && le.empty())
    return;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : l) {
    out += (first ? "" : ",") + k + "=\"" + escape_label_value(v) + '"';
    first = false;
  }
  if (!le.empty())
    out += std::string(first ? "" : ",") + "le=\"" + le + '"';
  out += '}';
}

void write_sample(std::string& out, const std::string& name, const labels& l, double v,
                  const std::string& le = "") {
  out += name;
  write_labels(out, l, le);
  out += ' ' + format_value(v) + '\n';
}

} // namespace

std::string render_prometheus(const std::vector<metric_family>& families) {
  std::string out;
  for (const auto& f : families) {
    out += "# HELP " + f.name + ' ' + escape_help(f.help) + '\n';
    out += "# TYPE " + f.name + ' ' + type_name(f.type) + '\n';
    for (const auto& s : f.samples)
      write_sample(out, f.name, s.label_set, s.value);
    for (const auto& [l, h] : f.histograms) {
      const auto cum = h.cumulative();
      for (std::size_t i = 0; i < cum.size(); ++i)
        write_sample(out, f.name + "_bucket", l, static_cast<double>(cum[i]),
                     format_value(h.bounds()[i]));
      write_sample(out, f.name + "_bucket", l, static_cast<double>(h.count()), "+Inf");
      write_sample(out, f.name + "_sum", l, h.sum());
      write_sample(out, f.name + "_count", l, static_cast<double>(h.count()));
    }
  }
  return out;
}

} // namespace dbuser::metrics
