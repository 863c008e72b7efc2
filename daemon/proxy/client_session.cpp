#include "proxy/client_session.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "core/log.hpp"
#include "core/text.hpp"
#include "proxy/daemon.hpp"
#include "proxy/http_wire.hpp"
#include "proxy/listener.hpp"
#include "proxy/worker.hpp"
#include "routing/answer.hpp"
#include "routing/classify.hpp"
#include "fees/receipt.hpp"
#include "routing/request.hpp"
#include "status/pac.hpp"
#include "status/page.hpp"

namespace courtroute::proxy {
namespace {

using namespace std::chrono_literals;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t header_limit = 64 * 1024;           // larger request headers get 431
constexpr std::uint64_t request_body_limit = 4ull << 30;  // larger uploads get 413
constexpr std::size_t replay_limit = 8u << 20;            // bodies up to this are held, so a re-login can repeat them
constexpr std::size_t idle_read_size = 4096;              // first read of a request on an idle keep-alive connection
constexpr auto client_header_timeout = 30s;               // slow-header clients are cut off
constexpr auto client_idle_timeout = 60s;                 // keep-alive between requests
constexpr auto client_write_timeout = 60s;

/// One client request as read so far. The header (and a body up to `replay_limit`, held so a
/// re-login can repeat the request) is in `req`; a larger body is still on the wire and is
/// streamed upstream from `parser` (and cannot be repeated).
struct incoming {
    http::request_parser<http::buffer_body> parser; ///< reads the header, then streams a large body
    http::request<http::string_body> req;           ///< the header, plus the whole body when small
    bool body_pending = false;                      ///< `req.body()` is only the start; the rest streams
};

/// Every Cookie header joined with "; " (views when there is one, a copy when several).
std::string_view joined_cookies(const http::fields& f, std::string& storage) {
    auto range = f.equal_range(http::field::cookie);
    if (range.first == range.second) return {};
    if (std::next(range.first) == range.second) return range.first->value();
    for (auto it = range.first; it != range.second; ++it) {
        if (!storage.empty()) storage += "; ";
        storage += it->value();
    }
    return storage;
}

class client_session {
public:
    client_session(worker& w, tcp::socket socket)
        : w_(w), d_(w.owner), stream_(std::move(socket)), entry_(w.add_connection(stream_.socket())) {}

    ~client_session() {
        w_.remove_connection(entry_);
        d_.front->connection_closed();
    }

    net::awaitable<void> run() {
        beast::flat_buffer buffer;
        while (!d_.stopping) {
            incoming in;
            entry_->busy = false;
            if (!co_await read_request(stream_, buffer, in)) break;
            auto snap = w_.config();  // held for the whole request: the court reference lives in it
            auto& req = in.req;
            const std::string host_value(req[http::field::host]);
            routing::request_line line{req.method_string(), req.target(), req.count(http::field::host), host_value};
            auto what = routing::classify_plain(line, *snap->reg);
            bool keep = false;
            if (auto* c = std::get_if<routing::connect_request>(&what)) {
                co_await handle_connect(buffer, req, *c, *snap);
                co_return;  // the connection became a tunnel (or was refused and closed)
            } else if (auto* refused = std::get_if<routing::refusal>(&what)) {
                keep = co_await write_refusal(stream_, req, *refused, "", "none");
            } else if (auto foreign = local_origin_problem(req, *snap)) {
                // Local pages and path mode: only for requests addressed to this listener, not
                // to a name an attacker points at it, and not sent by a browser from another site.
                keep = co_await write_refusal(stream_, req, *foreign, "", "none");
            } else if (auto* p = std::get_if<routing::local_endpoint>(&what)) {
                std::optional<routing::refusal> down;
                try {
                    keep = co_await serve_local(req, p->which, *snap);
                } catch (const store_unavailable& e) {
                    down = store_refusal(e);
                }
                if (down) keep = co_await write_refusal(stream_, req, *down, "", "none");
            } else {
                auto& cr = std::get<routing::court_request>(what);
                std::optional<routing::refusal> down;
                try {
                    auto user = authenticate(req, http::field::authorization, scheme::bearer, *snap);
                    if (!user) {
                        keep = co_await write_refusal(stream_, req,
                                                      routing::credentials_required(routing::credentials_for::path_mode),
                                                      cr.target->id, "none");
                    } else {
                        keep = co_await forward(stream_, buffer, in, *user, cr, *snap);
                    }
                } catch (const store_unavailable& e) {
                    down = store_refusal(e);
                }
                if (down) keep = co_await write_refusal(stream_, req, *down, cr.target->id, "none");
            }
            // A local answer left an unread body on the wire: the connection is out of step.
            if (!keep || (in.body_pending && !in.parser.is_done())) break;
        }
        error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }

private:
    // ------------------------------------------------------------------------------------------
    // reading and writing

    template <class Stream>
    net::awaitable<std::size_t> read_client_body(Stream& stream, beast::flat_buffer& buffer,
                                                 http::request_parser<http::buffer_body>& p, char* buf, std::size_t cap,
                                                 error_code& ec) {
        p.get().body().data = buf;
        p.get().body().size = cap;
        beast::get_lowest_layer(stream).expires_after(client_header_timeout);
        std::size_t n = 0;
        std::tie(ec, n) = co_await http::async_read(stream, buffer, p, use_tuple);
        if (ec == http::error::need_buffer) ec = {};
        co_return ec ? 0 : cap - p.get().body().size;
    }

    template <class Stream>
    net::awaitable<bool> read_request(Stream& stream, beast::flat_buffer& buffer, incoming& in) {
        auto& parser = in.parser;
        parser.header_limit(header_limit);
        parser.body_limit(request_body_limit);
        auto& lowest = beast::get_lowest_layer(stream);
        error_code ec;
        std::size_t n = 0;
        if (buffer.size() == 0) {
            // Idle keep-alive: wait for the first bytes of the next request under the idle timer,
            // holding only a small buffer meanwhile (most of what an idle connection costs)...
            buffer.shrink_to_fit();
            lowest.expires_after(client_idle_timeout);
            std::tie(ec, n) = co_await stream.async_read_some(buffer.prepare(idle_read_size), use_tuple);
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
            auto te = req.count(http::field::transfer_encoding);
            if (te > 1 || (te == 1 && !iequals(trim(req[http::field::transfer_encoding]), "chunked")))
                ec = http::error::bad_transfer_encoding;
        }
        if (!ec) {
            entry_->busy = true;
            // The body stays on the wire until the request is authenticated and headed for a
            // court (hold_body): nobody makes the daemon buffer megabytes without a token.
            in.req.base() = parser.is_done() ? std::move(parser.get().base()) : parser.get().base();
            in.body_pending = !parser.is_done();
            co_return true;
        }
        co_return co_await answer_read_error(stream, ec);
    }

