#pragma once

// Cutting a blocked database call short from another thread.
//
// A connection actor blocks inside libpq or libmariadb while a job runs. When the server stops
// answering without closing the connection (a frozen host, a partition after connect, backends
// stopped with SIGSTOP), neither TCP keepalives nor tcp_user_timeout fire if the peer's kernel
// still acknowledges; the call would wait for ever. The pool that gave the job out keeps a
// socket_cutter per connection actor; the executor registers each socket it opens (a lease, held
// as long as the socket is open) and the pool calls cut() when the job has overrun or the target
// is found dead: shutdown(2) on every registered socket wakes the blocked call at once with an
// error ("server closed the connection unexpectedly"), which the executor reports as a broken
// connection, and the server rolls the open transaction back.
//
// Guarantees:
// - cut() only touches sockets whose lease is alive: a lease is given up before its socket is
//   closed (under the same mutex), so a descriptor number reused by anyone else is never hit.
// - After cut(), a socket registered later in the same job is cut as it is registered (the job
//   must not go on with a fresh connection); arm() clears that state when the next job starts.

#include <memory>
#include <mutex>
#include <vector>

namespace dbuser {

class socket_cutter : public std::enable_shared_from_this<socket_cutter> {
public:
  // Registration of one open socket; unregisters when destroyed or released.
  class lease {
  public:
    lease() = default;
    lease(lease&& other) noexcept;
    lease& operator=(lease&& other) noexcept;
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    ~lease();
    void release();

  private:
    friend class socket_cutter;
    lease(std::shared_ptr<socket_cutter> owner, int fd) : owner_(std::move(owner)), fd_(fd) {}
    std::shared_ptr<socket_cutter> owner_;
    int fd_ = -1;
  };

  // Registers `fd` (ignored when negative). Call right after the socket is connected.
  [[nodiscard]] lease watch(int fd);
  // A new job starts: sockets registered from now on are left alone until the next cut().
  void arm();
  // Shuts down every registered socket (both directions); sockets registered before arm() is
  // called again are cut as they come. Thread-safe.
  void cut();
  [[nodiscard]] bool was_cut() const;

private:
  void unwatch(int fd);
  mutable std::mutex mutex_;
  std::vector<int> fds_;
  bool cut_ = false;
};

// Sets SO_KEEPALIVE with short probes and TCP_USER_TIMEOUT on a connected TCP socket (for clients
// without connection options of their own, such as libmariadb): a peer that vanishes is noticed
// in about `user_timeout_ms`, not the kernel's ~15 minutes. Best effort: errors are ignored.
void set_tcp_liveness(int fd, int user_timeout_ms);

} // namespace dbuser
