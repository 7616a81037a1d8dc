#include "pg/password.hpp"
#include "pg/scram.hpp"

#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>

#include <openssl/rand.h>

namespace dbuser::pg {

namespace {

// Uniform integers from OpenSSL's CSPRNG, 32 bits at a time from a buffer; rejection sampling
// keeps every value below n equally likely.
class csprng {
public:
  csprng() = default;
  csprng(const csprng&) = delete;
  csprng& operator=(const csprng&) = delete;
  ~csprng() { OPENSSL_cleanse(buf_.data(), buf_.size()); }

  // A value uniform in [0, n), n >= 1; false when RAND_bytes fails.
  [[nodiscard]] bool below(std::uint32_t n, std::uint32_t& out) {
    const std::uint64_t range = std::uint64_t{1} << 32U;
    const std::uint64_t limit = range - (range % n); // values at or above it are rejected
    for (;;) {
      std::uint32_t v = 0;
      if (!next(v))
        return false;
      if (v < limit) {
        out = static_cast<std::uint32_t>(v % n);
        return true;
      }
    }
  }

private:
  bool next(std::uint32_t& v) {
    if (used_ + 4 > buf_.size()) {
      if (RAND_bytes(buf_.data(), static_cast<int>(buf_.size())) != 1)
        return false;
      used_ = 0;
    }
    std::memcpy(&v, buf_.data() + used_, 4);
    used_ += 4;
    return true;
  }

  std::array<unsigned char, 256> buf_{};
  std::size_t used_ = 256;
};

struct drawn_class {
  const char_class* c;
  std::string_view chars;
};

std::array<drawn_class, 4> classes_of(const password_policy& p) {
  return {{{&p.lowercase, lowercase_letters},
           {&p.uppercase, uppercase_letters},
           {&p.digits, decimal_digits},
           {&p.symbols, p.symbol_set}}};
}

bool is_symbol(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f && std::isalnum(u) == 0;
}

} // namespace

std::optional<std::string> policy_problem(const password_policy& p) {
  if (p.length < min_password_length || p.length > max_password_length)
    return "length " + std::to_string(p.length) + " is not between "
           + std::to_string(min_password_length) + " and " + std::to_string(max_password_length);
  std::array<bool, 256> seen{};
  for (char c : p.symbol_set) {
    if (!is_symbol(c))
      return "symbolSet may hold only printable ASCII punctuation (no letters, digits or spaces)";
    if (std::exchange(seen[static_cast<unsigned char>(c)], true))
      return std::string("symbolSet holds '") + c + "' twice";
  }
  static constexpr const char* names[] = {"lowercase", "uppercase", "digits", "symbols"};
  std::size_t required = 0;
  std::size_t alphabet = 0;
  const auto classes = classes_of(p);
  for (std::size_t i = 0; i < classes.size(); ++i) {
    const auto& [c, chars] = classes[i];
    if (c->min > 0 && !c->used)
      return "a minimum of " + std::to_string(c->min) + " " + names[i] + " is asked for but "
             + names[i] + " are not used";
    if (c->used && c->min > 0 && chars.empty())
      return std::string("symbols are required but symbolSet is empty");
    required += c->min;
    if (c->used)
      alphabet += chars.size();
  }
  if (required > p.length)
    return "the minimums add up to " + std::to_string(required) + ", more than the length "
           + std::to_string(p.length);
  if (alphabet < 2)
    return "the used classes offer fewer than two characters";
  return std::nullopt;
}

result<std::string> generate_password(const password_policy& policy) {
  if (auto why = policy_problem(policy))
    return make_unexpected(make_error(error_kind::invalid, "password policy: " + *why));
  std::string alphabet;
  for (const auto& [c, chars] : classes_of(policy))
    if (c->used)
      alphabet += chars;
  csprng rng;
  auto fail = [] {
    return make_unexpected(make_error(error_kind::internal, "OpenSSL RAND_bytes failed"));
  };
  auto draw = [&rng](std::string_view from, std::string& out) {
    std::uint32_t i = 0;
    if (!rng.below(static_cast<std::uint32_t>(from.size()), i))
      return false;
    out += from[i];
    return true;
  };
  std::string out;
  out.reserve(policy.length);
  // The required characters first, then the rest from everything, then a Fisher-Yates shuffle
  // so that the required ones sit anywhere.
  for (const auto& [c, chars] : classes_of(policy))
    for (std::size_t k = 0; k < c->min; ++k)
      if (!draw(chars, out))
        return fail();
  while (out.size() < policy.length)
    if (!draw(alphabet, out))
      return fail();
  for (std::size_t i = out.size() - 1; i > 0; --i) {
    std::uint32_t j = 0;
    if (!rng.below(static_cast<std::uint32_t>(i + 1), j))
      return fail();
    std::swap(out[i], out[j]);
  }
  return out;
}

result<std::string> scram_verifier(std::string_view password, std::string_view role) {
  auto s = make_scram_secret(password, role);
  if (!s)
    return make_unexpected(s.error());
  return std::move(s->verifier);
}

} // namespace dbuser::pg
