#pragma once
/// listener: the one port. Accepts connections and hands them to the workers in turn (503 past
/// `[listen] max_connections`), handles SIGHUP (reload) and SIGTERM/SIGINT (stop), and drains:
/// a stop waits for in-flight requests until the last connection ends or 10 s pass, woken by the
/// last connection rather than polling, then cuts what is left. Runs on worker 0.
#include <memory>
#include <optional>

#include "proxy/net.hpp"

namespace courtroute::proxy {

class daemon;

class listener {
public:
    /// The listener of `d`; nothing happens until `open`.
    explicit listener(daemon& d);

    /// Binds `[listen] proxy`; throws when the address cannot be bound.
    void open();
    /// Starts accepting and handling signals on worker 0.
    void start();
    /// A connection ended: during a stop, the last one ends the drain (any thread).
    void connection_closed();

private:
    net::awaitable<void> accept_loop();
    net::awaitable<void> signal_loop();
    net::awaitable<void> refuse_over_capacity(tcp::socket socket);
    void reload();
    void begin_stop();
    net::awaitable<void> drain();

    daemon& d_;
    std::optional<tcp::acceptor> acceptor_;
    net::steady_timer drained_;
    std::size_t next_worker_ = 0;
};

} // namespace courtroute::proxy
