#pragma once
/// The configuration in force: settings, registry, the upstream TLS context built from them and
/// the local CA with its leaf cache.
/// Immutable; a reload publishes a new one and each request holds the one it started with.
#include <cstdint>
#include <memory>

#include "config/settings.hpp"
#include "proxy/net.hpp"
#include "registry/registry.hpp"
#include "tls/local_ca.hpp"

namespace courtroute::proxy {

/// One loaded configuration.
struct snapshot {
    settings cfg;                               ///< the main config
    std::shared_ptr<const registry> reg;        ///< the court registry
    std::shared_ptr<ssl::context> upstream_tls; ///< verification context for upstream connections
    std::shared_ptr<const tls::local_ca> ca;     ///< the local CA (a rotated one takes over on reload)
    std::shared_ptr<tls::leaf_cache> leaves;     ///< intercepted hosts' certificates from that CA
    std::uint64_t generation = 0;               ///< 1, 2, ... one per load
};

} // namespace courtroute::proxy
