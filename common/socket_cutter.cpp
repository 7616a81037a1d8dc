#include "common/socket_cutter.hpp"

#include <algorithm>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace dbuser {

socket_cutter::lease::lease(lease&& other) noexcept
    : owner_(std::move(other.owner_)), fd_(other.fd_) {
  other.fd_ = -1;
}

socket_cutter::lease& socket_cutter::lease::operator=(lease&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::move(other.owner_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

socket_cutter::lease::~lease() { release(); }

void socket_cutter::lease::release() {
  if (owner_ && fd_ >= 0)
    owner_->unwatch(fd_);
  owner_.reset();
  fd_ = -1;
}

socket_cutter::lease socket_cutter::watch(int fd) {
  if (fd < 0)
    return lease();
  std::lock_guard<std::mutex> guard(mutex_);
  fds_.push_back(fd);
  if (cut_)
    ::shutdown(fd, SHUT_RDWR);
  return lease(shared_from_this(), fd);
}

void socket_cutter::unwatch(int fd) {
  std::lock_guard<std::mutex> guard(mutex_);
  auto i = std::find(fds_.begin(), fds_.end(), fd);
  if (i != fds_.end())
    fds_.erase(i);
}

void socket_cutter::arm() {
  std::lock_guard<std::mutex> guard(mutex_);
  cut_ = false;
}

void socket_cutter::cut() {
  std::lock_guard<std::mutex> guard(mutex_);
  cut_ = true;
  for (int fd : fds_)
    ::shutdown(fd, SHUT_RDWR);
}

bool socket_cutter::was_cut() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return cut_;
}

void set_tcp_liveness(int fd, int user_timeout_ms) {
  if (fd < 0)
    return;
  int on = 1;
  int idle = 5, interval = 2, count = 3;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
}

} // namespace dbuser
