#include "proxy/listener.hpp"

#include "core/log.hpp"
#include "proxy/client_session.hpp"
#include "proxy/daemon.hpp"
#include "proxy/worker.hpp"
#include "status/notify.hpp"

namespace courtroute::proxy {

using namespace std::chrono_literals;
using boost::system::error_code;

/// SIGTERM: in-flight requests get this long before their connections are cut.
constexpr auto drain_deadline = 10s;

listener::listener(daemon& d) : d_(d), drained_(d.workers.front()->io) {}

void listener::open() {
    auto& ep = d_.config.current()->cfg.listen_proxy;
    auto& io = d_.workers.front()->io;
    tcp::resolver resolver(io);
    auto results = resolver.resolve(ep.host, std::to_string(ep.port), tcp::resolver::passive);
    if (results.empty()) throw std::runtime_error("cannot resolve listen address " + ep.to_string());
    auto endpoint = results.begin()->endpoint();
    acceptor_.emplace(io);
    acceptor_->open(endpoint.protocol());
    acceptor_->set_option(net::socket_base::reuse_address(true));
    acceptor_->bind(endpoint);
    acceptor_->listen(net::socket_base::max_listen_connections);
}

void listener::start() {
    auto& io = d_.workers.front()->io;
    net::co_spawn(io, accept_loop(), log_failure("accept"));
    net::co_spawn(io, signal_loop(), log_failure("signals"));
}

net::awaitable<void> listener::accept_loop() {
    auto& workers = d_.workers;
    while (!d_.stopping) {
        // Round robin: each connection is served start to end by the worker that gets it.
        auto& w = *workers[next_worker_++ % workers.size()];
        auto [ec, socket] = co_await acceptor_->async_accept(w.io, use_tuple);
        if (ec) {
            if (ec == net::error::operation_aborted || d_.stopping) break;
            log::event("accept_error", {{"error", ec.message()}});
            // EMFILE and friends: back off briefly instead of spinning.
            net::steady_timer t(acceptor_->get_executor(), 100ms);
            co_await t.async_wait(use_tuple);
            continue;
        }
        auto limit = d_.config.current()->cfg.max_connections;
        if (d_.connections.load(std::memory_order_relaxed) >= limit) {
            net::co_spawn(w.io, refuse_over_capacity(std::move(socket)), log_failure("over_capacity"));
            continue;
        }
        d_.connections.fetch_add(1, std::memory_order_relaxed);
        net::co_spawn(w.io, serve_client(w, std::move(socket)), log_failure("connection"));
    }
}

net::awaitable<void> listener::refuse_over_capacity(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    static const std::string answer =
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\nConnection: close\r\n"
        "Content-Length: 61\r\n\r\ncourtroute has too many open connections; try again shortly.\n";
    stream.expires_after(2s);
    co_await net::async_write(stream, net::buffer(answer), use_tuple);
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

net::awaitable<void> listener::signal_loop() {
    net::signal_set signals(co_await net::this_coro::executor, SIGTERM, SIGINT, SIGHUP);
    while (!d_.stopping) {
        auto [ec, sig] = co_await signals.async_wait(use_tuple);
        if (ec) break;
        if (sig == SIGHUP) reload();
        else begin_stop();
    }
}

void listener::reload() {
    notify::reloading();
    auto current = d_.config.current();
    if (auto next = d_.load()) {
        if (next->cfg.listen_proxy.to_string() != current->cfg.listen_proxy.to_string() ||
            next->cfg.state_dir != current->cfg.state_dir || next->cfg.listen_threads != current->cfg.listen_threads)
            log::event("reload_partial", {{"note", "listen address, threads and state dir changes need a restart"}});
        d_.config.publish(next);
        log::event("reloaded", {{"courts", std::to_string(next->reg->courts().size())},
                                {"registry_errors", std::to_string(next->reg->errors().size())}});
    } else {
        log::event("reload_failed", {{"config", d_.config_path.string()}, {"outcome", "old config stays in force"}});
    }
    notify::ready(d_.summary_line());
}

void listener::begin_stop() {
    if (d_.stopping.exchange(true)) return;
    notify::stopping();
    log::event("stopping", {{"connections", std::to_string(d_.connections.load())}});
    error_code ignored;
    acceptor_->close(ignored);
    for (auto& w : d_.workers) net::post(w->io, [&w = *w] { w.close_idle(); });  // nothing to lose
    net::co_spawn(d_.workers.front()->io, drain(), log_failure("drain"));
}

void listener::connection_closed() {
    if (d_.connections.fetch_sub(1) == 1 && d_.stopping)
        net::post(drained_.get_executor(), [this] { drained_.cancel(); });
}

net::awaitable<void> listener::drain() {
    if (d_.connections.load() > 0) {
        drained_.expires_after(drain_deadline);
        co_await drained_.async_wait(use_tuple);  // cancelled by the last connection's end
    }
    if (auto left = d_.connections.load(); left > 0) {
        log::event("drain_timeout", {{"connections", std::to_string(left)}});
        for (auto& w : d_.workers) net::post(w->io, [&w = *w] { w.close_all(); });
    }
    for (auto& w : d_.workers) w->stop();
}

} // namespace courtroute::proxy
