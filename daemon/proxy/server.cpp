#include "proxy/server.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "proxy/daemon_state.hpp"

namespace courtroute::proxy {

// ---------------------------------------------------------------------------------------------
// start-up, reload, stop

bool daemon_state::load(std::shared_ptr<const snapshot>& out) {
    auto loaded = load_settings(config_path_, config_explicit_);
    if (!loaded.errors.empty()) {
        for (auto& e : loaded.errors) log::event("config_error", {{"where", e.to_string()}});
        return false;
    }
    auto snap = std::make_shared<snapshot>();
    snap->cfg = std::move(loaded.value);
    snap->reg = registry::load(snap->cfg.registry_dirs);
    for (auto& e : snap->reg->errors()) log::event("registry_error", {{"where", e.to_string()}});
    out = std::move(snap);
    return true;
}

void daemon_state::start(std::shared_ptr<const snapshot> snap) {
    snap_ = std::move(snap);
    open();
    listen();
    net::co_spawn(io_, accept_loop(), log_failure("accept"));
    net::co_spawn(
        io_,
        [this]() -> net::awaitable<void> {
            net::signal_set signals(io_, SIGTERM, SIGINT, SIGHUP);
            while (!stopping_) {
                auto [ec, sig] = co_await signals.async_wait(use_tuple);
                if (ec) break;
                if (sig == SIGHUP) reload();
                else begin_stop();
            }
        },
        log_failure("signals"));
    auto line = summary_line();
    log::event("listening", {{"address", snap_->cfg.listen_proxy.to_string()},
                             {"courts", std::to_string(snap_->reg->courts().size())},
                             {"ca", ca_->cert_path().string()}});
    notify::ready(line);
}

void daemon_state::open() {
    auto& cfg = snap_->cfg;
    db_ = store::open_state(cfg.state_dir, cfg.effective_key_file());
    ca_ = tls::open_local_ca(cfg, *snap_->reg);
    tls::log_ca_problems(*ca_, *snap_->reg);
    leaves_ = std::make_unique<tls::leaf_cache>(ca_);
    pool_ = std::make_unique<upstream_pool>(io_.get_executor(), tls::make_upstream_context(cfg.upstream_ca_file),
                                            cfg.upstream_resolve);
}

void daemon_state::listen() {
    auto& ep = snap_->cfg.listen_proxy;
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(ep.host, std::to_string(ep.port), tcp::resolver::passive);
    if (results.empty()) throw std::runtime_error("cannot resolve listen address " + ep.to_string());
    auto endpoint = results.begin()->endpoint();
    acceptor_ = std::make_unique<tcp::acceptor>(io_);
    acceptor_->open(endpoint.protocol());
    acceptor_->set_option(net::socket_base::reuse_address(true));
    acceptor_->bind(endpoint);
    acceptor_->listen(net::socket_base::max_listen_connections);
}

net::awaitable<void> daemon_state::accept_loop() {
    while (!stopping_) {
        auto [ec, socket] = co_await acceptor_->async_accept(use_tuple);
        if (ec) {
            if (ec == net::error::operation_aborted || stopping_) break;
            log::event("accept_error", {{"error", ec.message()}});
            // EMFILE and friends: back off briefly instead of spinning.
            net::steady_timer t(io_, 100ms);
            co_await t.async_wait(use_tuple);
            continue;
        }
        net::co_spawn(io_, serve_client(std::move(socket)), log_failure("connection"));
    }
}

void daemon_state::reload() {
    notify::reloading();
    std::shared_ptr<const snapshot> next;
    if (!load(next)) {
        log::event("reload_failed", {{"config", config_path_.string()}, {"outcome", "old config stays in force"}});
    } else {
        if (next->cfg.listen_proxy.to_string() != snap_->cfg.listen_proxy.to_string() ||
            next->cfg.state_dir != snap_->cfg.state_dir)
            log::event("reload_partial", {{"note", "listen address and state dir changes need a restart"}});
        try {
            pool_->reconfigure(tls::make_upstream_context(next->cfg.upstream_ca_file), next->cfg.upstream_resolve);
            snap_ = std::move(next);
            log::event("reloaded", {{"courts", std::to_string(snap_->reg->courts().size())},
                                    {"registry_errors", std::to_string(snap_->reg->errors().size())}});
        } catch (const std::exception& e) {
            log::event("reload_failed", {{"error", e.what()}, {"outcome", "old config stays in force"}});
        }
        try {
            // A CA replaced on disk (`courtroute ca --rotate`) takes over here; open tunnels keep
            // the leaf contexts they hold. The state dir is the one opened at start.
            auto ca = tls::open_local_ca(snap_->cfg, *snap_->reg);
            if (X509_cmp(ca->cert(), ca_->cert()) != 0) {
                ca_ = std::move(ca);
                leaves_ = std::make_unique<tls::leaf_cache>(ca_);
                log::event("ca_reloaded", {{"ca", ca_->cert_path().string()}});
            }
        } catch (const std::exception& e) {
            log::event("ca_reload_failed", {{"error", e.what()}, {"outcome", "the CA loaded before stays in force"}});
        }
        tls::log_ca_problems(*ca_, *snap_->reg);
    }
    notify::ready(summary_line());
}

void daemon_state::begin_stop() {
    if (stopping_) return;
    stopping_ = true;
    notify::stopping();
    log::event("stopping", {{"connections", std::to_string(connections_.size())}});
    error_code ignored;
    if (acceptor_) acceptor_->close(ignored);
    for (auto& c : connections_)
        if (!c.busy && c.socket) c.socket->close(ignored);  // idle keep-alive: nothing to lose
    drain_timer_ = std::make_unique<net::steady_timer>(io_);
    auto deadline = std::chrono::steady_clock::now() + drain_deadline;
    net::co_spawn(
        io_,
        [this, deadline]() -> net::awaitable<void> {
            while (!connections_.empty() && std::chrono::steady_clock::now() < deadline) {
                drain_timer_->expires_after(50ms);
                co_await drain_timer_->async_wait(use_tuple);
            }
            if (!connections_.empty())
                log::event("drain_timeout", {{"connections", std::to_string(connections_.size())}});
            io_.stop();
        },
        log_failure("drain"));
}

// ---------------------------------------------------------------------------------------------
// client side

std::optional<std::string> daemon_state::authenticate(const http::request<http::string_body>& req, bool bearer) {
    sync_store_cache();  // once per request: token, credentials and links as the CLI left them
    auto it = req.find(bearer ? http::field::authorization : http::field::proxy_authorization);
    if (it == req.end()) {
        if (!snap_->cfg.anonymous_user.empty()) return snap_->cfg.anonymous_user;
        return std::nullopt;
    }
    auto value = trim(it->value());
    auto space = value.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    auto scheme = value.substr(0, space);
    auto cred = trim(value.substr(space + 1));
    auto lookup = [this](std::string_view token) -> std::optional<std::string> {
        auto key = sha256(token);
        if (auto hit = token_cache_.find(key); hit != token_cache_.end()) return hit->second;
        auto user = db_->user_for_token(token);
        // Only hits are kept (wrong tokens must not grow memory); the map dies with any store change.
        if (user && token_cache_.size() < 4096) token_cache_.emplace(std::move(key), *user);
        return user;
    };
    if (bearer) {
        if (!iequals(scheme, "Bearer")) return std::nullopt;
        return lookup(cred);
    }
    if (!iequals(scheme, "Basic")) return std::nullopt;
    auto decoded = base64_decode(cred);
    if (!decoded) return std::nullopt;
    auto colon = decoded->find(':');
    if (colon == std::string::npos) return std::nullopt;
    auto user = lookup(std::string_view(*decoded).substr(colon + 1));
    if (!user || *user != decoded->substr(0, colon)) return std::nullopt;
    return user;
}

template <class Stream>
net::awaitable<std::size_t> daemon_state::read_client_body(Stream& stream, beast::flat_buffer& buffer,
                                                           http::request_parser<http::buffer_body>& p, char* buf,
                                                           std::size_t cap) {
    p.get().body().data = buf;
    p.get().body().size = cap;
    beast::get_lowest_layer(stream).expires_after(client_header_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, p, use_tuple);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) throw system_error(ec, "reading the client's body");
    co_return cap - p.get().body().size;
}