    /// After authentication: answers `Expect: 100-continue`, and holds a body small enough to
    /// repeat after a re-login; a larger one stays on the wire for `forward` to stream.
    template <class Stream>
    net::awaitable<bool> hold_body(Stream& stream, beast::flat_buffer& buffer, incoming& in) {
        if (!in.body_pending) co_return true;
        auto& parser = in.parser;
        auto& lowest = beast::get_lowest_layer(stream);
        error_code ec;
        if (auto it = in.req.find(http::field::expect); it != in.req.end() && iequals(it->value(), "100-continue")) {
            http::response<http::empty_body> cont{http::status::continue_, in.req.version()};
            lowest.expires_after(client_write_timeout);
            std::tie(ec, std::ignore) = co_await http::async_write(stream, cont, use_tuple);
            if (ec) co_return false;
        }
        auto len = parser.content_length();
        if (len && *len > replay_limit) co_return true;
        auto& body = in.req.body();
        while (!parser.is_done() && !ec) {
            // Straight into the body (no buffer in the coroutine frame).
            auto left = parser.content_length_remaining();
            std::size_t chunk = left && *left ? static_cast<std::size_t>(std::min<std::uint64_t>(*left, 65536)) : 16384;
            auto old = body.size();
            body.resize(old + chunk);
            auto got = co_await read_client_body(stream, buffer, parser, body.data() + old, chunk, ec);
            body.resize(old + got);
            if (body.size() >= replay_limit && !parser.is_done()) co_return !ec;  // a long chunked body: the rest streams
        }
        if (!ec) {
            in.body_pending = false;
            co_return true;
        }
        co_return co_await answer_read_error(stream, ec);
    }

    /// A read that failed: nothing to say when the client went away or timed out; otherwise the
    /// request was malformed or oversized, answered with why, and the connection ends (the
    /// stream is out of step). Always false: the connection is done.
    template <class Stream>
    net::awaitable<bool> answer_read_error(Stream& stream, error_code ec) {
        auto& lowest = beast::get_lowest_layer(stream);
        if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
            ec == net::error::operation_aborted || ec == net::error::connection_reset ||
            ec == ssl::error::stream_truncated)
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
        res.body() = std::move(text);
        res.prepare_payload();
        lowest.expires_after(client_write_timeout);
        co_await http::async_write(stream, res, use_tuple);
        co_return false;
    }

    bool keep_alive_after(const http::request<http::string_body>& req) const { return req.keep_alive() && !d_.stopping; }

    /// Sets Content-Length; an answer to HEAD keeps it (what GET would carry) but sends no body.
    static void without_body_for_head(const http::request<http::string_body>& req,
                                      http::response<http::string_body>& res) {
        res.prepare_payload();
        if (req.method() != http::verb::head) return;
        auto n = res.body().size();
        res.body().clear();
        res.content_length(n);
    }

    template <class Stream>
    net::awaitable<bool> write_simple(Stream& stream, const http::request<http::string_body>& req, http::status status,
                                      std::string_view content_type, std::string body) {
        http::response<http::string_body> res{status, req.version()};
        res.set(http::field::content_type, content_type);
        res.set(http::field::cache_control, "no-store");
        res.keep_alive(keep_alive_after(req));
        res.body() = std::move(body);
        without_body_for_head(req, res);
        beast::get_lowest_layer(stream).expires_after(client_write_timeout);
        auto [ec, n] = co_await http::async_write(stream, res, use_tuple);
        co_return !ec && res.keep_alive();
    }

    template <class Stream>
    net::awaitable<bool> write_refusal(Stream& stream, const http::request<http::string_body>& req, const routing::refusal& r,
                                       std::string_view court, std::string_view route_name) {
        http::response<http::string_body> res{static_cast<http::status>(r.status), req.version()};
        res.set(http::field::content_type, "text/plain; charset=utf-8");
        res.set(http::field::cache_control, "no-store");
        if (!r.extra_header.empty()) res.set(r.extra_header, r.extra_value);
        for (const auto& w : r.warnings)
            if (auto value = w.header_value(); !has_ctl_breaks(value)) res.insert("Courtroute-Warning", value);
        res.body() = r.body();
        res.keep_alive(keep_alive_after(req));
        without_body_for_head(req, res);
        w_.stats.request(court, route_name, r.status);
        beast::get_lowest_layer(stream).expires_after(client_write_timeout);
        auto [ec, n] = co_await http::async_write(stream, res, use_tuple);
        co_return !ec && res.keep_alive();
    }

    // ------------------------------------------------------------------------------------------
    // local pages and authentication

    std::optional<routing::refusal> local_origin_problem(const http::request<http::string_body>& req,
                                                         const snapshot& snap) {
        routing::origin_facts facts;
        facts.host = req[http::field::host];
        if (auto it = req.find(http::field::origin); it != req.end()) {
            facts.has_origin = true;
            facts.origin = it->value();
        }
        facts.sec_fetch_site = req["Sec-Fetch-Site"];
        auto problem = routing::check_local_origin(facts, snap.cfg.listen_proxy);
        if (problem) log::event("foreign_origin_refused", {{"host", facts.host}, {"origin", facts.origin}});
        return problem;
    }

