#include "proxy/upstream.hpp"

#include "core/text.hpp"
#include "tls/contexts.hpp"

namespace courtroute::proxy {

upstream_pool::upstream_pool(net::any_io_executor ex, std::shared_ptr<ssl::context> ctx,
                             std::map<std::string, endpoint> resolve)
    : ex_(std::move(ex)), ctx_(std::move(ctx)), resolve_(std::move(resolve)) {}

void upstream_pool::reconfigure(std::shared_ptr<ssl::context> ctx, std::map<std::string, endpoint> resolve) {
    ctx_ = std::move(ctx);
    resolve_ = std::move(resolve);
    idle_.clear();
}

net::awaitable<tcp::resolver::results_type> upstream_pool::resolve(const std::string& host, std::uint16_t port) {
    // upstream.resolve works like curl --resolve: connect elsewhere, keep the name for SNI,
    // certificate check, Host and cookies.
    std::string name = host, service = std::to_string(port);
    if (auto it = resolve_.find(to_lower(host) + ":" + service); it != resolve_.end()) {
        name = it->second.host;
        service = std::to_string(it->second.port);
    }
    tcp::resolver resolver(ex_);
    auto [ec, results] = co_await resolver.async_resolve(name, service, use_tuple);
    if (ec) throw boost::system::system_error(ec, "resolve " + host);
    co_return results;
}

net::awaitable<beast::tcp_stream> upstream_pool::connect_tcp(std::string host, std::uint16_t port) {
    auto results = co_await resolve(host, port);
    beast::tcp_stream stream(ex_);
    stream.expires_after(timeouts_.connect);
    auto [ec, ep] = co_await stream.async_connect(results, use_tuple);
    if (ec) throw boost::system::system_error(ec == beast::error::timeout ? net::error::timed_out : ec,
                                              "connect " + host);
    co_return stream;
}

net::awaitable<std::unique_ptr<upstream_conn>> upstream_pool::connect(std::string host, std::uint16_t port) {
    auto results = co_await resolve(host, port);
    auto conn = std::make_unique<upstream_conn>(ex_, ctx_);
    conn->key = to_lower(host) + ":" + std::to_string(port);
    auto& tcp_layer = beast::get_lowest_layer(conn->stream);
    tcp_layer.expires_after(timeouts_.connect);
    auto [ec, ep] = co_await tcp_layer.async_connect(results, use_tuple);
    if (ec) throw boost::system::system_error(ec == beast::error::timeout ? net::error::timed_out : ec,
                                              "connect " + host);
    // SNI and host-name verification for exactly this name, before the handshake.
    tls::prepare_upstream_stream(conn->stream.native_handle(), host);
    tcp_layer.expires_after(timeouts_.connect);
    auto [hec] = co_await conn->stream.async_handshake(ssl::stream_base::client, use_tuple);
    if (hec) throw boost::system::system_error(hec == beast::error::timeout ? net::error::timed_out : hec,
                                               "TLS handshake with " + host);
    ++connects_;
    co_return conn;
}

net::awaitable<std::unique_ptr<upstream_conn>> upstream_pool::acquire(std::string host, std::uint16_t port) {
    auto key = to_lower(host) + ":" + std::to_string(port);
    auto now = std::chrono::steady_clock::now();
    if (auto it = idle_.find(key); it != idle_.end()) {
        auto& list = it->second;
        while (!list.empty()) {
            auto conn = std::move(list.back());
            list.pop_back();
            if (now - conn->idle_since < timeouts_.idle && beast::get_lowest_layer(conn->stream).socket().is_open()) {
                conn->reused = true;
                co_return conn;
            }
        }
    }
    co_return co_await connect(std::move(host), port);
}

void upstream_pool::release(std::unique_ptr<upstream_conn> conn) {
    if (!conn || conn->buffer.size() != 0) return;  // stray bytes: the connection is out of step
    auto& list = idle_[conn->key];
    if (list.size() >= max_idle_per_host) return;
    conn->idle_since = std::chrono::steady_clock::now();
    beast::get_lowest_layer(conn->stream).expires_never();
    list.push_back(std::move(conn));
}

} // namespace courtroute::proxy
