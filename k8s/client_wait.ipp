#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>

namespace dbuser::k8s {

template <class T>
expected<T, error> wait_for(const std::function<void(callback<T>)>& start) {
  struct state {
    std::mutex m;
    std::condition_variable cv;
    std::optional<expected<T, error>> result;
  };
  auto s = std::make_shared<state>();
  start([s](expected<T, error> r) {
    std::lock_guard<std::mutex> lock(s->m);
    s->result.emplace(std::move(r));
    s->cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(s->m);
  s->cv.wait(lock, [&] { return s->result.has_value(); });
  return std::move(*s->result);
}

} // namespace dbuser::k8s
