#include "actors/metrics.hpp"
#include "test/observability/prometheus_parser.hpp"

#include <catch2/catch.hpp>
#include <cmath>

using namespace dbuser::metrics;
namespace prom = dbuser::test::prom;

TEST_CASE("a histogram counts each value into the first bucket that holds it, cumulatively") {
  histogram h({0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 5.0, 50.0})
    h.observe(v);
  REQUIRE(h.cumulative() == std::vector<std::uint64_t>{2, 3, 4});
  REQUIRE(h.count() == 5);
  REQUIRE(h.sum() == Approx(55.65));
}

TEST_CASE("histogram bounds are sorted and deduplicated and NaN is not observed") {
  histogram h({1, 0.5, 1});
  REQUIRE(h.bounds() == std::vector<double>{0.5, 1});
  h.observe(NAN);
  REQUIRE(h.count() == 0);
}

TEST_CASE("values are written as Prometheus writes them") {
  REQUIRE(format_value(3) == "3");
  REQUIRE(format_value(0.005) == "0.005");
  REQUIRE(format_value(2.5) == "2.5");
  REQUIRE(format_value(HUGE_VAL) == "+Inf");
  REQUIRE(format_value(-HUGE_VAL) == "-Inf");
  REQUIRE(format_value(NAN) == "NaN");
}

TEST_CASE("label values escape backslashes, quotes and newlines") {
  REQUIRE(escape_label_value("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
  REQUIRE(escape_help("x\\y\nz") == "x\\\\y\\nz");
}

TEST_CASE("rendered families parse as Prometheus text with valid histograms") {
  metric_family counter{"x_total", "Things.", metric_type::counter, {}, {}};
  counter.add({{"result", "ok"}, {"target", "h:5432/\"admin\"\n"}}, 3);
  counter.add({{"result", "failed"}}, 0);
  metric_family gauge{"x_gauge", "A gauge.", metric_type::gauge, {}, {}};
  gauge.add({}, 1.5);
  metric_family hist{"x_seconds", "Durations.", metric_type::histogram, {}, {}};
  histogram h(reconcile_duration_buckets());
  for (double v : {0.001, 0.02, 0.3, 7.0, 100.0})
    h.observe(v);
  hist.histograms.emplace_back(labels{}, h);
  hist.histograms.emplace_back(labels{{"kind", "other"}}, histogram({1}));
  metric_family empty{"x_empty", "Declared, no samples.", metric_type::gauge, {}, {}};

  const auto text = render_prometheus({counter, gauge, hist, empty});
  const auto e = prom::parse(text);
  INFO(text);
  REQUIRE(e.errors.empty());
  REQUIRE(e.value("x_total", {{"result", "ok"}, {"target", "h:5432/\"admin\"\n"}}) == 3);
  REQUIRE(e.value("x_seconds_bucket", {{"le", "+Inf"}}) == 5);
  REQUIRE(e.value("x_seconds_bucket", {{"le", "0.025"}}) == 2);
  REQUIRE(e.value("x_seconds_count") == 5);
  REQUIRE(e.value("x_seconds_count", {{"kind", "other"}}) == 0);
  REQUIRE(e.types.at("x_empty") == "gauge");
}

TEST_CASE("the test parser rejects broken exposition text") {
  REQUIRE_FALSE(prom::parse("x{a=\"b} 1\n").errors.empty());
  REQUIRE_FALSE(prom::parse("9x 1\n").errors.empty());
  REQUIRE_FALSE(prom::parse("x one\n").errors.empty());
  REQUIRE_FALSE(prom::parse("x 1").errors.empty()); // no final newline
  REQUIRE_FALSE(prom::parse("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                            "h_sum 1\nh_count 1\n")
                  .errors.empty()); // not cumulative
  REQUIRE_FALSE(prom::parse("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
                            "h_sum 1\nh_count 3\n")
                  .errors.empty()); // +Inf != _count
  REQUIRE_FALSE(prom::parse("a 1\nb 1\na 2\n").errors.empty()); // not contiguous
  REQUIRE(prom::parse("# HELP a x\n# TYPE a counter\na{b=\"c\\\\\"} 1 1700000000000\n")
            .errors.empty());
}