template <class Stream>
net::awaitable<bool> daemon_state::read_request(Stream& stream, beast::flat_buffer& buffer, incoming& in,
                                                connection_entry& entry) {
    auto& parser = in.parser;
    parser.header_limit(header_limit);
    parser.body_limit(request_body_limit);
    auto& lowest = beast::get_lowest_layer(stream);
    error_code ec;
    std::size_t n = 0;
    if (buffer.size() == 0) {
        // Idle keep-alive: wait for the first bytes of the next request under the idle timer...
        lowest.expires_after(client_idle_timeout);
        std::tie(ec, n) = co_await stream.async_read_some(buffer.prepare(16384), use_tuple);
        if (!ec) buffer.commit(n);
    }
    if (!ec) {
        // ...then the whole header must follow within the header timeout (slowloris).
        lowest.expires_after(client_header_timeout);
        std::tie(ec, n) = co_await http::async_read_header(stream, buffer, parser, use_tuple);
    }
    if (!ec) {
        auto& req = parser.get();
        // RFC 9112 §6.3: a Transfer-Encoding other than a final "chunked" cannot be framed
        // safely; reading on would let a second, smuggled request through.
        if (req.count(http::field::transfer_encoding) > 1 ||
            (req.count(http::field::transfer_encoding) == 1 &&
             !iequals(trim(req[http::field::transfer_encoding]), "chunked")))
            ec = http::error::bad_transfer_encoding;
    }
    if (!ec) {
        entry.busy = true;
        in.req.base() = parser.get().base();
        if (auto it = in.req.find(http::field::expect); it != in.req.end() && iequals(it->value(), "100-continue")) {
            http::response<http::empty_body> cont{http::status::continue_, in.req.version()};
            lowest.expires_after(client_write_timeout);
            co_await http::async_write(stream, cont, use_tuple);
        }
        // Hold the body when it is small enough to repeat after a re-login; leave a larger one
        // on the wire for the handler to stream.
        auto len = parser.content_length();
        if (!parser.is_done() && len && *len > replay_limit) {
            in.body_pending = true;
        } else {
            std::array<char, 65536> buf;
            try {
                while (!parser.is_done()) {
                    auto got = co_await read_client_body(stream, buffer, parser, buf.data(), buf.size());
                    in.req.body().append(buf.data(), got);
                    if (in.req.body().size() >= replay_limit && !parser.is_done()) {
                        in.body_pending = true;  // a long chunked body: the rest streams
                        break;
                    }
                }
            } catch (const system_error& e) {
                ec = e.code();
            }
        }
    }
    if (!ec) co_return true;
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset || ec == ssl::error::stream_truncated)
        co_return false;
    // A malformed or oversized request: answer it, then close (the stream is out of step).
    http::status status = http::status::bad_request;
    std::string text = "courtroute could not parse the request: " + ec.message() + "\n";
    if (ec == http::error::header_limit) {
        status = http::status::request_header_fields_too_large;
        text = "request headers exceed 64 KiB\n";
    } else if (ec == http::error::body_limit) {
        status = http::status::payload_too_large;
        text = "request body exceeds 4 GiB\n";
    }
    log::event("bad_request", {{"error", ec.message()}});
    http::response<http::string_body> res{status, 11};
    res.set(http::field::content_type, "text/plain");
    res.keep_alive(false);
    res.body() = text;
    res.prepare_payload();
    lowest.expires_after(client_write_timeout);
    co_await http::async_write(stream, res, use_tuple);
    co_return false;
}