    net::awaitable<bool> serve_local(const http::request<http::string_body>& req, routing::local_page page,
                                     const snapshot& snap) {
        switch (page) {
        case routing::local_page::healthz:
            co_return co_await write_simple(stream_, req, http::status::ok, "text/plain", "ok\n");
        case routing::local_page::status: {
            // A user sees their own entry; everyone's is the administrator's, over the admin socket.
            auto user = authenticate(req, http::field::authorization, scheme::either, snap);
            if (!user)
                co_return co_await write_refusal(stream_, req, routing::credentials_required(routing::credentials_for::status),
                                                 "", "none");
            auto body = d_.status_json(*user);
            co_return co_await write_simple(stream_, req, http::status::ok, "application/json", std::move(body));
        }
        case routing::local_page::pac: {
            // No credentials: a browser fetches it before it can answer a challenge, and it holds
            // only the registry's public host names.
            auto proxy = pac_proxy_authority(req[http::field::host], snap.cfg.listen_proxy);
            co_return co_await write_simple(stream_, req, http::status::ok, "application/x-ns-proxy-autoconfig",
                                            proxy_pac(*snap.reg, proxy));
        }
        case routing::local_page::home: {
            // A browser cannot add a bearer token: the Basic challenge makes it ask once.
            auto user = authenticate(req, http::field::authorization, scheme::either, snap);
            if (!user)
                co_return co_await write_refusal(stream_, req, routing::credentials_required(routing::credentials_for::page),
                                                 "", "none");
            http::response<http::string_body> res{http::status::ok, req.version()};
            res.set(http::field::content_type, "text/html; charset=utf-8");
            res.set(http::field::cache_control, "no-store");
            res.set("Content-Security-Policy", status_page_csp);
            res.set("X-Content-Type-Options", "nosniff");
            res.set("X-Frame-Options", "DENY");
            res.set("Referrer-Policy", "no-referrer");
            res.keep_alive(keep_alive_after(req));
            res.body() = status_page(d_.status_doc(*user), *user, *snap.reg, unix_now());
            without_body_for_head(req, res);
            beast::get_lowest_layer(stream_).expires_after(client_write_timeout);
            auto [ec, n] = co_await http::async_write(stream_, res, use_tuple);
            co_return !ec && res.keep_alive();
        }
        case routing::local_page::metrics: {
            // Each worker's counters are read on its own thread, then merged here.
            metrics all;
            std::uint64_t upstream_connects = 0;
            for (auto& other : d_.workers) {
                auto part = co_await net::co_spawn(
                    other->io,
                    [&o = *other]() -> net::awaitable<std::pair<metrics, std::uint64_t>> {
                        co_return std::pair{o.stats, o.upstream.connects()};
                    },
                    net::use_awaitable);
                all.merge(part.first);
                upstream_connects += part.second;
            }
            auto body = all.render(snap.leaves->minted(), snap.leaves->hits(), upstream_connects, d_.logins.size(),
                                   d_.connections.load());
            co_return co_await write_simple(stream_, req, http::status::ok, "text/plain; version=0.0.4",
                                            std::move(body));
        }
        }
        co_return false;
    }

    /// Which credentials a place accepts (CONTRACT §4, §6): path mode takes a Bearer token, the
    /// proxy takes Basic (what browsers can send), local pages take either.
    enum class scheme { bearer, basic, either };

    /// The answer to a request that needed an unreachable store (a server store's outage).
    static routing::refusal store_refusal(const store_unavailable& e) {
        routing::refusal r;
        r.status = 503;
        r.outcome = "store_unreachable";
        r.text = e.what();
        return r;
    }

    /// The local user a request speaks for: the token in `field` in one of the accepted schemes,
    /// else `policy.anonymous_user`, else nobody.
    std::optional<std::string> authenticate(const http::request<http::string_body>& req, http::field field,
                                            scheme accepted, const snapshot& snap) {
        w_.users.refresh();  // token, credentials and links as the CLI left them
        auto it = req.find(field);
        if (it == req.end()) {
            if (!snap.cfg.anonymous_user.empty()) return snap.cfg.anonymous_user;
            return std::nullopt;
        }
        // A keep-alive client sends the same credentials every time: remembered per connection
        // until anything in the directory changes (a rotated token, a removed user).
        auto epoch = d_.users->epoch();
        if (!auth_user_.empty() && auth_epoch_ == epoch && it->value() == auth_value_) return auth_user_;
        std::optional<std::string> user;
        if (auto token = routing::bearer_token(it->value()); token && accepted != scheme::basic) {
            user = w_.users.user_for_token(*token);
        } else if (auto cred = routing::basic_credentials(it->value()); cred && accepted != scheme::bearer) {
            user = w_.users.user_for_token(cred->second);
            if (user && *user != cred->first) user.reset();
        }
        if (user) {
            auth_value_ = it->value();
            auth_user_ = *user;
            auth_epoch_ = epoch;
        }
        return user;
    }

    /// Whether the credentials that opened this connection still name `user`: checked again
    /// only when the directory changed since (a rotated token, a removed user, a reload).
    bool still_authorized(const std::string& user, const snapshot& snap) {
        if (auth_value_.empty()) return snap.cfg.anonymous_user == user;  // let in as the anonymous user
        auto epoch = d_.users->epoch();
        if (epoch == auth_epoch_) return true;
        auto cred = routing::basic_credentials(auth_value_);
        auto now = cred ? w_.users.user_for_token(cred->second) : std::nullopt;
        if (!now || *now != user || cred->first != user) return false;
        auth_epoch_ = epoch;
        return true;
    }

    // ------------------------------------------------------------------------------------------
    // CONNECT

    net::awaitable<void> handle_connect(beast::flat_buffer& buffer, const http::request<http::string_body>& req,
                                        const routing::connect_request& c, const snapshot& snap) {
        std::optional<std::string> user;
        std::optional<routing::refusal> down;
        try {
            user = authenticate(req, http::field::proxy_authorization, scheme::basic, snap);
        } catch (const store_unavailable& e) {
            down = store_refusal(e);
        }
        if (down) {
            co_await write_refusal(stream_, req, *down, "", "none");
            co_return;
        }
        if (!user) {
            co_await write_refusal(stream_, req, routing::credentials_required(routing::credentials_for::proxy), "", "none");
            co_return;
        }
        auto what = routing::decide_connect(c.to, *snap.reg, snap.cfg, snap.ca->permits(c.to.host));
        if (auto* r = std::get_if<routing::refusal>(&what)) {
            if (r->outcome == "ca_not_permitted")
                log::event("connect_refused", {{"user", *user}, {"host", c.to.host}, {"reason", "ca_not_permitted"},
                                               {"action", "run courtroute ca --rotate"}});
            else
                log::event("connect_refused", {{"user", *user}, {"host", c.to.host}});
            co_await write_refusal(stream_, req, *r, "", "none");
            co_return;
        }
        if (auto* b = std::get_if<routing::blind_tunnel>(&what)) {
            co_await blind_tunnel(buffer, b->to, req);
            co_return;
        }
        const std::string host = c.to.host;
        // Intercept: answer 200, then speak TLS as the court with a leaf from the local CA.
        {
            http::response<http::empty_body> ok{http::status::ok, req.version()};
            ok.reason("Connection established");
            http::response_serializer<http::empty_body> sr{ok};
            stream_.expires_after(client_write_timeout);
            auto [ec, n] = co_await http::async_write_header(stream_, sr, use_tuple);
            if (ec) co_return;
        }
        auto ctx = snap.leaves->server_context(host);
        tls_stream tls(std::move(stream_), *ctx);
        entry_->socket = &beast::get_lowest_layer(tls).socket();
        beast::get_lowest_layer(tls).expires_after(client_header_timeout);
        auto [hec, used] = co_await tls.async_handshake(ssl::stream_base::server, buffer.data(), use_tuple);
        if (hec) {
            log::event("client_tls_failed", {{"user", *user}, {"host", host}, {"error", hec.message()}});
            co_return;
        }
        buffer.consume(used);  // all of it: bytes past the ClientHello stay with the TLS stream
        buffer.shrink_to_fit();
        // The SNI must name the CONNECT host: anything else is a domain-fronting attempt.
        const char* sni = SSL_get_servername(tls.native_handle(), TLSEXT_NAMETYPE_host_name);
        if (sni && !iequals(sni, host)) {
            log::event("sni_mismatch", {{"user", *user}, {"host", host}, {"sni", sni}});
            co_return;
        }
        co_await serve_tunnel(tls, host, *user);
        beast::get_lowest_layer(tls).expires_after(5s);
        co_await tls.async_shutdown(use_tuple);
    }

