#include "proxy/upstream_client.hpp"

#include <sys/socket.h>

#include <cerrno>

#include "core/text.hpp"
#include "proxy/http_wire.hpp"
#include "tls/contexts.hpp"

namespace courtroute::proxy {

using boost::system::error_code;
using routing::upstream_fault;

upstream_error upstream_failure(const error_code& ec, upstream_fault otherwise) {
    upstream_error e;
    if (ec == beast::error::timeout || ec == net::error::timed_out) {
        e.fault = upstream_fault::timeout;
        e.detail = "timed out";
    } else {
        e.fault = otherwise;
        e.detail = ec.message();
        if (e.detail.empty()) e.detail = "failed";
    }
    return e;
}

upstream_client::upstream_client(net::any_io_executor ex) : ex_(std::move(ex)) {}

void upstream_client::configure(std::shared_ptr<ssl::context> ctx, const std::map<std::string, endpoint>& resolve,
                                std::uint64_t generation) {
    ctx_ = std::move(ctx);
    resolve_ = resolve;
    generation_ = generation;
    idle_.clear();
}

net::awaitable<tcp::resolver::results_type> upstream_client::resolve(std::string_view host, std::uint16_t port,
                                                                     upstream_error& err) {
    // upstream.resolve works like curl --resolve: connect elsewhere, keep the name for SNI,
    // certificate check, Host and cookies.
    std::string name(host), service = std::to_string(port);
    if (auto it = resolve_.find(to_lower(host) + ":" + service); it != resolve_.end()) {
        name = it->second.host;
        service = std::to_string(it->second.port);
    }
    tcp::resolver resolver(ex_);
    auto [ec, results] = co_await resolver.async_resolve(name, service, use_tuple);
    if (ec) err = upstream_failure(ec, upstream_fault::unreachable);
    co_return results;
}

net::awaitable<std::optional<beast::tcp_stream>> upstream_client::connect_tcp(std::string_view host,
                                                                              std::uint16_t port, upstream_error& err) {
    auto results = co_await resolve(host, port, err);
    if (err) co_return std::nullopt;
    beast::tcp_stream stream(ex_);
    stream.expires_after(timeouts_.connect);
    auto [ec, ep] = co_await stream.async_connect(results, use_tuple);
    if (ec) {
        err = upstream_failure(ec, upstream_fault::unreachable);
        co_return std::nullopt;
    }
    co_return std::optional<beast::tcp_stream>(std::move(stream));
}

net::awaitable<std::unique_ptr<upstream_conn>> upstream_client::connect(std::string_view host, std::uint16_t port,
                                                                        upstream_error& err) {
    auto results = co_await resolve(host, port, err);
    if (err) co_return nullptr;
    auto conn = std::make_unique<upstream_conn>(ex_, ctx_);
    conn->host = to_lower(host);
    conn->port = port;
    conn->generation = generation_;
    auto& tcp_layer = beast::get_lowest_layer(conn->stream);
    tcp_layer.expires_after(timeouts_.connect);
    auto [ec, ep] = co_await tcp_layer.async_connect(results, use_tuple);
    if (ec) {
        err = upstream_failure(ec, upstream_fault::unreachable);
        co_return nullptr;
    }
    tcp_layer.socket().set_option(tcp::no_delay(true), ec);
    // SNI and host-name verification for exactly this name, before the handshake.
    tls::prepare_upstream_stream(conn->stream.native_handle(), host);
    tcp_layer.expires_after(timeouts_.connect);
    auto [hec] = co_await conn->stream.async_handshake(ssl::stream_base::client, use_tuple);
    if (hec) {
        err = upstream_failure(hec, upstream_fault::tls);
        err.detail = "TLS handshake failed (" + err.detail + ")";
        co_return nullptr;
    }
    ++connects_;
    co_return conn;
}

namespace {

/// A pooled connection that already has something to read (the peer's close, a TLS alert, stray
/// bytes) is not fit for a request that must not be sent twice: peek without blocking.
bool quiet(upstream_conn& conn) {
    char byte;
    auto fd = beast::get_lowest_layer(conn.stream).socket().native_handle();
    auto n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

} // namespace

net::awaitable<std::unique_ptr<upstream_conn>> upstream_client::acquire(std::string_view host, std::uint16_t port,
                                                                        bool must_be_quiet, upstream_error& err) {
    auto now = std::chrono::steady_clock::now();
    if (auto it = idle_.find(std::pair<std::string_view, std::uint16_t>(host, port)); it != idle_.end()) {
        auto& list = it->second;
        while (!list.empty()) {
            auto conn = std::move(list.back());
            list.pop_back();
            if (now - conn->idle_since < timeouts_.idle && beast::get_lowest_layer(conn->stream).socket().is_open() &&
                (!must_be_quiet || quiet(*conn))) {
                conn->reused = true;
                co_return conn;
            }
        }
    }
    co_return co_await connect(host, port, err);
}

void upstream_client::release(std::unique_ptr<upstream_conn> conn) {
    // Stray bytes mean the connection is out of step; an older configuration's context is not reused.
    if (!conn || conn->broken || conn->buffer.size() != 0 || conn->generation != generation_) return;
    auto it = idle_.find(std::pair<std::string_view, std::uint16_t>(conn->host, conn->port));
    if (it == idle_.end()) it = idle_.emplace(pool_key{conn->host, conn->port}, std::vector<std::unique_ptr<upstream_conn>>{}).first;
    if (it->second.size() >= max_idle_per_host) return;
    conn->idle_since = std::chrono::steady_clock::now();
    beast::get_lowest_layer(conn->stream).expires_never();
    it->second.push_back(std::move(conn));
}

net::awaitable<std::size_t> upstream_client::read_body_some(upstream_conn& conn,
                                                            http::response_parser<http::buffer_body>& p, char* buf,
                                                            std::size_t cap, upstream_error& err) {
    p.get().body().data = buf;
    p.get().body().size = cap;
    beast::get_lowest_layer(conn.stream).expires_after(timeouts_.body);
    auto [ec, n] = co_await http::async_read(conn.stream, conn.buffer, p, use_tuple);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
        err = upstream_failure(ec, upstream_fault::broken);
        co_return 0;
    }
    co_return cap - p.get().body().size;
}

namespace {

bool is_textual(std::string_view content_type) {
    if (content_type.empty()) return true;
    return icontains(content_type, "html") || icontains(content_type, "xml") || icontains(content_type, "text/") ||
           icontains(content_type, "json") || icontains(content_type, "javascript");
}

} // namespace

net::awaitable<void> upstream_client::read_answer(fetched& f, bool head_request, bool inspect) {
    auto& lowest = beast::get_lowest_layer(f.conn->stream);
    error_code ec;
    // Interim answers (100 Continue, 102, 103) are not the answer: read past them.
    for (int interim = 0; interim < 8; ++interim) {
        f.parser = std::make_unique<http::response_parser<http::buffer_body>>();
        f.parser->body_limit(boost::none);  // bodies stream; only text for inspection is held
        f.parser->header_limit(header_limit);
        if (head_request) f.parser->skip(true);
        lowest.expires_after(timeouts_.header);
        std::size_t n = 0;
        std::tie(ec, n) = co_await http::async_read_header(f.conn->stream, f.conn->buffer, *f.parser, use_tuple);
        auto status = f.parser->get().result_int();
        if (ec || status / 100 != 1 || status == 101) break;
    }
    if (!ec && f.parser->get().result_int() / 100 == 1)
        ec = f.parser->get().result_int() == 101 ? http::error::bad_status : http::error::unexpected_body;
    if (ec) {
        f.error = upstream_failure(ec, upstream_fault::broken);
        co_return;
    }
    auto& res = f.parser->get();
    if (inspect && !f.parser->is_done() && is_textual(res[http::field::content_type])) {
        auto len = f.parser->content_length();
        if (!len || *len <= inspect_limit) {
            while (!f.parser->is_done() && f.body.size() < inspect_limit) {
                co_await read_body_into(*f.conn, *f.parser, f.body, f.error);
                if (f.error) co_return;
            }
        }
    }
}

net::awaitable<void> upstream_client::read_body_into(upstream_conn& conn, http::response_parser<http::buffer_body>& p,
                                                     std::string& out, upstream_error& err) {
    // Straight into the string (no buffer in the coroutine frame): the rest of a known length, else 16 KiB.
    auto left = p.content_length_remaining();
    std::size_t chunk = left ? static_cast<std::size_t>(std::min<std::uint64_t>(*left, 65536)) : 16384;
    if (chunk == 0) chunk = 16384;
    auto old = out.size();
    out.resize(old + chunk);
    auto n = co_await read_body_some(conn, p, out.data() + old, chunk, err);
    out.resize(old + n);
}

net::awaitable<fetched> upstream_client::fetch(std::string_view host, std::uint16_t port, std::string_view wire,
                                               bool head_request, bool inspect, bool resend_ok) {
    for (int attempt = 0;; ++attempt) {
        fetched f;
        // The repeat must not land on another connection the peer closed too (a court closing
        // every idle connection at once after its keep-alive timeout): only a quiet one.
        f.conn = co_await acquire(host, port, !resend_ok || attempt > 0, f.error);
        if (f.error) co_return f;
        // A pooled connection the peer may have closed meanwhile: replaced once, if the method allows.
        bool replaceable = f.conn->reused && attempt == 0 && resend_ok;
        beast::get_lowest_layer(f.conn->stream).expires_after(timeouts_.write);
        auto [wec, wn] = co_await net::async_write(f.conn->stream, net::buffer(wire), use_tuple);
        if (wec && replaceable) continue;  // the peer had closed it: nothing was processed
        co_await read_answer(f, head_request, inspect);
        if (wec) f.conn->broken = true;  // never back into the pool
        if (wec && f.error) {
            // The court may answer early and close (431, 413) while the request is still going
            // out: its answer, when there is one, is what the client gets; otherwise the write failed.
            f.error = upstream_failure(wec, upstream_fault::broken);
            co_return f;
        }
        if (f.error && replaceable && f.parser && f.parser->got_some() == false) {
            // Nothing at all came back on a reused connection: the peer had closed it.
            continue;
        }
        co_return f;
    }
}

net::awaitable<exchanged> upstream_client::exchange(std::string_view host, std::uint16_t port,
                                                    http::request<http::string_body> req) {
    req.set(http::field::host, host);
    req.set(http::field::user_agent, "courtroute/" COURTROUTE_VERSION);
    frame_whole(req.base(), req.body().size(), true);
    std::string wire;
    append_head(wire, req.base());
    wire.append(req.body());
    exchanged out;
    // Logins and logouts are POSTs: never re-sent (a second password try counts against the
    // account), so they go on a fresh connection: a pooled one the peer is closing just then
    // would lose the login to a race no retry may repair. Logins are rare; a handshake is cheap.
    fetched f;
    f.conn = co_await connect(host, port, f.error);
    if (!f.error) {
        beast::get_lowest_layer(f.conn->stream).expires_after(timeouts_.write);
        auto [wec, wn] = co_await net::async_write(f.conn->stream, net::buffer(wire), use_tuple);
        if (wec) f.error = upstream_failure(wec, upstream_fault::broken);
        else co_await read_answer(f, req.method() == http::verb::head, false);
    }
    if (f.error) {
        out.error = std::move(f.error);
        co_return out;
    }
    out.answer.base() = f.parser->get().base();
    while (!f.parser->is_done()) {
        co_await read_body_into(*f.conn, *f.parser, out.answer.body(), out.error);
        if (out.error) co_return out;
        if (out.answer.body().size() > (1u << 20)) {
            out.error = upstream_error{upstream_fault::broken, "answer larger than 1 MiB"};
            co_return out;
        }
    }
    if (f.parser->keep_alive()) release(std::move(f.conn));
    co_return out;
}

} // namespace courtroute::proxy
