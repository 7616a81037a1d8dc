#pragma once

// A strict reader of the Prometheus text exposition format 0.0.4, for tests: every line must be a
// HELP/TYPE comment, another comment, empty, or a sample with valid metric and label names, a
// properly escaped label value and a number; each family's TYPE comes before its samples, which
// are contiguous; histograms have cumulative, monotone buckets ending in le="+Inf" equal to
// _count, and a _sum.

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dbuser::test::prom {

struct sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct exposition {
  std::vector<sample> samples;
  std::map<std::string, std::string> types; // family → counter, gauge, histogram, ...
  std::vector<std::string> errors;          // empty when the text is valid

  // The sample with exactly these labels, nullopt when absent.
  [[nodiscard]] std::optional<double> value(const std::string& name,
                                            const std::map<std::string, std::string>& labels = {}) const;
  // The sum over every sample of `name` whose labels include `match`.
  [[nodiscard]] double sum(const std::string& name,
                           const std::map<std::string, std::string>& match = {}) const;
};

[[nodiscard]] exposition parse(const std::string& text);

} // namespace dbuser::test::prom