template <class Stream>
net::awaitable<bool> daemon_state::write_simple(Stream& stream, const http::request<http::string_body>& req,
                                                http::status status, std::string_view content_type,
                                                const std::string& body) {
    http::response<http::string_body> res{status, req.version()};
    res.set(http::field::content_type, content_type);
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(req.keep_alive() && !stopping_);
    if (req.method() != http::verb::head) res.body() = body;
    res.prepare_payload();
    beast::get_lowest_layer(stream).expires_after(client_write_timeout);
    auto [ec, n] = co_await http::async_write(stream, res, use_tuple);
    co_return !ec && res.keep_alive();
}

template <class Stream>
net::awaitable<bool> daemon_state::write_refusal(Stream& stream, const http::request<http::string_body>& req,
                                                 const refusal& r, std::string_view court,
                                                 std::string_view route_name, std::string_view extra_header,
                                                 std::string_view extra_value) {
    http::response<http::string_body> res{static_cast<http::status>(r.status), req.version()};
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.set(http::field::cache_control, "no-store");
    if (!extra_header.empty()) res.set(extra_header, extra_value);
    std::string body = r.text;
    for (auto& w : r.warnings) {
        auto value = w.header_value();
        if (!has_ctl_breaks(value)) res.insert("Courtroute-Warning", value);
        if (body.empty()) body = w.message;
    }
    if (body.empty()) body = "courtroute refused the request.";
    if (body.back() != '\n') body += '\n';
    res.body() = std::move(body);
    res.keep_alive(req.keep_alive() && !stopping_);
    res.prepare_payload();
    metrics_.request(std::string(court), route_name, r.status);
    beast::get_lowest_layer(stream).expires_after(client_write_timeout);
    auto [ec, n] = co_await http::async_write(stream, res, use_tuple);
    co_return !ec && res.keep_alive();
}