    net::awaitable<void> serve_tunnel(tls_stream& stream, const std::string& host, const std::string& user) {
        beast::flat_buffer buffer;
        while (!d_.stopping) {
            incoming in;
            entry_->busy = false;
            if (!co_await read_request(stream, buffer, in)) co_return;
            auto snap = w_.config();
            auto& req = in.req;
            w_.users.refresh();  // the tunnel authenticated once; the store may have changed since
            bool authorized = true;
            try {
                authorized = still_authorized(user, *snap);
            } catch (const store_unavailable&) {
                // The tunnel was authenticated; with the store away nothing could have revoked it.
            }
            if (!authorized) {
                // The token that opened this tunnel was rotated, or the user removed: the
                // tunnel ends here; the client reconnects with its new token.
                log::event("tunnel_closed", {{"user", user}, {"host", host}, {"reason", "token no longer valid"}});
                routing::refusal r;
                r.status = 403;
                r.outcome = "token_revoked";
                r.text = "the token that opened this connection is no longer valid (rotated or removed); "
                         "reconnect with the current token";
                req.keep_alive(false);
                co_await write_refusal(stream, req, r, "", "none");
                co_return;
            }
            const std::string host_value(req[http::field::host]);
            routing::request_line line{req.method_string(), req.target(), req.count(http::field::host), host_value};
            auto what = routing::classify_in_tunnel(line, host, *snap->reg);
            if (auto* r = std::get_if<routing::refusal>(&what)) {
                if (r->outcome == "host_mismatch")
                    log::event("host_mismatch", {{"user", user}, {"connect", host}, {"host", host_value}});
                const court* c = snap->reg->find_host(host);
                const std::string court_id = c ? c->id : "";
                co_await write_refusal(stream, req, *r, court_id, "none");
                co_return;
            }
            auto& cr = std::get<routing::court_request>(what);
            std::optional<routing::refusal> down;
            bool keep = false;
            try {
                keep = co_await forward(stream, buffer, in, user, cr, *snap);
            } catch (const store_unavailable& e) {
                down = store_refusal(e);
            }
            if (down) keep = co_await write_refusal(stream, req, *down, cr.target->id, "none");
            if (!keep) co_return;
            if (in.body_pending && !in.parser.is_done()) co_return;  // a refusal left the body unread
        }
    }

    net::awaitable<void> blind_tunnel(beast::flat_buffer& buffer, const authority& to,
                                      const http::request<http::string_body>& req) {
        upstream_error err;
        auto connected = co_await w_.upstream.connect_tcp(to.host, to.port, err);
        if (!connected) {
            routing::refusal r;
            r.status = 502;
            r.text = "cannot reach " + to.host + ": " + err.detail;
            co_await write_refusal(stream_, req, r, "", "tunnel");
            co_return;
        }
        auto& upstream = *connected;
        {
            http::response<http::empty_body> ok{http::status::ok, req.version()};
            ok.reason("Connection established");
            http::response_serializer<http::empty_body> sr{ok};
            auto [ec, n] = co_await http::async_write_header(stream_, sr, use_tuple);
            if (ec) co_return;
        }
        if (buffer.size()) {
            auto [ec, n] = co_await net::async_write(upstream.socket(), buffer.data(), use_tuple);
            if (ec) co_return;
            buffer.consume(n);
        }
        w_.stats.request("", "tunnel", 200);
        auto transfer = [](beast::tcp_stream& from, beast::tcp_stream& to_) -> net::awaitable<void> {
            std::array<char, 16384> data;
            for (;;) {
                from.expires_after(std::chrono::minutes(10));
                auto [ec, n] = co_await from.async_read_some(net::buffer(data), use_tuple);
                if (ec) break;
                to_.expires_after(client_write_timeout);
                auto [wec, wn] = co_await net::async_write(to_, net::buffer(data, n), use_tuple);
                if (wec) break;
            }
            error_code ignored;
            to_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        };
        using namespace net::experimental::awaitable_operators;
        co_await (transfer(stream_, upstream) && transfer(upstream, stream_));
    }

    // ------------------------------------------------------------------------------------------
    // one request to a court

