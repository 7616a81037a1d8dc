#pragma once

// The pointer to a class's private implementation, deleted through a function fixed where that
// implementation is complete (make_pimpl): the owning class's implicit move and destructor are
// then right without being declared where the implementation is unknown, and copying it is
// refused because the pointer cannot be copied. Both engines' executors hold one.

#include <memory>

namespace dbuser {

template <class T>
using pimpl = std::unique_ptr<T, void (*)(T*)>;

// Call where T is complete.
template <class T>
[[nodiscard]] pimpl<T> make_pimpl(std::unique_ptr<T> p) {
  return pimpl<T>(p.release(), [](T* x) { delete x; });
}

} // namespace dbuser
