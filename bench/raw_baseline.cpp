// raw_baseline: the physical limit the operator is compared with. The same per-user work as one
// successful first reconcile of a new PostgresUser, issued directly with the project's k8s/ and
// pg/ layers: no actors, no informer, no reconcile, no re-reads.
//
// Per user, pipelined:
//   1. API: create the PostgresUser (the bench's create, also inside the operator's window),
//      add the finalizer (JSON patch, as the operator does).
//   2. PostgreSQL, on one of `--pool` connections (4, the operator's default pool): generate the
//      password, compute the SCRAM verifier, observe the role, pg::plan for a new role, apply,
//      login check with the new credentials (a fresh connection, as the operator's).
//   3. API: create the credentials Secret (api::credentials_secret), patch the status
//      (api::next_status, merge patch of the status subresource).
// At most `--concurrency` users are in an API step at once (each step's requests are sequential,
// so that bounds the requests in flight).
//
// Prints one line `RAW_JSON {...}` and cleans up its namespace and roles unless --keep.

#include "api/credentials.hpp"
#include "api/postgres_user.hpp"
#include "api/status.hpp"
#include "bench/bench_common.hpp"
#include "bench/bench_pg.hpp"
#include "pg/executor.hpp"
#include "pg/password.hpp"
#include "pg/scram.hpp"
#include "pg/plan.hpp"

#include <atomic>
#include <deque>
#include <iostream>

using namespace dbuser;
using namespace dbuser::bench;

namespace {

struct options {
  int n = 1000;
  std::string ns;
  int concurrency = 64;
  int pool = 4;
  bool keep = false;
};

struct user_state {
  json object;  // after the finalizer patch
  clock_type::time_point sent{}, done{};
  bool ok = false;
  std::string error;
};

class run {
public:
  run(options o, std::shared_ptr<k8s::client> kube)
      : o_(std::move(o)), kube_(std::move(kube)), lim_(o_.concurrency), users_(o_.n) {}

  json go() {
    const int port = std::stoi(must_env("PGPORT"));
    std::vector<std::thread> workers;
    std::atomic<int> exec_failures{0};
    for (int w = 0; w < o_.pool; ++w)
      workers.emplace_back([this, &exec_failures] {
        pg::target t;
        t.host = env_or("PGHOST", "127.0.0.1");
        t.port = std::stoi(must_env("PGPORT"));
        t.admin_user = must_env("PGUSER");
        t.admin_password = must_env("PGPASSWORD");
        t.ssl_mode = "prefer";
        auto ex = pg::executor::create(t);
        if (!ex) {
          ++exec_failures;
          return;
        }
        for (;;) {
          int i = pop();
          if (i < 0)
            return;
          database_step(*ex, i);
        }
      });
    const auto t0 = clock_type::now();
    for (int i = 0; i < o_.n; ++i) {
      lim_.acquire();
      users_[i].sent = clock_type::now();
      const auto name = user_name("bench-raw", i);
      auto manifest = user_manifest(o_.ns, name, role_name("bench_raw", i), name, port);
      with_retry(
        kube_,
        [this, manifest](k8s::callback<json> cb) {
          kube_->create(k8s::resource::postgres_users(), o_.ns, manifest, cb);
        },
        [this, i](expected<json, k8s::error> r) {
          if (!r)
            return fail(i, "create: " + r.error().to_string(), true);
          add_finalizer(i, *r);
        });
    }
    {
      std::unique_lock<std::mutex> l(m_);
      cv_.wait(l, [&] { return finished_ == o_.n; });
      closed_ = true;
    }
    cv_.notify_all();
    const auto t_end = clock_type::now();
    for (auto& w : workers)
      w.join();

    std::vector<double> lat;
    int failed = 0;
    std::string first_error;
    for (auto& u : users_) {
      if (u.ok)
        lat.push_back(seconds_since(u.sent, u.done));
      else if (++failed == 1)
        first_error = u.error;
    }
    const double secs = seconds_since(t0, t_end);
    json requests = json::object();
    std::uint64_t total = 0;
    for (const auto& c : kube_->metrics()) {
      requests[c.verb] = requests.value(c.verb, 0.0) + static_cast<double>(c.count);
      total += c.count;
    }
    json out{{"n", o_.n},
             {"ok", o_.n - failed},
             {"failed", failed},
             {"seconds", secs},
             {"users_per_s", secs > 0 ? (o_.n - failed) / secs : 0},
             {"latency_ms", latency_summary_ms(lat)},
             {"pool", o_.pool},
             {"concurrency", o_.concurrency},
             {"api_requests", requests},
             {"pg_retries", pg_retries_.load()},
             {"api_requests_per_user", static_cast<double>(total) / o_.n}};
    if (!first_error.empty())
      out["first_error"] = first_error;
    if (exec_failures > 0)
      out["executor_failures"] = exec_failures.load();
    return out;
  }

private:
  void fail(int i, std::string why, bool release) {
    users_[i].error = std::move(why);
    if (release)
      lim_.release();
    finish(i);
  }

  void finish(int i) {
    users_[i].done = clock_type::now();
    {
      std::lock_guard<std::mutex> l(m_);
      ++finished_;
    }
    cv_.notify_all();
  }

  // Step 1b: the finalizer, then hand the user to the PostgreSQL workers.
  void add_finalizer(int i, const json& created) {
    const auto meta = api::parse_meta(created);
    json patch = json::array({{{"op", "test"}, {"path", "/metadata/resourceVersion"},
                               {"value", meta.resource_version}},
                              {{"op", "add"}, {"path", "/metadata/finalizers"},
                               {"value", json::array({api::finalizer})}}});
    with_retry(
      kube_,
      [this, meta, patch](k8s::callback<json> cb) {
        kube_->patch(k8s::object_ref{k8s::resource::postgres_users(), meta.ns, meta.name, ""},
                     k8s::patch_type::json, patch, cb);
      },
      [this, i](expected<json, k8s::error> r) {
        if (!r)
          return fail(i, "finalizer: " + r.error().to_string(), true);
        users_[i].object = std::move(*r);
        lim_.release();
        push(i);
      });
  }