    template <class Stream>
    net::awaitable<bool> forward(Stream& client, beast::flat_buffer& client_buffer, incoming& in,
                                 const std::string& user, const routing::court_request& cr, const snapshot& snap) {
        if (!co_await hold_body(client, client_buffer, in)) co_return false;
        auto& req = in.req;
        const court& c = *cr.target;
        const auto started = clock_type::now();
        auto facts = w_.users.facts(user);
        if (!facts->runtime.courts_used.contains(c.id)) d_.users->note_court_used(user, c.id);

        std::string cookie_storage;
        routing::request_head head;
        head.method = req.method_string();
        head.target = cr.upstream_target;
        head.host_headers = req.count(http::field::host);
        if (auto it = req.find("Courtroute-Client-Code"); it != req.end()) {
            head.client_code_headers = req.count("Courtroute-Client-Code");
            head.client_code = it->value();
        }
        head.cookies = joined_cookies(req, cookie_storage);
        head.connection = req[http::field::connection];
        head.body_held = !in.body_pending;
        const auto today = w_.today();
        const auto now_unix = unix_now();
        auto decision = routing::plan_request(head, {c, *facts, cr.host, snap.cfg.unlinked, today, now_unix});

        std::string_view route_name = "none";
        std::string_view billed_code;  // the plan's client code, once there is a plan
        const std::string method(req.method_string());
        auto log_done = [&](unsigned status, std::string_view outcome, std::int64_t bytes = 0) {
            auto us = std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - started).count();
            log::event("request", {{"user", user}, {"court", c.id}, {"route", route_name},
                                   {"method", method}, {"status", std::to_string(status)},
                                   {"outcome", outcome}, {"ms", std::to_string(us / 1000)}});
            // The audit trail: the login name used (never a secret), the path without its query.
            std::string login;
            if (route_name == "pacer" && facts->pacer) login = facts->pacer->login;
            else if (auto e = facts->ecf.find(c.id); route_name == "cmecf" && e != facts->ecf.end()) login = e->second.login;
            d_.users->note_request(audit_record{now_unix, user, c.id, std::string(route_name), std::move(login),
                                                std::string(billed_code), method,
                                                cr.upstream_target.substr(0, cr.upstream_target.find('?')),
                                                static_cast<int>(status), bytes, us / 1000});
        };
        if (auto* r = std::get_if<routing::refusal>(&decision)) {
            log_done(r->status, r->outcome);
            co_return co_await write_refusal(client, req, *r, c.id, route_name);
        }
        if (auto* a = std::get_if<routing::local_answer>(&decision)) {
            log_done(a->status, a->outcome);
            co_return co_await write_simple(client, req, static_cast<http::status>(a->status), a->content_type,
                                            std::move(a->body));
        }
        auto& plan = std::get<routing::forward_plan>(decision);
        route_name = to_string(plan.via);
        billed_code = plan.client_code;
        const bool client_keep = req.keep_alive();  // before the upstream request overwrites it

        // The upstream request: the client's header minus what the plan strips, plus what it sets.
        for (auto it = req.begin(); it != req.end();) {
            if (routing::is_stripped(it->name_string(), plan)) it = req.erase(it);
            else ++it;
        }
        for (const auto& [name, value] : plan.set) req.set(name, value);
        req.target(plan.target);
        req.version(11);

        if (plan.acms != auth::acms::host_kind::other) {
            co_return co_await forward_acms(client, client_buffer, in, user, c, plan, client_keep, log_done);
        }
        if (snap.cfg.fees.any()) {
            // PACER fee budgets: a warning once a limit is reached; a document's fetch that would
            // pass one is refused (402) before the court charges it, when [fees] action = "block".
            const std::string path = cr.upstream_target.substr(0, cr.upstream_target.find('?'));
            const bool fetches_document =
                fees::is_document_path(path) &&
                (method == "POST" || icontains(cr.upstream_target, "got_receipt=1"));
            const auto quote =
                fetches_document ? d_.users->latest_quote(user, c.id, fees::document_key(cr.upstream_target)).value_or(0) : 0;
            const auto [by_user, by_code] =
                d_.users->spent(user, plan.client_code, budget_period_start(snap.cfg.fees.period, now_unix));
            auto verdict = check_budget(snap.cfg.fees, user, plan.client_code, by_user, by_code, quote, c.id);
            if (verdict.block) {
                routing::refusal r;
                r.status = 402;
                r.outcome = "fee_budget";
                r.text = std::move(verdict.text);
                r.warnings = std::move(verdict.warnings);
                log_done(r.status, r.outcome);
                co_return co_await write_refusal(client, req, r, c.id, route_name);
            }
            for (auto& w : verdict.warnings) plan.warnings.push_back(std::move(w));
        }
        for (int attempt = 0; attempt < 2; ++attempt) {
            auto got = co_await d_.logins.session_for(w_, plan, c);
            if (auto* r = std::get_if<routing::refusal>(&got)) {
                log_done(r->status, r->outcome);
                req.keep_alive(client_keep);  // the refusal answers the client's request, not ours
                co_return co_await write_refusal(client, req, *r, c.id, route_name);
            }
            auto ticket = std::get<login_service::ticket>(std::move(got));
            if (ticket.fresh) {
                // A login for this request may have brought news (PACER's notice): warn as of now.
                w_.users.refresh();
                facts = w_.users.facts(user);
                plan.warnings = decide(c, *facts, today, snap.cfg.unlinked, now_unix).warnings;
            }
            auto cookie = routing::upstream_cookie(plan, ticket.token);
            if (!cookie) {
                routing::refusal r;
                r.status = 502;
                r.text = "the session token is not a valid cookie";
                log_done(r.status, "bad_token");
                req.keep_alive(client_keep);
                co_return co_await write_refusal(client, req, r, c.id, route_name);
            }
            req.set(http::field::cookie, *cookie);
            const auto sent = clock_type::now();
            fetched f = co_await send_upstream(client, client_buffer, in, plan);
            if (f.error) {
                auto r = routing::upstream_refusal(f.error.fault, plan.host, f.error.detail);
                log_done(r.status, r.outcome);
                req.keep_alive(client_keep);
                co_return co_await write_refusal(client, req, r, c.id, route_name);
            }
            w_.stats.upstream_latency(std::chrono::duration<double>(clock_type::now() - sent).count());

            auto& res = f.parser->get();
            routing::answer_head answer{res.result_int(), res[http::field::location], res[http::field::content_type],
                                        f.body, f.parser->is_done()};
            routing::answer_context actx{plan, c, *snap.reg, *facts, cr.path_mode, ticket.fresh,
                                         attempt > 0, snap.cfg.unlinked, today, now_unix};
            actx.method = method;
            auto shaped = routing::shape_answer(answer, actx);
            if (shaped.drop_session && !d_.logins.relogin_allowed(plan.session, ticket.token)) {
                // The court keeps saying "not logged in": one new login a minute, no more.
                actx.relogin_allowed = false;
                shaped = routing::shape_answer(answer, actx);
            }
            if (shaped.drop_session) {
                d_.logins.invalidate(plan.session, ticket.token);
                log::event("session_expired", {{"user", user}, {"court", c.id}, {"route", route_name}});
            }
            if (!shaped.logged_out && !ticket.proved && res.result_int() < 400)
                d_.logins.prove(w_, plan.session, ticket.token);
            if (shaped.relogin_and_repeat) {
                if (f.parser->is_done() && f.parser->keep_alive()) w_.upstream.release(std::move(f.conn));
                continue;
            }
            const auto& rt = facts->runtime;
            if (shaped.session_rejected && *shaped.session_rejected != rt.session_rejected.contains(c.id))
                d_.users->note_session_rejected(user, c.id, *shaped.session_rejected);
            if (shaped.filing_menus) {
                // Recorded when it changes, and refreshed once a day (status says when it was seen).
                auto seen = facts->observed.find(c.id);
                if (seen == facts->observed.end() || seen->second.filing_menus != *shaped.filing_menus ||
                    now_unix - seen->second.observed_at > 86400)
                    d_.users->note_observation(user, c.id, *shaped.filing_menus, now_unix, "page");
            }

            auto pdf = note_fees(user, *facts, plan.client_code, c, cr.upstream_target, res[http::field::content_type],
                                 f.body, shaped);

            http::response_header<> header = std::move(res.base());
            const std::string connection(header[http::field::connection]);
            for (auto it = header.begin(); it != header.end();) {
                bool drop = routing::is_stripped_answer_header(it->name_string(), connection) ||
                            (it->name() == http::field::set_cookie && routing::strip_set_cookie(it->value()));
                if (drop) it = header.erase(it);
                else ++it;
            }
            if (shaped.location) header.set(http::field::location, *shaped.location);
            header.set("Courtroute-Route", shaped.route_name);
            for (const auto& value : shaped.warnings) header.insert("Courtroute-Warning", value);
            header.version(11);
            const bool keep = client_keep && !d_.stopping;
            w_.stats.request(c.id, route_name, header.result_int());
            log_done(header.result_int(), shaped.outcome, body_bytes(f));
            if (!pdf) co_return co_await relay(client, req.method() == http::verb::head, f, std::move(header), keep);
            // A document charged without a receipt: its pages are counted as it streams past.
            fees::pdf_page_counter pages;
            bool kept = co_await relay(client, false, f, std::move(header), keep, &pages);
            if (f.parser->is_done()) {
                pdf->line.pages = fees::document_pages(pages.pages(), pdf->parts);
                pdf->line.cents = fees::cents_of(pdf->line.pages);
                w_.stats.fee(c.id, "estimate", pdf->line.cents);
                d_.users->record_fee(pdf->line);
            }
            co_return kept;
        }
        co_return false;
    }

