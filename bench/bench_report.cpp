// dbuser-bench: the report: the table on stdout, the time stamp of the output files, MB (see
// bench_driver.hpp).

#include "bench/bench_driver.hpp"

#include <ctime>
#include <iomanip>

namespace dbuser::bench {

std::string stamp() {
  char buf[32];
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

double mb(long kb) { return static_cast<double>(kb) / 1024.0; }

void print_table(const json& r) {
  auto row = [](const std::string& k, const std::string& v) {
    std::cout << "  " << std::left << std::setw(44) << k << v << "\n";
  };
  auto num = [](double v, int prec = 1) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(prec) << v;
    return s.str();
  };
  const auto& lat = r["latency_ms"];
  std::cout << "\ndbuser-operator benchmark: N=" << r["n"].get<int>() << " (namespace "
            << r["namespace"].get<std::string>() << ")\n";
  row("creates accepted by the API server", num(r["create_rate"].get<double>()) + " /s");
  row("first create → all Ready + Secrets", num(r["seconds_to_all_ready"].get<double>(), 2) + " s");
  row("throughput (operator)", num(r["users_per_s"].get<double>()) + " users/s");
  row("50 / 95 / 99 % of users Ready after",
      num(r["seconds_to_ready_fraction"]["p50"].get<double>(), 1) + " / "
        + num(r["seconds_to_ready_fraction"]["p95"].get<double>(), 1) + " / "
        + num(r["seconds_to_ready_fraction"]["p99"].get<double>(), 1) + " s");
  row("throughput of the first 95 %", num(r["users_per_s_first_95pct"].get<double>()) + " users/s");
  row("apply→Ready p50 / p95 / p99 / max",
      num(lat["p50"].get<double>(), 0) + " / " + num(lat["p95"].get<double>(), 0) + " / "
        + num(lat["p99"].get<double>(), 0) + " / " + num(lat["max"].get<double>(), 0) + " ms");
  row("RSS idle / peak / all Ready / +" + std::to_string(r["idle_seconds"].get<int>()) + " s",
      num(r["rss_idle_mb"].get<double>()) + " / " + num(r["rss_peak_mb"].get<double>()) + " / "
        + num(r["rss_at_all_ready_mb"].get<double>()) + " / "
        + num(r["rss_after_idle_mb"].get<double>()) + " MB");
  row("memory per managed user", num(r["memory_per_user_kb"].get<double>(), 2) + " KB");
  row("CPU during the run / whole process", num(r["cpu_seconds_run"].get<double>(), 2) + " / "
                                              + num(r["cpu_seconds_total"].get<double>(), 2) + " s");
  row("CPU per user", num(r["cpu_ms_per_user"].get<double>(), 2) + " ms");
  row("CPU s during the run, by process", r["machine_cpu_seconds_run"].dump());
  row("peak PostgreSQL connections (pool " + std::to_string(r["db_pool_size"].get<int>()) + ")",
      std::to_string(r["pg_connections_peak"].get<long>()) + " admin + "
        + std::to_string(r.value("pg_login_check_connections_peak", 0L)) + " login checks");
  row("Kubernetes requests per user", r["metrics_available"].get<bool>()
                                        ? num(r["kube_requests_per_user"].get<double>(), 2) + " "
                                            + r["kube_requests_per_user_by_verb"].dump()
                                        : std::string("n/a (no /metrics)"));
  if (r["metrics_available"].get<bool>()) {
    row("db pool jobs per user", num(r["db_jobs_per_user"].get<double>(), 2));
    row("Kubernetes requests while idle", num(r["kube_requests_idle"].get<double>(), 0));
  }
  if (r.contains("restart") && !r["restart"].contains("skipped")) {
    const auto& s = r["restart"];
    row("restart: exit / readyz / all verified again",
        num(s["seconds_to_exit"].get<double>(), 2) + " / "
          + num(s["seconds_to_readyz"].get<double>(), 2) + " / "
          + num(s["seconds_to_all_verified"].get<double>(), 2) + " s ("
          + num(s["users_per_s"].get<double>(), 0) + " users/s)");
    row("restart: Kubernetes requests (writes)", num(s["kube_requests"].get<double>(), 0) + " ("
                                                   + num(s["kube_writes"].get<double>(), 0) + ") "
                                                   + s["kube_requests_by_verb"].dump());
    row("restart: peak PostgreSQL connections",
        std::to_string(s["pg_connections_peak"].get<long>()) + " admin + "
          + std::to_string(s["pg_login_check_connections_peak"].get<long>()) + " login checks");
    row("restart: CPU s by process", s["cpu_seconds"].dump());
    row("restart: reconciles / pool jobs", num(s["reconciles"].get<double>(), 0) + " / "
                                            + num(s["db_jobs"].get<double>(), 0));
    row("restart: RSS of the new operator after", num(s["rss_after_mb"].get<double>()) + " MB");
  }
  row("delete all: time / rate", num(r["delete_seconds"].get<double>(), 2) + " s / "
                                   + num(r["delete_users_per_s"].get<double>()) + " users/s");
  if (r.value("/fairness_probe/run"_json_pointer, false)) {
    const auto& f = r["fairness_probe"];
    for (const bool creation : {true, false}) {
      const auto& p = f[creation ? "create" : "delete"];
      const double s = p.value("seconds", -1.0);
      const std::string done = creation ? " Ready" : " gone";
      row(std::string("fairness probe (other namespace), ") + (creation ? "creation" : "deletion"),
          s < 0 ? "not Ready: " + p.value("error", std::string("?"))
                : num(s, 2) + " s apply→Ready (bulk: "
                    + std::to_string(p.value("bulk_done_at_send", -1)) + done + " at apply, "
                    + std::to_string(p.value("bulk_done_at_ready", -1)) + done + " at Ready)");
    }
    if (r.value("other_postgresusers_at_start", 0) > 0)
      row("PostgresUsers of other namespaces (also reconciled)",
          std::to_string(r["other_postgresusers_at_start"].get<int>()));
  }
  if (r.contains("raw") && r["raw"].contains("users_per_s")) {
    row("raw baseline throughput", num(r["raw_users_per_s"].get<double>()) + " users/s ("
                                     + num(r["raw"]["seconds"].get<double>(), 2) + " s)");
    row("operator / raw (time ratio; 1.0 = raw speed)",
        num(r["ratio_operator_over_raw"].get<double>(), 2));
  } else {
    row("raw baseline", r.value("/raw/error"_json_pointer, std::string("not run")));
  }
  std::cout << std::endl;
}

} // namespace dbuser::bench