  // Step 2 (a PostgreSQL worker thread).
  void database_step(pg::executor& ex, int i) {
    auto& u = users_[i];
    auto spec = api::parse_spec(u.object);
    if (!spec)
      return fail(i, "spec: " + spec.error().message, false);
    const auto meta = api::parse_meta(u.object);
    auto desired = api::desired_role(*spec, meta.key());
    auto password = pg::generate_password();
    if (!password)
      return fail(i, password.error().to_string(), false);
    auto scram = pg::make_scram_secret(*password, desired.name); // as the operator: keys kept
    if (!scram)
      return fail(i, scram.error().to_string(), false);
    desired.verifier = scram->verifier;
    // Concurrent GRANTs on one schema or database can fail with "tuple concurrently updated"
    // (XX000): observe, plan and apply again, as the operator's next reconcile would.
    std::string why;
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto observed = ex.observe(desired);
      if (!observed) {
        why = observed.error().to_string();
        continue;
      }
      auto done = ex.converge_observed(desired, std::move(*observed)); // with privilege groups
      if (done) {
        why.clear();
        break;
      }
      why = done.error().to_string();
      ++pg_retries_;
    }
    if (!why.empty())
      return fail(i, why, false);
    auto login = ex.login_check(desired.name, *password, spec->database,
                                scram->keys ? &*scram->keys : nullptr);
    if (!login.ok)
      return fail(i, "login: " + login.message, false);

    api::credentials creds;
    creds.password = *password;
    creds.updated_at = api::rfc3339(std::chrono::system_clock::now());
    api::status_report report;
    report.ready = true;
    report.reason = api::reason::reconciled;
    report.message = "role " + spec->username + " is ready; Secret " + spec->secret_name
                     + " holds working credentials";
    report.observed_generation = meta.generation;
    api::connection_check c;
    c.verified = true;
    c.last_check_time = creds.updated_at;
    c.latency_ms = static_cast<std::int64_t>(login.latency_ms);
    c.server_version = login.server_version;
    c.message = "logged in as " + spec->username;
    report.connection = c;
    report.password_updated_at = creds.updated_at;
    json status = api::next_status(u.object.value("status", json::object()), report,
                                   creds.updated_at);
    json secret = api::credentials_secret(*spec, meta, creds);

    // Step 3: Secret, then status.
    lim_.acquire();
    with_retry(
      kube_,
      [this, meta, secret](k8s::callback<json> cb) {
        kube_->create(k8s::resource::secrets(), meta.ns, secret, cb);
      },
      [this, i, meta, status](expected<json, k8s::error> r) {
        if (!r)
          return fail(i, "secret: " + r.error().to_string(), true);
        with_retry(
          kube_,
          [this, meta, status](k8s::callback<json> cb) {
            kube_->patch(
              k8s::object_ref{k8s::resource::postgres_users(), meta.ns, meta.name, "status"},
              k8s::patch_type::merge, json{{"status", status}}, cb);
          },
          [this, i](expected<json, k8s::error> r2) {
            if (!r2)
              return fail(i, "status: " + r2.error().to_string(), true);
            users_[i].ok = true;
            lim_.release();
            finish(i);
          });
      });
  }

  void push(int i) {
    {
      std::lock_guard<std::mutex> l(m_);
      queue_.push_back(i);
    }
    cv_.notify_all();
  }

  int pop() {
    std::unique_lock<std::mutex> l(m_);
    cv_.wait(l, [&] { return !queue_.empty() || closed_; });
    if (queue_.empty())
      return -1;
    int i = queue_.front();
    queue_.pop_front();
    return i;
  }

  options o_;
  std::shared_ptr<k8s::client> kube_;
  limiter lim_;
  std::vector<user_state> users_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<int> queue_;
  int finished_ = 0;
  bool closed_ = false;
  std::atomic<int> pg_retries_{0};
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc)
        throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--n")
      o.n = std::stoi(next());
    else if (a == "--namespace")
      o.ns = next();
    else if (a == "--concurrency")
      o.concurrency = std::stoi(next());
    else if (a == "--pool")
      o.pool = std::stoi(next());
    else if (a == "--keep")
      o.keep = true;
    else
      throw std::runtime_error("unknown flag " + a
                               + " (flags: --n N --namespace NS --concurrency C --pool P --keep)");
  }
  if (o.ns.empty())
    o.ns = "bench-raw-" + std::to_string(std::time(nullptr));
  if (o.n <= 0 || o.concurrency <= 0 || o.pool <= 0)
    throw std::runtime_error("--n, --concurrency and --pool must be positive");
  return o;
}

} // namespace

int main(int argc, char** argv) {
  try {
    const auto o = parse(argc, argv);
    auto kube = make_client();
    (void)drop_roles("bench_raw_", {"bench_db", "postgres"});
    make_namespace(kube, o.ns, false);
    json result;
    {
      run r(o, kube);
      result = r.go();
    }
    result["namespace"] = o.ns;
    std::cout << "RAW_JSON " << result.dump() << std::endl;
    if (!o.keep) {
      delete_namespace(kube, o.ns);
      (void)drop_roles("bench_raw_", {"bench_db", "postgres"});
      (void)drop_roles(bench_groups, {"bench_db", "postgres"}); // unused once its users are gone
    }
    return result.value("failed", 0) == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "raw_baseline: " << e.what() << "\n";
    return 2;
  }
}