    /// The answer's body size for the audit trail: what is in hand, else what the court announced.
    static std::int64_t body_bytes(const fetched& f) {
        if (f.parser->is_done()) return static_cast<std::int64_t>(f.body.size());
        auto n = f.parser->content_length();
        return n ? static_cast<std::int64_t>(*n) : 0;
    }

    /// A document fetched without a receipt: its ledger line, written once its pages are counted.
    struct pending_estimate {
        fees::entry line;
        int parts = 1;
    };

    /// The fee ledger (PROTOCOL.md §9): a Transaction Receipt on a page is a charge, or a quote
    /// on a document's page; that document's PDF fetched later turns the quote into a charge.
    /// With receipts turned off by the client, a charged report is estimated from its size, and
    /// a document from its PDF's pages: returned, for the relay to count them.
    std::optional<pending_estimate> note_fees(const std::string& user, const user_facts& facts,
                                              const std::string& client_code, const court& c, std::string_view target,
                                              std::string_view content_type, const std::string& body,
                                              const routing::answer_decision& shaped) {
        const auto path = target.substr(0, target.find('?'));
        const bool document = fees::is_document_path(path);
        if (shaped.may_hold_receipt) {
            if (auto r = fees::find_receipt(body)) {
                fees::entry e{unix_now(), user, c.id, r->login, r->client_code, r->description, r->criteria,
                              r->billable_pages, r->cost_cents, document, false,
                              document ? fees::document_key(target) : std::string(path)};
                w_.stats.fee(c.id, e.quote ? "quote" : "charge", e.cents);
                d_.users->record_fee(e);
                return std::nullopt;
            }
        }
        if (shaped.estimate) {
            const auto& plan = *shaped.estimate;
            fees::entry e{unix_now(), user, c.id, facts.pacer ? facts.pacer->login : std::string(), client_code,
                          plan.description, plan.criteria, plan.pages, fees::cents_of(plan.pages),
                          false, true, plan.key};
            if (plan.pdf) return pending_estimate{std::move(e), plan.parts};
            w_.stats.fee(c.id, "estimate", e.cents);
            d_.users->record_fee(e);
            return std::nullopt;
        }
        if (document && icontains(content_type, "application/pdf")) {
            if (auto cents = d_.users->charge_quote(user, c.id, fees::document_key(target), unix_now()))
                w_.stats.fee(c.id, "charge", *cents);
        }
        return std::nullopt;
    }

