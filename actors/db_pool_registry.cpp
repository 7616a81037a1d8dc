// The pool registry: one pool per database target, keyed by db_target::key().

#include "actors/db_pool.hpp"

#include "actors/db_pool_state.hpp"

#include <caf/all.hpp>
#include <map>
#include <openssl/evp.h>

namespace dbuser::msg {

namespace {

std::string digest(const std::string& material) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(material.data(), material.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < 8 && i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

} // namespace

std::string db_target::key() const {
  // A digest, not the password: pools are keyed by it, and keys may be shown.
  if (engine == db_engine::mysql)
    return label() + "#" + digest(my.admin_password + '\n' + my.tls_mode + '\n' + my.ca_pem + '\n'
                                  + my.ca_file);
  return label() + "#" + digest(pg.admin_password + '\n' + pg.ssl_mode + '\n' + pg.ca_pem + '\n'
                                + pg.ca_file);
}

std::string db_target::label() const {
  if (engine == db_engine::mysql)
    return "mysql://" + my.host + ":" + std::to_string(my.port) + "/" + my.admin_user;
  return "postgresql://" + pg.host + ":" + std::to_string(pg.port) + "/" + pg.admin_user;
}

} // namespace dbuser::msg

namespace dbuser::actors {

namespace {

// --- registry -----------------------------------------------------------------------------------

struct registry_state {
  std::map<std::string, caf::actor> pools;
  static inline const char* name = "db_pools";
};

caf::behavior pool_registry(caf::stateful_actor<registry_state>* self, pool_options opts,
                            pool_stats_sink sink) {
  self->set_exit_handler([=](caf::exit_msg& em) {
    for (auto& [key, pool] : self->state.pools)
      self->send_exit(pool, em.reason);
    self->quit(em.reason);
  });
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& pools = self->state.pools;
    for (auto i = pools.begin(); i != pools.end(); ++i)
      if (i->second.address() == dm.source) {
        pools.erase(i);
        break;
      }
  });
  return {
    [=](msg::pool_atom, const msg::db_target& t) -> caf::actor {
      auto key = t.key();
      auto& pools = self->state.pools;
      auto i = pools.find(key);
      if (i != pools.end())
        return i->second;
      auto pool = self->spawn<caf::monitored>(pooling::db_pool, t, opts, sink);
      pools.emplace(key, pool);
      return pool;
    },
  };
}

} // namespace

caf::actor spawn_pool_registry(caf::actor_system& sys, pool_options opts, pool_stats_sink sink) {
  return sys.spawn(pool_registry, opts, std::move(sink));
}

} // namespace dbuser::actors
