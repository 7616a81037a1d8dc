#pragma once

// A waiting line fair across namespaces, with new or changed work before periodic work: the line
// for one database target's reconcile slots (actors/user_manager), and the requests waiting for
// one of the Kubernetes client's connections (k8s/client.cpp).
//
// Two lanes: `urgent` (a resource that is new, or changed since its last reconcile: what a person
// is waiting for) and `background` (periodic resyncs, retries of settled resources, deletions).
// A free slot goes to the urgent lane while it has anyone waiting, else to the background lane
// (controller-runtime's priority queue does the same with watch events over the initial list and
// resyncs). Within a lane, namespaces take turns (round-robin, in the spirit of the API server's
// priority and fairness): a namespace that queued 10,000 users waits its turn like one that queued
// one, so another namespace's new user waits for at most one grant per busy namespace.
//
// Guarantees: each entry is handed out once, in its namespace's order; pop() on an empty queue is
// never called (callers check empty()). Assumption: background work may wait while urgent work
// keeps coming (it is periodic: the next period finds it again).

#include <cstddef>
#include <deque>
#include <map>
#include <string>
#include <utility>

namespace dbuser {

enum class lane { urgent, background };

inline const char* lane_name(lane l) { return l == lane::urgent ? "urgent" : "background"; }

template <class T>
class fair_queue {
public:
  void push(lane l, const std::string& ns, T item) { at(l).push(ns, std::move(item)); }
  [[nodiscard]] bool empty() const { return urgent_.size == 0 && background_.size == 0; }
  [[nodiscard]] std::size_t size(lane l) const { return at(l).size; }
  // Namespaces waiting in a lane.
  [[nodiscard]] std::size_t namespaces(lane l) const { return at(l).by_ns.size(); }
  // The next item: the urgent lane first, namespaces in turn. Also says which lane it came from.
  std::pair<T, lane> pop() {
    if (urgent_.size != 0)
      return {urgent_.pop(), lane::urgent};
    return {background_.pop(), lane::background};
  }

private:
  struct ring {
    std::map<std::string, std::deque<T>> by_ns;
    std::deque<std::string> turn; // namespaces with items, the next one first
    std::size_t size = 0;

    void push(const std::string& ns, T item) {
      auto& q = by_ns[ns];
      if (q.empty())
        turn.push_back(ns);
      q.push_back(std::move(item));
      ++size;
    }
    T pop() {
      std::string ns = std::move(turn.front());
      turn.pop_front();
      auto it = by_ns.find(ns);
      T item = std::move(it->second.front());
      it->second.pop_front();
      --size;
      if (it->second.empty())
        by_ns.erase(it);
      else
        turn.push_back(std::move(ns)); // back of the line: the others go first
      return item;
    }
  };
  ring& at(lane l) { return l == lane::urgent ? urgent_ : background_; }
  const ring& at(lane l) const { return l == lane::urgent ? urgent_ : background_; }

  ring urgent_;
  ring background_;
};

} // namespace dbuser