net::awaitable<void> daemon_state::serve_client(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    auto& entry = connections_.emplace_back();
    entry.socket = &stream.socket();
    struct unregister {
        daemon_state* self;
        connection_entry* e;
        ~unregister() {
            self->connections_.remove_if([this](const connection_entry& x) { return &x == e; });
        }
    } guard{this, &entry};

    beast::flat_buffer buffer;
    while (!stopping_) {
        incoming in;
        entry.busy = false;
        if (!co_await read_request(stream, buffer, in, entry)) break;
        auto& req = in.req;
        bool keep = false;
        {
            std::string_view target = req.target();
            if (req.method() == http::verb::connect) {
                co_await handle_connect(stream, buffer, req, entry);
                co_return;  // the connection became a tunnel (or was refused and closed)
            }
            if (!target.empty() && target.front() == '/') {
                auto path = target.substr(0, target.find('?'));
                // GCC 12 destroys class-type temporaries inside a co_await expression twice:
                // every argument below is a named object (or trivially destructible).
                if (path == "/healthz") {
                    const std::string body = "ok\n";
                    keep = co_await write_simple(stream, req, http::status::ok, "text/plain", body);
                } else if (path == "/status") {
                    const std::string body = status_json();
                    keep = co_await write_simple(stream, req, http::status::ok, "application/json", body);
                } else if (path == "/metrics") {
                    const std::string body =
                        metrics_.render(leaves_->minted(), leaves_->hits(), pool_->connects(),
                                        sessions_.snapshot(std::chrono::steady_clock::now()).size(), connections_.size());
                    keep = co_await write_simple(stream, req, http::status::ok, "text/plain; version=0.0.4", body);
                } else if (path.starts_with("/court/")) {
                    // Path mode: /court/{id}/{path} with a bearer token.
                    auto rest = target.substr(7);
                    auto slash = rest.find_first_of("/?");
                    std::string id(rest.substr(0, slash));
                    const court* c = snap_->reg->find_id(id);
                    auto user = authenticate(req, true);
                    if (!c) {
                        const refusal r{404, {}, "no court '" + id + "' in the registry"};
                        keep = co_await write_refusal(stream, req, r, id, "none");
                    } else if (!user) {
                        const refusal r{401, {}, "courtroute needs 'Authorization: Bearer TOKEN' (courtroute user add)"};
                        keep = co_await write_refusal(stream, req, r, c->id, "none", "WWW-Authenticate",
                                                      "Bearer realm=\"courtroute\"");
                    } else {
                        std::string upstream_target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
                        if (upstream_target.front() == '?') upstream_target.insert(0, "/");
                        req.target(upstream_target);
                        auto snap = snap_;  // the court reference lives as long as this snapshot
                        keep = co_await handle_court_request(stream, buffer, in, *user, *c, true);
                    }
                } else {
                    const std::string body = "courtroute serves /healthz, /status, /metrics and /court/{id}/{path}\n";
                    keep = co_await write_simple(stream, req, http::status::not_found, "text/plain", body);
                }
            } else {
                // Absolute-form: a plain http:// request through the proxy.
                auto url = parse_url(target);
                const court* c = url ? snap_->reg->find_host(url->host) : nullptr;
                const refusal r = c ? refusal{400, {}, "courts are reached over HTTPS only: use https:// through this proxy"}
                                    : refusal{403, {}, "courtroute only proxies HTTPS to the courts in its registry"};
                const std::string court_id = c ? c->id : "";
                keep = co_await write_refusal(stream, req, r, court_id, "none");
            }
        }
        // A local answer left an unread body on the wire: the connection is out of step.
        if (!keep || (in.body_pending && !in.parser.is_done())) break;
    }
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

net::awaitable<void> daemon_state::handle_connect(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                                  http::request<http::string_body>& req, connection_entry& entry) {
    std::string authority(req.target());
    auto url = parse_url("https://" + authority);
    if (!url || authority.find('/') != std::string::npos || authority.rfind(':') == std::string::npos) {
        const refusal r{400, {}, "CONNECT needs host:port"};
        co_await write_refusal(stream, req, r, "", "none");
        co_return;
    }
    auto user = authenticate(req, false);
    if (!user) {
        const refusal r{407, {}, "courtroute needs proxy credentials: http://USER:TOKEN@host:port"};
        co_await write_refusal(stream, req, r, "", "none", "Proxy-Authenticate", "Basic realm=\"courtroute\"");
        co_return;
    }
    auto snap = snap_;
    const court* c = snap->reg->find_host(url->host);
    if (!c || url->port != 443) {
        if (c || snap->cfg.other_hosts == other_hosts_policy::refuse) {
            log::event("connect_refused", {{"user", *user}, {"host", url->host}});
            const refusal r{403, {},
                            url->host + ":" + std::to_string(url->port) +
                                " is not a court host in the registry (policy.other_hosts = refuse)"};
            co_await write_refusal(stream, req, r, "", "none");
            co_return;
        }
        co_await blind_tunnel(stream, buffer, url->host, url->port, req);
        co_return;
    }

    // The local CA signs only within its name constraints; a court added outside them after
    // the CA was made needs a new CA, not a leaf clients would (rightly) reject.
    if (!ca_->permits(url->host)) {
        log::event("connect_refused", {{"user", *user}, {"host", url->host}, {"court", c->id},
                                       {"reason", "ca_not_permitted"}, {"action", "run courtroute ca --rotate"}});
        const refusal r{502, {},
                        "courtroute's local CA is not permitted to sign for " + url->host +
                            " (court " + c->id + " was added to the registry after the CA was created); an "
                            "administrator must run `courtroute ca --rotate`, have clients trust the new CA "
                            "(`courtroute ca --install`) and reload courtroute. Nothing was sent upstream."};
        co_await write_refusal(stream, req, r, c->id, "none");
        co_return;
    }

    // Intercept: answer 200, then speak TLS as the court with a leaf from the local CA.
    {
        http::response<http::empty_body> ok{http::status::ok, req.version()};
        ok.reason("Connection established");
        http::response_serializer<http::empty_body> sr{ok};
        stream.expires_after(client_write_timeout);
        auto [ec, n] = co_await http::async_write_header(stream, sr, use_tuple);
        if (ec) co_return;
    }
    auto ctx = leaves_->server_context(url->host);
    tls_stream tls(std::move(stream), *ctx);
    entry.socket = &beast::get_lowest_layer(tls).socket();
    beast::get_lowest_layer(tls).expires_after(client_header_timeout);
    auto [hec, used] = co_await tls.async_handshake(ssl::stream_base::server, buffer.data(), use_tuple);
    if (hec) {
        log::event("client_tls_failed", {{"user", *user}, {"host", url->host}, {"error", hec.message()}});
        co_return;
    }
    buffer.consume(used);
    // The SNI must name the CONNECT host: anything else is a domain-fronting attempt.
    const char* sni = SSL_get_servername(tls.native_handle(), TLSEXT_NAMETYPE_host_name);
    if (sni && !iequals(sni, url->host)) {
        log::event("sni_mismatch", {{"user", *user}, {"host", url->host}, {"sni", sni}});
        co_return;
    }
    co_await serve_tunnel(tls, url->host, *user, entry);
    beast::get_lowest_layer(tls).expires_after(5s);
    co_await tls.async_shutdown(use_tuple);
}

net::awaitable<void> daemon_state::serve_tunnel(tls_stream& stream, const std::string& host, const std::string& user,
                                                connection_entry& entry) {
    beast::flat_buffer buffer;
    while (!stopping_) {
        incoming in;
        entry.busy = false;
        if (!co_await read_request(stream, buffer, in, entry)) co_return;
        auto& req = in.req;
        auto snap = snap_;
        sync_store_cache();  // the tunnel authenticated once; the store may have changed since
        // Every request's Host must name the CONNECT host exactly (port 443 optional).
        std::string req_host = to_lower(req[http::field::host]);
        if (req_host.ends_with(":443")) req_host.resize(req_host.size() - 4);
        const court* c = snap->reg->find_host(host);
        if (req_host != host || !c) {
            log::event("host_mismatch", {{"user", user}, {"connect", host}, {"host", req_host}});
            const refusal r{403, {},
                            "the Host header does not name the host this tunnel was opened to (" + host +
                                "); nothing was sent upstream"};
            const std::string court_id = c ? c->id : "";
            co_await write_refusal(stream, req, r, court_id, "none");
            co_return;
        }
        std::string target(req.target());
        if (target.empty() || target.front() != '/') {
            // Absolute-form inside a tunnel: accept only when it names the same host.
            auto u = parse_url(target);
            if (!u || u->host != host) {
                const refusal r{400, {}, "bad request target"};
                co_await write_refusal(stream, req, r, c->id, "none");
                co_return;
            }
            req.target(u->target);
        }
        if (!co_await handle_court_request(stream, buffer, in, user, *c, false)) co_return;
        if (in.body_pending && !in.parser.is_done()) co_return;  // a refusal left the body unread
    }
}

net::awaitable<void> daemon_state::blind_tunnel(beast::tcp_stream& client, beast::flat_buffer& buffer, std::string host,
                                                std::uint16_t port, http::request<http::string_body>& req) {
    std::optional<beast::tcp_stream> connected;
    std::string failure;
    try {
        connected.emplace(co_await pool_->connect_tcp(host, port));
    } catch (const std::exception& e) {
        failure = e.what();
    }
    if (!connected) {
        const refusal r{502, {}, "cannot reach " + host + ": " + failure};
        co_await write_refusal(client, req, r, "", "tunnel");
        co_return;
    }
    auto& upstream = *connected;
    {
        http::response<http::empty_body> ok{http::status::ok, req.version()};
        ok.reason("Connection established");
        http::response_serializer<http::empty_body> sr{ok};
        auto [ec, n] = co_await http::async_write_header(client, sr, use_tuple);
        if (ec) co_return;
    }
    if (buffer.size()) {
        auto [ec, n] = co_await net::async_write(upstream.socket(), buffer.data(), use_tuple);
        if (ec) co_return;
        buffer.consume(n);
    }
    metrics_.request("", "tunnel", 200);
    auto transfer = [](beast::tcp_stream& from, beast::tcp_stream& to) -> net::awaitable<void> {
        std::array<char, 16384> data;
        for (;;) {
            from.expires_after(std::chrono::minutes(10));
            auto [ec, n] = co_await from.async_read_some(net::buffer(data), use_tuple);
            if (ec) break;
            to.expires_after(client_write_timeout);
            auto [wec, wn] = co_await net::async_write(to, net::buffer(data, n), use_tuple);
            if (wec) break;
        }
        error_code ignored;
        to.socket().shutdown(tcp::socket::shutdown_send, ignored);
    };
    using namespace net::experimental::awaitable_operators;
    co_await (transfer(client, upstream) && transfer(upstream, client));
}

template <class Stream>
net::awaitable<daemon_state::fetched> daemon_state::fetch_streamed(const std::string& host, std::uint16_t port,
                                                                   const http::request<http::string_body>& head,
                                                                   incoming& in, Stream& client,
                                                                   beast::flat_buffer& client_buffer) {
    fetched f;
    f.conn = co_await pool_->connect(host, port);
    auto& lowest = beast::get_lowest_layer(f.conn->stream);
    http::request<http::buffer_body> out{head.base()};
    // The framing is ours: the length when the client gave one, else chunked.
    out.erase(http::field::content_length);
    out.erase(http::field::transfer_encoding);
    if (auto len = in.parser.content_length()) out.content_length(*len);
    else out.chunked(true);
    http::request_serializer<http::buffer_body> sr{out};
    auto send = [&](const char* data, std::size_t n, bool more) -> net::awaitable<void> {
        out.body().data = const_cast<char*>(data);
        out.body().size = n;
        out.body().more = more;
        lowest.expires_after(pool_->timeouts().write);
        auto [ec, written] = co_await http::async_write(f.conn->stream, sr, use_tuple);
        if (ec == http::error::need_buffer) ec = {};
        if (ec) throw system_error(ec == beast::error::timeout ? net::error::timed_out : ec, "writing upstream");
    };
    out.body().data = nullptr;
    out.body().more = true;
    lowest.expires_after(pool_->timeouts().write);
    auto [hec, hn] = co_await http::async_write_header(f.conn->stream, sr, use_tuple);
    if (hec) throw system_error(hec == beast::error::timeout ? net::error::timed_out : hec, "writing upstream");
    if (!in.req.body().empty()) co_await send(in.req.body().data(), in.req.body().size(), true);
    std::array<char, 65536> buf;
    while (!in.parser.is_done()) {
        auto n = co_await read_client_body(client, client_buffer, in.parser, buf.data(), buf.size());
        if (n) co_await send(buf.data(), n, true);
    }
    if (!sr.is_done()) co_await send(nullptr, 0, false);
    auto ec = co_await read_answer(f, head.method() == http::verb::head, true);
    if (ec) throw system_error(ec == beast::error::timeout ? net::error::timed_out : ec, "reading upstream header");
    co_return f;
}

template <class Stream>
net::awaitable<void> daemon_state::relay(Stream& client, const http::request<http::string_body>& req, fetched& f,
                                         http::response_header<> header, bool keep_alive) {
    auto& lowest = beast::get_lowest_layer(client);
    auto& p = *f.parser;
    bool bodiless = req.method() == http::verb::head || header.result_int() / 100 == 1 ||
                    header.result() == http::status::no_content || header.result() == http::status::not_modified;
    if (p.is_done() && !bodiless) {
        // Whole body in hand: send it with an exact Content-Length.
        http::response<http::string_body> res{std::move(header), std::move(f.body)};
        res.erase(http::field::transfer_encoding);
        res.keep_alive(keep_alive);
        res.prepare_payload();
        lowest.expires_after(client_write_timeout);
        auto [ec, n] = co_await http::async_write(client, res, use_tuple);
        if (ec) throw system_error(ec, "writing to client");
    } else if (bodiless) {
        http::response<http::empty_body> res{std::move(header)};
        res.keep_alive(keep_alive);
        http::response_serializer<http::empty_body> sr{res};
        lowest.expires_after(client_write_timeout);
        auto [ec, n] = co_await http::async_write_header(client, sr, use_tuple);
        if (ec) throw system_error(ec, "writing to client");
    } else {
        // Stream: whatever was read for inspection first, then the rest as it arrives.
        http::response<http::buffer_body> res{std::move(header)};
        res.keep_alive(keep_alive);
        http::response_serializer<http::buffer_body> sr{res};
        res.body().data = nullptr;
        res.body().more = true;
        lowest.expires_after(client_write_timeout);
        auto [hec, hn] = co_await http::async_write_header(client, sr, use_tuple);
        if (hec) throw system_error(hec, "writing to client");
        auto send = [&](const char* data, std::size_t n, bool more) -> net::awaitable<void> {
            res.body().data = const_cast<char*>(data);
            res.body().size = n;
            res.body().more = more;
            lowest.expires_after(client_write_timeout);
            auto [ec, written] = co_await http::async_write(client, sr, use_tuple);
            if (ec == http::error::need_buffer) ec = {};
            if (ec) throw system_error(ec, "writing to client");
        };
        if (!f.body.empty()) co_await send(f.body.data(), f.body.size(), true);
        std::array<char, 65536> buf;
        while (!p.is_done()) {
            auto n = co_await read_body_some(*f.conn, p, buf.data(), buf.size());
            if (n) co_await send(buf.data(), n, true);
        }
        if (!sr.is_done()) co_await send(nullptr, 0, false);
    }
    if (p.is_done() && p.keep_alive()) pool_->release(std::move(f.conn));
}

// ---------------------------------------------------------------------------------------------
// routing one request

template <class Stream>
net::awaitable<bool> daemon_state::handle_court_request(Stream& client, beast::flat_buffer& client_buffer,
                                                        incoming& in, const std::string& user, const court& c,
                                                        bool path_mode) {
    auto& req = in.req;
    auto snap = snap_;
    auto started = std::chrono::steady_clock::now();
    const bool client_wants_keep_alive = req.keep_alive();  // before the upstream request overwrites it
    if (req.count(http::field::host) > 1) {
        // RFC 9112 §3.2: a request with more than one Host is invalid; never guess which one counts.
        const refusal r{400, {}, "the request has more than one Host header"};
        co_return co_await write_refusal(client, req, r, c.id, "none");
    }
    auto& rf = runtime_[user];
    rf.courts_used.insert(c.id);
    auto facts = facts_for(user);
    auto d = decide(c, facts, today(), snap->cfg.unlinked, unix_now());
    auto route_name = std::string(to_string(d.via));

    auto log_done = [&](unsigned status, std::string_view outcome) {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
        log::event("request", {{"user", user}, {"court", c.id}, {"route", route_name}, {"method", req.method_string()},
                               {"status", std::to_string(status)}, {"outcome", outcome},
                               {"ms", std::to_string(ms.count())}});
    };

    // Client code: the request's header, else the stored one. Never forwarded.
    std::string client_code = facts.pacer ? facts.pacer->client_code : "";
    if (auto it = req.find("Courtroute-Client-Code"); it != req.end()) {
        std::string code(trim(it->value()));
        bool ok = !code.empty() && code.size() <= 32 && std::all_of(code.begin(), code.end(), [](char ch) {
            return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
        });
        if (!ok) {
            log_done(400, "bad_client_code");
            const refusal r{400, {}, "Courtroute-Client-Code must be 1-32 letters, digits, '.', '-' or '_'"};
            co_return co_await write_refusal(client, req, r, c.id, route_name);
        }
        client_code = code;
        req.erase("Courtroute-Client-Code");
    }

    // A logout click would end the session every tool of this user shares (PACER's one token
    // serves all NextGen courts): answer it here and keep the session.
    {
        std::string_view target = req.target();
        auto q = target.find('?');
        if (target.substr(0, q) == "/cgi-bin/login.pl" && q != std::string_view::npos &&
            target.substr(q + 1).starts_with("logout")) {
            log_done(200, "logout_kept");
            const std::string body =
                "<html><body><p>courtroute keeps this court session for all of your tools, so it was not ended. "
                "Close this window; courtroute logs out when your credential is replaced or removed.</p></body></html>\n";
            co_return co_await write_simple(client, req, http::status::ok, "text/html; charset=utf-8", body);
        }
    }

    if (d.refusal_status) {
        log_done(d.refusal_status, "refused");
        const refusal r{static_cast<unsigned>(d.refusal_status), d.warnings, {}};
        co_return co_await write_refusal(client, req, r, c.id, route_name);
    }

    // The upstream request: client headers minus hop-by-hop and credentials, our cookies in.
    strip_hop_by_hop(req.base());
    req.erase(http::field::authorization);
    req.erase(http::field::expect);
    req.erase(http::field::transfer_encoding);  // the body is in hand: prepare_payload frames it
    req.set(http::field::host, c.host);
    req.set(http::field::accept_encoding, "identity");  // we must be able to read login pages
    std::string client_cookies;
    for (auto it = req.find(http::field::cookie); it != req.end() && it->name() == http::field::cookie; ++it) {
        if (!client_cookies.empty()) client_cookies += "; ";
        client_cookies += it->value();
    }
    client_cookies = auth::scrub_cookie_header(client_cookies);
    req.version(11);
    req.keep_alive(true);
    bool client_keep = true;

    for (int attempt = 0; attempt < 2; ++attempt) {
        session_ticket ticket;
        fetched f;
        std::optional<refusal> refused;
        std::string outcome;
        try {
            ticket = co_await obtain_session(*snap, user, c, d.via, client_code);
            std::vector<std::pair<std::string, std::string>> ours;
            if (d.via == route::pacer) {
                ours = {{"NextGenCSO", ticket.token}, {"PacerSession", ticket.token}};
                if (!client_code.empty()) ours.emplace_back("PacerClientCode", client_code);
            } else {
                ours = {{"PacerSession", ticket.token}};
            }
            auto cookie = auth::inject_cookies(client_cookies, ours);
            if (!cookie || has_ctl_breaks(*cookie)) throw refusal_error({502, {}, "the session token is not a valid cookie"});
            req.set(http::field::cookie, *cookie);
            // Not a ?: with two co_awaits (GCC 12 destroys such temporaries twice).
            if (in.body_pending) {
                f = co_await fetch_streamed(c.host, 443, req, in, client, client_buffer);
            } else {
                req.prepare_payload();
                f = co_await fetch(c.host, 443, req, true);
            }
        } catch (const refusal_error& e) {
            refused = e.r;
            outcome = "login_refused";
        } catch (const system_error& e) {
            bool timeout = e.code() == net::error::timed_out;
            outcome = timeout ? "upstream_timeout" : "upstream_error";
            refused = refusal{timeout ? 504u : 502u, {},
                              std::string("courtroute could not get an answer from ") + c.host + ": " +
                                  e.code().message() + ". Try again later."};
        }
        if (refused) {
            log_done(refused->status, outcome);
            req.keep_alive(client_wants_keep_alive);  // the refusal answers the client's request, not ours
            co_return co_await write_refusal(client, req, *refused, c.id, route_name);
        }

        auto& res = f.parser->get();
        auto location = std::string(res[http::field::location]);
        bool logged_out = auth::looks_logged_out(res.result_int(), location, res[http::field::content_type], f.body);
        if (logged_out) {
            if (attempt == 0 && !ticket.fresh) {
                // Expired: log in again and repeat once. The connection's rest is not worth reading.
                sessions_.invalidate(ticket.key, ticket.token, std::chrono::steady_clock::now());
                log::event("session_expired", {{"user", user}, {"court", c.id}, {"route", route_name}});
                // A streamed body is gone and cannot be repeated: the court's answer goes back,
                // and the next request logs in again.
                if (!in.body_pending) continue;
            } else {
                // A fresh session and still "not logged in": do not loop, say so.
                rf.session_rejected.insert(c.id);
            }
        } else {
            rf.session_rejected.erase(c.id);
            if (d.via == route::pacer && f.parser->is_done() && !f.body.empty()) {
                bool linked = facts.links.contains(c.id);
                bool full = auth::shows_filing_menus(to_string(c.type), f.body);
                bool limited = auth::shows_limited_menu(f.body);
                if ((linked && limited && !full) || (!linked && full && !facts.pacer->shared))
                    rf.link_mismatch.insert(c.id);
                else if (full || limited)
                    rf.link_mismatch.erase(c.id);
            }
        }
        // Warnings as of now (runtime facts may have changed during this request).
        auto now_facts = facts_for(user);
        auto final_d = decide(c, now_facts, today(), snap->cfg.unlinked, unix_now());

        http::response_header<> header = res.base();
        strip_hop_by_hop(header);
        for (auto it = header.find(http::field::set_cookie); it != header.end();) {
            if (it->name() != http::field::set_cookie) break;
            if (auth::is_managed_set_cookie(it->value())) it = header.erase(it);
            else ++it;
        }
        if (path_mode) {
            if (auto it = header.find(http::field::location); it != header.end()) {
                std::string loc(it->value());
                if (auto u = parse_url(loc)) {
                    if (const court* to = snap->reg->find_host(u->host); to && u->scheme == "https")
                        header.set(http::field::location, "/court/" + to->id + u->target);
                } else if (!loc.empty() && loc.front() == '/' && !loc.starts_with("//")) {
                    header.set(http::field::location, "/court/" + c.id + loc);
                }
            }
        }
        header.set("Courtroute-Route", route_name);
        for (auto& w : final_d.warnings) {
            auto value = w.header_value();
            if (!has_ctl_breaks(value)) header.insert("Courtroute-Warning", value);
        }
        client_keep = client_wants_keep_alive && !stopping_;
        header.version(11);
        metrics_.request(c.id, route_name, header.result_int());
        log_done(header.result_int(), logged_out ? "session_rejected" : "ok");
        try {
            co_await relay(client, req, f, std::move(header), client_keep);
        } catch (const std::exception& e) {
            log::event("relay_failed", {{"user", user}, {"court", c.id}, {"error", e.what()}});
            co_return false;
        }
        co_return client_keep;
    }
    co_return false;
}

// ---------------------------------------------------------------------------------------------

int run_daemon(const std::filesystem::path& config, bool explicitly_named) {
    net::io_context io(1);
    daemon_state state(io, config, explicitly_named);
    std::shared_ptr<const snapshot> snap;
    if (!state.load(snap)) return 1;
    try {
        state.start(std::move(snap));
    } catch (const std::exception& e) {
        log::event("start_failed", {{"error", e.what()}});
        return 1;
    }
    io.run();
    log::event("stopped");
    return 0;
}

} // namespace courtroute::proxy
