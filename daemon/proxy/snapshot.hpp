#pragma once
/// The configuration in force: settings, registry and the upstream TLS context built from them.
/// Immutable; a reload publishes a new one and each request holds the one it started with.
#include <cstdint>
#include <memory>

#include "config/settings.hpp"
#include "proxy/net.hpp"
#include "registry/registry.hpp"

namespace courtroute::proxy {

/// One loaded configuration.
struct snapshot {
    settings cfg;                               ///< the main config
    std::shared_ptr<const registry> reg;        ///< the court registry
    std::shared_ptr<ssl::context> upstream_tls; ///< verification context for upstream connections
    std::uint64_t generation = 0;               ///< 1, 2, ... one per load
};

} // namespace courtroute::proxy
