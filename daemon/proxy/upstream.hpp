#pragma once
/// Verified TLS connections to court hosts and PACER, pooled per host:port and shared by all
/// clients. Only TLS with certificate and host-name verification; there is no switch to turn it off.
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/settings.hpp"
#include "proxy/net.hpp"

namespace courtroute::proxy {

/// One live upstream connection and its read buffer (a handle: return it with `pool::release`).
struct upstream_conn {
    upstream_conn(net::any_io_executor ex, std::shared_ptr<ssl::context> context)
        : ctx(std::move(context)), stream(ex, *ctx) {}
    /// Kept alive by the connection: a reload replaces the pool's context while requests run.
    std::shared_ptr<ssl::context> ctx;
    tls_stream stream;                           ///< verified TLS to `host`
    beast::flat_buffer buffer;                   ///< bytes read past the last message
    std::string key;                             ///< "host:port"
    bool reused = false;                         ///< came from the idle pool (may have been closed by the peer)
    std::chrono::steady_clock::time_point idle_since{};
};

/// Timeouts for every network step toward upstream.
struct upstream_timeouts {
    std::chrono::seconds connect{10};   ///< TCP connect and TLS handshake
    std::chrono::seconds write{30};     ///< writing a request
    std::chrono::seconds header{120};   ///< waiting for a response header (court reports can be slow)
    std::chrono::seconds body{60};      ///< between two body reads
    std::chrono::seconds idle{50};      ///< an idle pooled connection older than this is dropped
};

/// A keep-alive pool keyed by "host:port". Single-threaded: used from the daemon's io thread only.
class upstream_pool {
public:
    upstream_pool(net::any_io_executor ex, std::shared_ptr<ssl::context> ctx,
                  std::map<std::string, endpoint> resolve);

    /// An idle pooled connection to host:port, or a new verified one. Throws `system_error`
    /// (`net::error::timed_out` on a timeout) when the upstream cannot be reached.
    net::awaitable<std::unique_ptr<upstream_conn>> acquire(std::string host, std::uint16_t port);
    /// A new verified connection, never from the pool.
    net::awaitable<std::unique_ptr<upstream_conn>> connect(std::string host, std::uint16_t port);
    /// Puts a connection whose last exchange completed cleanly back into the pool.
    void release(std::unique_ptr<upstream_conn> conn);
    /// Replaces the `upstream.resolve` overrides and TLS context (reload); pooled connections are dropped.
    void reconfigure(std::shared_ptr<ssl::context> ctx, std::map<std::string, endpoint> resolve);
    /// Drops every idle connection.
    void clear() { idle_.clear(); }

    /// Connects to `host:port` at the resolved address as a plain TCP stream (blind tunnels).
    net::awaitable<beast::tcp_stream> connect_tcp(std::string host, std::uint16_t port);

    const upstream_timeouts& timeouts() const { return timeouts_; }
    std::uint64_t connects() const { return connects_; } ///< new TLS connections made so far

private:
    net::awaitable<tcp::resolver::results_type> resolve(const std::string& host, std::uint16_t port);

    net::any_io_executor ex_;
    std::shared_ptr<ssl::context> ctx_;
    std::map<std::string, endpoint> resolve_;
    std::map<std::string, std::vector<std::unique_ptr<upstream_conn>>> idle_;
    upstream_timeouts timeouts_;
    std::uint64_t connects_ = 0;
    static constexpr std::size_t max_idle_per_host = 32;
};

} // namespace courtroute::proxy