    /// A request to an ACMS host (PROTOCOL.md §10): the user's ACMS session for the court, signed
    /// in through PACER's identity provider with the user's PACER session; its cookies at the
    /// pages host, its bearer token at the API host, never a PACER or CM/ECF cookie. "Not logged
    /// in" signs in again once and repeats once. ACMS's cookies and token never reach the client:
    /// every Set-Cookie is kept, and the token is blanked out of the pages that carry it.
    template <class Stream, class LogDone>
    net::awaitable<bool> forward_acms(Stream& client, beast::flat_buffer& client_buffer, incoming& in,
                                      const std::string& user, const court& c, routing::forward_plan& plan,
                                      bool client_keep, LogDone& log_done) {
        auto& req = in.req;
        const std::string route_name(to_string(plan.via));
        std::string pages_host;
        for (auto& h : c.extra_hosts)
            if (auth::acms::kind_of(h) == auth::acms::host_kind::pages) pages_host = h;
        auto refuse = [&](const routing::refusal& r) -> net::awaitable<bool> {
            log_done(r.status, r.outcome);
            req.keep_alive(client_keep);
            co_return co_await write_refusal(client, req, r, c.id, route_name);
        };
        if (pages_host.empty()) {
            routing::refusal r;
            r.status = 502;
            r.text = c.id + " lists no ACMS pages host (*-showdoc) among its extra_hosts: nothing to sign in to";
            co_return co_await refuse(r);
        }
        // At most one new PACER login and one repeat after ACMS said "not logged in", in either order.
        bool pacer_relogged = false, acms_repeated = false;
        for (int attempt = 0; attempt < 3; ++attempt) {
            auto got = co_await d_.logins.session_for(w_, plan, c);
            if (auto* r = std::get_if<routing::refusal>(&got)) co_return co_await refuse(*r);
            auto ticket = std::get<login_service::ticket>(std::move(got));
            auto signed_in = co_await d_.acms.session_for(w_, user, c, pages_host, ticket.token);
            if (auto* f = std::get_if<acms_service::failure>(&signed_in)) {
                // PACER's identity provider refused the PACER session: one new PACER login, if its budget allows.
                if (f->pacer_rejected && !pacer_relogged && d_.logins.relogin_allowed(plan.session, ticket.token)) {
                    pacer_relogged = true;
                    d_.logins.invalidate(plan.session, ticket.token);
                    continue;
                }
                co_return co_await refuse(f->refusal);
            }
            auto session = std::get<std::shared_ptr<const acms_service::session>>(std::move(signed_in));
            // ACMS's cookies for this host first, then the client's own (none of ACMS's names).
            std::string cookie = session->jar.header_for(plan.host);
            for (std::string_view rest = plan.client_cookies; !rest.empty();) {
                auto semi = rest.find(';');
                auto pair = trim(rest.substr(0, semi));
                rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
                auto name = trim(pair.substr(0, pair.find('=')));
                if (!pair.empty() && !session->jar.holds(plan.host, name))
                    cookie.append(cookie.empty() ? "" : "; ").append(pair);
            }
            if (cookie.empty()) req.erase(http::field::cookie);
            else req.set(http::field::cookie, cookie);
            if (plan.acms == auth::acms::host_kind::api) {
                if (!session->token) {
                    routing::refusal r;
                    r.status = 502;
                    r.outcome = "acms_signin_failed";
                    r.text = "ACMS's API needs a bearer token, and no ACMS page carried one during the sign-in";
                    r.warnings.push_back(warning{warning_code::acms_signin_failed, user, c.id,
                                                 "signed in to ACMS at " + c.id +
                                                     ", but no page carried the API token (AuthToken), so ACMS's API "
                                                     "cannot be used; open an ACMS page first, or report the changed flow"});
                    co_return co_await refuse(r);
                }
                req.set(http::field::authorization, "Bearer " + *session->token);
            }
            const auto sent = clock_type::now();
            fetched f = co_await send_upstream(client, client_buffer, in, plan);
            req.erase(http::field::authorization);
            if (f.error) co_return co_await refuse(routing::upstream_refusal(f.error.fault, plan.host, f.error.detail));
            w_.stats.upstream_latency(std::chrono::duration<double>(clock_type::now() - sent).count());

            auto& res = f.parser->get();
            std::vector<std::string> set_cookies;
            for (auto it = res.find(http::field::set_cookie); it != res.end() && it->name() == http::field::set_cookie; ++it)
                set_cookies.emplace_back(it->value());
            d_.acms.absorb(user, c.id, session->id, plan.host, set_cookies);
            const bool whole = f.parser->is_done();
            std::optional<std::string> found;
            if (plan.acms == auth::acms::host_kind::pages && whole) {
                found = auth::acms::find_api_token(f.body);
                if (found) d_.acms.note_token(user, c.id, session->id, *found);
            }
            const bool signed_out = auth::acms::looks_signed_out(plan.acms, res.result_int(), res[http::field::location],
                                                                 pages_host, whole ? std::string_view(f.body) : std::string_view{});
            if (signed_out) {
                d_.acms.invalidate(user, c.id, session->id);
                log::event("session_expired", {{"user", user}, {"court", c.id}, {"route", "acms"}});
                if (!acms_repeated && plan.repeat_after_relogin) {
                    acms_repeated = true;
                    if (whole && f.parser->keep_alive()) w_.upstream.release(std::move(f.conn));
                    continue;  // sign in again once and repeat once
                }
            }
            // The token never reaches the client: blanked wherever it appears in a whole body.
            if (whole) {
                const std::string* tokens[] = {session->token ? &*session->token : nullptr, found ? &*found : nullptr};
                for (const std::string* t : tokens) {
                    if (!t || t->empty()) continue;
                    for (auto at = f.body.find(*t); at != std::string::npos; at = f.body.find(*t, at))
                        f.body.replace(at, t->size(), "courtroute-keeps-this-token");
                }
            }
            http::response_header<> header = std::move(res.base());
            const std::string connection(header[http::field::connection]);
            for (auto it = header.begin(); it != header.end();) {
                bool drop = routing::is_stripped_answer_header(it->name_string(), connection) ||
                            it->name() == http::field::set_cookie;  // ACMS's cookies are the daemon's
                if (drop) it = header.erase(it);
                else ++it;
            }
            header.set("Courtroute-Route", route_name);
            for (const auto& w : plan.warnings)
                if (auto v = w.header_value(); !has_ctl_breaks(v)) header.insert("Courtroute-Warning", v);
            if (signed_out) {
                warning w{warning_code::acms_signin_failed, user, c.id,
                          "ACMS still answered 'not logged in' right after a fresh sign-in; the answer is returned "
                          "as ACMS sent it"};
                header.insert("Courtroute-Warning", w.header_value());
            }
            header.version(11);
            const bool keep = client_keep && !d_.stopping;
            w_.stats.request(c.id, route_name, header.result_int());
            log_done(header.result_int(), signed_out ? "acms_rejected" : "ok", body_bytes(f));
            co_return co_await relay(client, req.method() == http::verb::head, f, std::move(header), keep);
        }
        co_return false;
    }

    /// Sends the prepared request to `plan.host`: whole from a pooled connection when its body is
    /// in hand, else streamed from the client on a fresh one.
    template <class Stream>
    net::awaitable<fetched> send_upstream(Stream& client, beast::flat_buffer& client_buffer, incoming& in,
                                          const routing::forward_plan& plan) {
        auto& req = in.req;
        fetched f;
        if (in.body_pending) {
            f = co_await send_streamed(client, client_buffer, in, plan.host);
        } else {
            frame_whole(req.base(), req.body().size(), true);
            wire_.clear();
            append_head(wire_, req.base());
            wire_.append(req.body());
            f = co_await w_.upstream.fetch(plan.host, 443, wire_, req.method() == http::verb::head, true,
                                           plan.resend_on_stale_connection);
        }
        co_return f;
    }

