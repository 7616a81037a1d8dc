#pragma once

// Pure pieces of /metrics: a histogram with fixed buckets and the Prometheus text exposition
// format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/). No I/O, no actors.
//
//   metric_family f{"dbuser_reconciles_total", "Reconciles by result.", metric_type::counter};
//   f.add({{"result", "success"}}, 3);
//   std::string text = render_prometheus({f});

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dbuser::metrics {

enum class metric_type { counter, gauge, histogram };

using labels = std::vector<std::pair<std::string, std::string>>;

// Cumulative-on-render histogram: observe() counts into the first bucket whose upper bound is
// >= the value (values above every bound only count toward +Inf).
class histogram {
public:
  explicit histogram(std::vector<double> upper_bounds);
  void observe(double value);

  [[nodiscard]] const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative count per bound (same length as bounds()), as exposed in `_bucket{le=...}`.
  [[nodiscard]] std::vector<std::uint64_t> cumulative() const;
  [[nodiscard]] std::uint64_t count() const { return count_; }
  [[nodiscard]] double sum() const { return sum_; }

private:
  std::vector<double> bounds_;       // strictly increasing, finite
  std::vector<std::uint64_t> counts_; // per bucket, not cumulative
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

// The reconcile duration buckets, in seconds (5 ms .. 60 s).
[[nodiscard]] std::vector<double> reconcile_duration_buckets();

struct sample {
  labels label_set;
  double value = 0;
};

struct metric_family {
  std::string name;
  std::string help;
  metric_type type = metric_type::gauge;
  std::vector<sample> samples;
  // histogram families: one histogram per label set
  std::vector<std::pair<labels, histogram>> histograms;

  void add(labels l, double value) { samples.push_back({std::move(l), value}); }
};

// "a\"b\\c\nd" escaping of label values; `\` and newlines in HELP.
[[nodiscard]] std::string escape_label_value(const std::string& v);
[[nodiscard]] std::string escape_help(const std::string& v);
// Numbers as Prometheus writes them: integers without a fraction, +Inf, -Inf, NaN.
[[nodiscard]] std::string format_value(double v);

// Every family with its # HELP and # TYPE lines, then its samples (histograms as _bucket with
// le, including +Inf, then _sum and _count). Families without samples are still declared.
[[nodiscard]] std::string render_prometheus(const std::vector<metric_family>& families);

} // namespace dbuser::metrics
