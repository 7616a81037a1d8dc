#pragma once

// A small C++17 stand-in for std::expected: the value of an operation or the error that stopped
// it. Errors are values: the pg/ and k8s/ layers catch library exceptions at their edge and
// return these instead.

#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>

namespace dbuser {

template <class E>
struct unexpected {
  E error;
};

template <class E>
unexpected<std::decay_t<E>> make_unexpected(E&& e) {
  return {std::forward<E>(e)};
}

template <class T, class E>
class [[nodiscard]] expected {
public:
  using value_type = T;
  using error_type = E;

  expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  template <class G>
  expected(unexpected<G> u) : v_(std::in_place_index<1>, std::move(u.error)) {}

  [[nodiscard]] bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return check(), std::get<0>(v_); }
  const T& value() const& { return check(), std::get<0>(v_); }
  T&& value() && { return check(), std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  E& error() & { return std::get<1>(v_); }
  const E& error() const& { return std::get<1>(v_); }

private:
  void check() const {
    if (!has_value())
      throw std::logic_error("expected: value() called on an error");
  }
  std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] expected<void, E> {
public:
  using value_type = void;
  using error_type = E;

  expected() = default;
  template <class G>
  expected(unexpected<G> u) : e_(std::move(u.error)) {}

  [[nodiscard]] bool has_value() const noexcept { return !e_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const {
    if (e_)
      throw std::logic_error("expected: value() called on an error");
  }

  E& error() & { return *e_; }
  const E& error() const& { return *e_; }

private:
  std::optional<E> e_;
};

} // namespace dbuser