    /// Like `upstream_client::fetch`, for a request whose body streams from the client: a fresh
    /// connection (a pooled one could fail after the body is gone), never repeated.
    template <class Stream>
    net::awaitable<fetched> send_streamed(Stream& client, beast::flat_buffer& client_buffer, incoming& in,
                                          std::string_view host) {
        fetched f;
        f.conn = co_await w_.upstream.connect(host, 443, f.error);
        if (f.error) co_return f;
        auto& lowest = beast::get_lowest_layer(f.conn->stream);
        const auto write_timeout = w_.upstream.timeouts().write;
        http::request<http::buffer_body> out{in.req.base()};
        // The framing is ours: the length when the client gave one, else chunked.
        out.erase(http::field::content_length);
        out.erase(http::field::transfer_encoding);
        if (auto len = in.parser.content_length()) out.content_length(*len);
        else out.chunked(true);
        http::request_serializer<http::buffer_body> sr{out};
        auto send = [&](const char* data, std::size_t n, bool more) -> net::awaitable<error_code> {
            out.body().data = const_cast<char*>(data);
            out.body().size = n;
            out.body().more = more;
            lowest.expires_after(write_timeout);
            auto [ec, written] = co_await http::async_write(f.conn->stream, sr, use_tuple);
            if (ec == http::error::need_buffer) ec = {};
            co_return ec;
        };
        out.body().data = nullptr;
        out.body().more = true;
        lowest.expires_after(write_timeout);
        auto [hec, hn] = co_await http::async_write_header(f.conn->stream, sr, use_tuple);
        error_code ec = hec;
        if (!ec && !in.req.body().empty()) ec = co_await send(in.req.body().data(), in.req.body().size(), true);
        auto buf = std::make_unique<std::array<char, 65536>>();
        while (!ec && !in.parser.is_done()) {
            error_code cec;
            auto n = co_await read_client_body(client, client_buffer, in.parser, buf->data(), buf->size(), cec);
            if (cec) {
                f.error = upstream_error{routing::upstream_fault::broken, "the client's upload broke off"};
                co_return f;
            }
            if (n) ec = co_await send(buf->data(), n, true);
        }
        if (!ec && !sr.is_done()) ec = co_await send(nullptr, 0, false);
        if (ec) {
            f.error = upstream_failure(ec, routing::upstream_fault::broken);
            co_return f;
        }
        co_await w_.upstream.read_answer(f, in.req.method() == http::verb::head, true);
        co_return f;
    }

    /// Sends the shaped answer to the client: whole when its body is in hand, else header first
    /// and the rest as it arrives. Returns whether the client connection stays open.
    template <class Stream>
    net::awaitable<bool> relay(Stream& client, bool head_request, fetched& f, http::response_header<> header,
                               bool keep_alive, fees::pdf_page_counter* pages = nullptr) {
        auto& lowest = beast::get_lowest_layer(client);
        auto& p = *f.parser;
        const auto status = header.result_int();
        bool bodiless = head_request || status / 100 == 1 || status == 204 || status == 304;
        error_code ec;
        if (bodiless || p.is_done()) {
            // Whole body in hand (or none): one write, with an exact Content-Length.
            if (pages && !bodiless) pages->feed(f.body);
            if (bodiless) {
                header.erase(http::field::connection);
                if (!keep_alive) header.set(http::field::connection, "close");
            } else {
                frame_whole(header, f.body.size(), keep_alive);
            }
            wire_.clear();
            append_head(wire_, header);
            std::array<net::const_buffer, 2> parts{net::buffer(wire_),
                                                   net::buffer(f.body.data(), bodiless ? 0 : f.body.size())};
            lowest.expires_after(client_write_timeout);
            std::size_t n = 0;
            std::tie(ec, n) = co_await net::async_write(client, parts, use_tuple);
        } else {
            bool upstream_broke = false;
            ec = co_await stream_answer(client, f, std::move(header), keep_alive, upstream_broke, pages);
            if (upstream_broke) co_return false;
        }
        if (p.is_done() && p.keep_alive()) w_.upstream.release(std::move(f.conn));
        if (ec) {
            log::event("relay_failed", {{"error", ec.message()}});
            co_return false;
        }
        co_return keep_alive;
    }

    /// Streams an answer whose body is not all in hand: whatever was read for inspection first,
    /// then the rest as it arrives. A court breaking off mid-body sets `upstream_broke`: the
    /// client must see a truncated answer, not a complete one.
    template <class Stream>
    net::awaitable<error_code> stream_answer(Stream& client, fetched& f, http::response_header<> header,
                                             bool keep_alive, bool& upstream_broke,
                                             fees::pdf_page_counter* pages) {
        auto& lowest = beast::get_lowest_layer(client);
        auto& p = *f.parser;
        http::response<http::buffer_body> res{std::move(header)};
        res.keep_alive(keep_alive);
        http::response_serializer<http::buffer_body> sr{res};
        res.body().data = nullptr;
        res.body().more = true;
        lowest.expires_after(client_write_timeout);
        auto [ec, n] = co_await http::async_write_header(client, sr, use_tuple);
        auto send = [&](const char* data, std::size_t len, bool more) -> net::awaitable<error_code> {
            res.body().data = const_cast<char*>(data);
            res.body().size = len;
            res.body().more = more;
            lowest.expires_after(client_write_timeout);
            auto [wec, written] = co_await http::async_write(client, sr, use_tuple);
            if (wec == http::error::need_buffer) wec = {};
            co_return wec;
        };
        if (pages) pages->feed(f.body);
        if (!ec && !f.body.empty()) ec = co_await send(f.body.data(), f.body.size(), true);
        auto buf = std::make_unique<std::array<char, 65536>>();
        upstream_error upstream_err;
        while (!ec && !p.is_done()) {
            auto got = co_await w_.upstream.read_body_some(*f.conn, p, buf->data(), buf->size(), upstream_err);
            if (upstream_err) {
                log::event("relay_failed", {{"error", upstream_err.detail}});
                upstream_broke = true;
                co_return ec;
            }
            if (pages) pages->feed({buf->data(), got});
            if (got) ec = co_await send(buf->data(), got, true);
        }
        if (!ec && !sr.is_done()) ec = co_await send(nullptr, 0, false);
        co_return ec;
    }

    worker& w_;
    daemon& d_;
    std::string wire_;            ///< a head being written (kept: its capacity serves the next one)
    std::string auth_value_;      ///< the credentials header last accepted on this connection (its token: a secret)
    std::string auth_user_;       ///< whom it named
    std::uint64_t auth_epoch_ = 0;///< the directory's epoch then
    beast::tcp_stream stream_;
    std::list<worker::connection>::iterator entry_;
};

} // namespace

net::awaitable<void> serve_client(worker& w, tcp::socket socket) {
    socket.set_option(tcp::no_delay(true));
    client_session session(w, std::move(socket));
    co_await session.run();
}

} // namespace courtroute::proxy
