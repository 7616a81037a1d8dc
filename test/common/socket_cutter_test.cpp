#include "common/socket_cutter.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <sys/socket.h>
#include <unistd.h>

using namespace std::chrono;
using dbuser::socket_cutter;

namespace {

// A connected pair of stream sockets, closed at the end.
struct socket_pair {
  int fd[2] = {-1, -1};
  socket_pair() { REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fd) == 0); }
  ~socket_pair() {
    for (int f : fd)
      if (f >= 0)
        ::close(f);
  }
};

// recv() of one byte on `fd`, in another thread.
std::future<ssize_t> blocked_recv(int fd) {
  return std::async(std::launch::async, [fd] {
    char c = 0;
    return ::recv(fd, &c, 1, 0);
  });
}

} // namespace

TEST_CASE("cutting wakes a call blocked on a watched socket whose peer never answers") {
  socket_pair p;
  auto cutter = std::make_shared<socket_cutter>();
  auto lease = cutter->watch(p.fd[0]);
  auto r = blocked_recv(p.fd[0]);
  CHECK(r.wait_for(milliseconds(200)) == std::future_status::timeout); // really blocked
  cutter->cut();
  REQUIRE(r.wait_for(seconds(5)) == std::future_status::ready);
  CHECK(r.get() == 0); // end of stream: the caller sees a closed connection
  CHECK(cutter->was_cut());
}

TEST_CASE("a socket whose lease was given up is never cut") {
  socket_pair p;
  auto cutter = std::make_shared<socket_cutter>();
  {
    auto lease = cutter->watch(p.fd[0]);
  } // released, as an executor does before closing its socket
  cutter->cut();
  auto r = blocked_recv(p.fd[0]);
  CHECK(r.wait_for(milliseconds(300)) == std::future_status::timeout);
  char c = 'x';
  REQUIRE(::send(p.fd[1], &c, 1, 0) == 1); // unblock the reader
  CHECK(r.get() == 1);
}

TEST_CASE("after a cut, a socket registered in the same job is cut at once, arm() ends that") {
  socket_pair first, second;
  auto cutter = std::make_shared<socket_cutter>();
  cutter->cut();
  auto lease = cutter->watch(first.fd[0]); // the job tried a fresh connection: cut as it comes
  char c = 0;
  CHECK(::recv(first.fd[0], &c, 1, MSG_DONTWAIT) == 0);
  cutter->arm(); // the next job
  CHECK_FALSE(cutter->was_cut());
  auto lease2 = cutter->watch(second.fd[0]);
  CHECK(::recv(second.fd[0], &c, 1, MSG_DONTWAIT) == -1); // still open: would block
}
