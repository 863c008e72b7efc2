#include "proxy/server.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/json.hpp>

#include <list>
#include <map>
#include <set>

#include "auth/cookies.hpp"
#include "auth/detect.hpp"
#include "auth/legacy.hpp"
#include "auth/pacer.hpp"
#include "auth/session_table.hpp"
#include "auth/totp.hpp"
#include "config/settings.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "policy/policy.hpp"
#include "proxy/metrics.hpp"
#include "proxy/net.hpp"
#include "proxy/upstream.hpp"
#include "registry/registry.hpp"
#include "status/notify.hpp"
#include "status/report.hpp"
#include "store/store.hpp"
#include "tls/contexts.hpp"
#include "tls/local_ca.hpp"

namespace courtroute::proxy {

using namespace std::chrono_literals;
using boost::system::error_code;
using boost::system::system_error;

namespace {

constexpr std::size_t header_limit = 64 * 1024;              // larger headers get 431
constexpr std::uint64_t request_body_limit = 4ull << 30;     // larger uploads get 413
constexpr std::size_t replay_limit = 8u << 20;               // bodies up to this are held, so a re-login can repeat them
constexpr std::size_t inspect_limit = 4u << 20;              // HTML/XML answers read whole to spot "not logged in"
constexpr auto client_header_timeout = 30s;                  // slow-header clients are cut off
constexpr auto client_idle_timeout = 60s;                    // keep-alive between requests
constexpr auto client_write_timeout = 60s;
constexpr auto drain_deadline = 10s;                         // SIGTERM: in-flight requests get this long

/// The config and registry in force; replaced whole on SIGHUP, held by each request while it runs.
struct snapshot {
    settings cfg;
    std::shared_ptr<const registry> reg;
};

/// A client connection, so SIGTERM can close the idle ones and wait for the busy ones.
struct connection_entry {
    tcp::socket* socket = nullptr; ///< the lowest layer (updated when a CONNECT wraps it in TLS)
    bool busy = false;             ///< a request is in flight
};

/// One client request as read so far. The header (and a body up to `replay_limit`, held so a
/// re-login can repeat the request) is in `req`; a larger body is still on the wire and is
/// streamed upstream from `parser` (and cannot be repeated).
struct incoming {
    http::request_parser<http::buffer_body> parser; ///< reads the header, then streams a large body
    http::request<http::string_body> req;           ///< header copy, plus the whole body when small
    bool body_pending = false;                      ///< `req.body()` is only the start; the rest streams
};

/// A refusal to send to the client instead of an upstream answer.
struct refusal {
    unsigned status;
    std::vector<warning> warnings;
    std::string text;
};

/// Thrown inside request handling to answer with a refusal.
struct refusal_error : std::exception {
    refusal r;
    explicit refusal_error(refusal x) : r(std::move(x)) {}
    const char* what() const noexcept override { return "refused"; }
};

std::string status_line(const snapshot& s, std::size_t users, std::size_t warnings) {
    return std::to_string(s.reg->courts().size()) + " courts, " + std::to_string(users) + " users, " +
           std::to_string(warnings) + " warnings";
}

/// The completion handler of every co_spawn: a coroutine that ends with an exception says so
/// in the log (with what it was doing) instead of vanishing.
auto log_failure(std::string_view task) {
    return [task](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            log::event("task_failed", {{"task", task}, {"error", x.what()}});
        } catch (...) {
            log::event("task_failed", {{"task", task}, {"error", "unknown exception"}});
        }
    };
}

bool is_textual(std::string_view content_type) {
    if (content_type.empty()) return true;
    return icontains(content_type, "html") || icontains(content_type, "xml") || icontains(content_type, "text/") ||
           icontains(content_type, "json") || icontains(content_type, "javascript");
}

// Hop-by-hop headers (RFC 9110 §7.6.1) and credentials that never cross the proxy.
void strip_hop_by_hop(http::fields& f) {
    if (auto it = f.find(http::field::connection); it != f.end()) {
        // Headers named in Connection are hop-by-hop too.
        std::string named(it->value());
        std::size_t pos = 0;
        while (pos <= named.size()) {
            auto comma = named.find(',', pos);
            auto name = trim(std::string_view(named).substr(pos, comma == std::string::npos ? std::string::npos
                                                                                          : comma - pos));
            if (!name.empty() && !iequals(name, "close") && !iequals(name, "keep-alive")) f.erase(name);
            if (comma == std::string::npos) break;
            pos = comma + 1;
        }
    }
    for (auto field : {http::field::connection, http::field::keep_alive, http::field::proxy_connection,
                       http::field::proxy_authorization, http::field::proxy_authenticate, http::field::te,
                       http::field::trailer, http::field::upgrade})
        f.erase(field);
}

} // namespace

/// Everything the daemon shares between connections. Single-threaded: only the io thread touches it.
class daemon_state {
public:
    daemon_state(net::io_context& io, std::filesystem::path config, bool explicitly_named)
        : io_(io), config_path_(std::move(config)), config_explicit_(explicitly_named),
          started_(std::chrono::steady_clock::now()) {}

    /// Opens everything for `snap`, binds the listener, starts accepting and handling signals,
    /// and tells the service manager READY=1. Throws when the daemon cannot start.
    void start(std::shared_ptr<const snapshot> snap);
    /// Loads config and registry; false (errors logged) when the config is unusable.
    bool load(std::shared_ptr<const snapshot>& out);
    /// Opens store, CA and upstream pool for the loaded snapshot.
    void open();
    /// Binds the listener; throws on failure.
    void listen();
    net::awaitable<void> accept_loop();
    void reload();
    void begin_stop();

    net::awaitable<void> serve_client(tcp::socket socket);

private:
    template <class Stream>
    net::awaitable<bool> read_request(Stream& stream, beast::flat_buffer& buffer, incoming& in,
                                      connection_entry& entry);
    /// Reads up to `cap` more body bytes of a client request into `buf`.
    template <class Stream>
    net::awaitable<std::size_t> read_client_body(Stream& stream, beast::flat_buffer& buffer,
                                                 http::request_parser<http::buffer_body>& p, char* buf,
                                                 std::size_t cap);
    template <class Stream>
    net::awaitable<bool> write_refusal(Stream& stream, const http::request<http::string_body>& req, const refusal& r,
                                       std::string_view court, std::string_view route_name,
                                       std::string_view extra_header = {}, std::string_view extra_value = {});
    template <class Stream>
    net::awaitable<bool> write_simple(Stream& stream, const http::request<http::string_body>& req, http::status status,
                                      std::string_view content_type, const std::string& body);

    net::awaitable<void> handle_connect(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                        http::request<http::string_body>& req, connection_entry& entry);
    net::awaitable<void> serve_tunnel(tls_stream& stream, const std::string& host, const std::string& user,
                                      connection_entry& entry);
    net::awaitable<void> blind_tunnel(beast::tcp_stream& client, beast::flat_buffer& buffer, std::string host,
                                      std::uint16_t port, http::request<http::string_body>& req);

    /// Routes one request to a court and writes the answer. Returns whether to keep the connection.
    template <class Stream>
    net::awaitable<bool> handle_court_request(Stream& client, beast::flat_buffer& client_buffer, incoming& in,
                                              const std::string& user, const court& c, bool path_mode);

    /// Returns a live session token for the key, logging in once (single flight) when needed.
    struct session_ticket {
        std::string key;
        std::string token;
        bool fresh = false; ///< obtained by a login made for this request
    };
    net::awaitable<session_ticket> obtain_session(const snapshot& snap, const std::string& user, const court& c,
                                                  route via, const std::string& client_code);
    net::awaitable<auth::login_outcome> login_pacer(const snapshot& snap, const pacer_login& cred,
                                                    const std::string& client_code);
    net::awaitable<auth::login_outcome> login_cmecf(const court& c, const ecf_login& cred);
    /// Drops and logs out every session whose credential was replaced or removed (a user
    /// removed, `pacer set` / `ecf set` again, a CM/ECF login deleted by `link`).
    void reconcile_sessions();
    /// Ends one upstream session in the background: PACER's logout, or the court's login.pl?logout.
    void spawn_logout(std::string court_host, std::string token);

    struct fetched {
        std::unique_ptr<upstream_conn> conn;
        std::unique_ptr<http::response_parser<http::buffer_body>> parser;
        std::string body;       ///< the body read so far (all of it when `parser->is_done()`)
    };
    net::awaitable<fetched> fetch(const std::string& host, std::uint16_t port, http::request<http::string_body>& req,
                                  bool inspect);
    /// Like `fetch`, for a request whose body streams from the client: a fresh connection (a
    /// pooled one could fail after the body is gone), no repeat.
    template <class Stream>
    net::awaitable<fetched> fetch_streamed(const std::string& host, std::uint16_t port,
                                           const http::request<http::string_body>& head, incoming& in,
                                           Stream& client, beast::flat_buffer& client_buffer);
    /// Reads the answer's header (past interim 1xx) and, for text, up to `inspect_limit` of its body.
    net::awaitable<error_code> read_answer(fetched& f, bool head_request, bool inspect);
    net::awaitable<std::size_t> read_body_some(upstream_conn& conn, http::response_parser<http::buffer_body>& p,
                                               char* buf, std::size_t cap);
    /// A small request/answer exchange for logins and logouts (whole body, bounded).
    net::awaitable<http::response<http::string_body>> exchange(const std::string& host, std::uint16_t port,
                                                               http::request<http::string_body> req);
    template <class Stream>
    net::awaitable<void> relay(Stream& client, const http::request<http::string_body>& req, fetched& f,
                               http::response_header<> header, bool keep_alive);

    /// What the store says about one user, read once per store change: the CLI's commits bump
    /// `PRAGMA data_version`; the daemon's own marks clear the cache explicitly.
    struct cached_user {
        user_facts facts;                                   ///< stored facts (runtime merged by facts_for)
        std::optional<pacer_login> pacer;                   ///< decrypted
        std::map<std::string, ecf_login, std::less<>> ecf;  ///< by court id, decrypted
    };
    /// Drops the caches when another process committed to the store since the last call.
    void sync_store_cache();
    const cached_user& cached(const std::string& user);

    std::string status_json();
    std::vector<user_facts> all_user_facts();
    user_facts facts_for(const std::string& user);
    std::optional<std::string> authenticate(const http::request<http::string_body>& req, bool bearer);

    net::io_context& io_;
    std::filesystem::path config_path_;
    bool config_explicit_;
    std::chrono::steady_clock::time_point started_;
    std::shared_ptr<const snapshot> snap_;
    std::unique_ptr<store> db_;
    std::shared_ptr<const tls::local_ca> ca_;
    std::unique_ptr<tls::leaf_cache> leaves_;
    std::unique_ptr<upstream_pool> pool_;
    std::unique_ptr<tcp::acceptor> acceptor_;
    metrics metrics_;
    auth::session_table sessions_;
    std::map<std::string, std::shared_ptr<net::steady_timer>> login_waiters_;
    std::map<std::string, runtime_facts> runtime_;
    std::int64_t store_version_ = -1;
    std::map<std::string, cached_user, std::less<>> user_cache_;
    std::map<std::string, std::string, std::less<>> token_cache_; ///< sha256(token) -> user; never the token itself
    std::list<connection_entry> connections_;
    bool stopping_ = false;
    std::unique_ptr<net::steady_timer> drain_timer_;
};

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
    auto facts = all_user_facts();
    auto line = status_line(*snap_, facts.size(), compute_warnings(*snap_->reg, facts, today(), unix_now()).size());
    log::event("listening", {{"address", snap_->cfg.listen_proxy.to_string()},
                             {"courts", std::to_string(snap_->reg->courts().size())},
                             {"ca", ca_->cert_path().string()}});
    notify::ready(line);
}

void daemon_state::open() {
    auto& cfg = snap_->cfg;
    db_ = store::open_state(cfg.state_dir, cfg.effective_key_file());
    ca_ = std::make_shared<const tls::local_ca>(tls::local_ca::open_or_create(cfg.state_dir));
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
    }
    auto facts = all_user_facts();
    notify::ready(status_line(*snap_, facts.size(), compute_warnings(*snap_->reg, facts, today(), unix_now()).size()));
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

// ---------------------------------------------------------------------------------------------
// upstream exchanges

net::awaitable<std::size_t> daemon_state::read_body_some(upstream_conn& conn,
                                                         http::response_parser<http::buffer_body>& p, char* buf,
                                                         std::size_t cap) {
    p.get().body().data = buf;
    p.get().body().size = cap;
    beast::get_lowest_layer(conn.stream).expires_after(pool_->timeouts().body);
    auto [ec, n] = co_await http::async_read(conn.stream, conn.buffer, p, use_tuple);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) throw system_error(ec == beast::error::timeout ? net::error::timed_out : ec, "reading upstream body");
    co_return cap - p.get().body().size;
}

net::awaitable<error_code> daemon_state::read_answer(fetched& f, bool head_request, bool inspect) {
    auto& lowest = beast::get_lowest_layer(f.conn->stream);
    auto sent_at = std::chrono::steady_clock::now();
    error_code ec;
    // Interim answers (100 Continue, 102, 103) are not the answer: read past them.
    for (int interim = 0; interim < 8; ++interim) {
        f.parser = std::make_unique<http::response_parser<http::buffer_body>>();
        f.parser->body_limit(boost::none);  // bodies are streamed, never held whole (except small HTML)
        f.parser->header_limit(header_limit);
        if (head_request) f.parser->skip(true);
        lowest.expires_after(pool_->timeouts().header);
        std::size_t n = 0;
        std::tie(ec, n) = co_await http::async_read_header(f.conn->stream, f.conn->buffer, *f.parser, use_tuple);
        auto status = f.parser->get().result_int();
        if (ec || status / 100 != 1 || status == 101) break;
    }
    if (!ec && f.parser->get().result_int() / 100 == 1)
        ec = f.parser->get().result_int() == 101 ? http::error::bad_status : http::error::unexpected_body;
    if (ec) co_return ec;
    metrics_.upstream_latency(std::chrono::duration<double>(std::chrono::steady_clock::now() - sent_at).count());
    auto& res = f.parser->get();
    if (inspect && !f.parser->is_done() && is_textual(res[http::field::content_type])) {
        auto len = f.parser->content_length();
        if (!len || *len <= inspect_limit) {
            std::array<char, 65536> buf;
            while (!f.parser->is_done() && f.body.size() < inspect_limit) {
                auto n = co_await read_body_some(*f.conn, *f.parser, buf.data(), buf.size());
                f.body.append(buf.data(), n);
            }
        }
    }
    co_return error_code{};
}

net::awaitable<daemon_state::fetched> daemon_state::fetch(const std::string& host, std::uint16_t port,
                                                          http::request<http::string_body>& req, bool inspect) {
    for (int attempt = 0;; ++attempt) {
        fetched f;
        f.conn = co_await pool_->acquire(host, port);
        bool retryable = f.conn->reused && attempt == 0;  // a pooled connection the peer may have closed
        beast::get_lowest_layer(f.conn->stream).expires_after(pool_->timeouts().write);
        auto [wec, wn] = co_await http::async_write(f.conn->stream, req, use_tuple);
        if (wec) {
            if (retryable) continue;
            throw system_error(wec == beast::error::timeout ? net::error::timed_out : wec, "writing upstream");
        }
        auto rec = co_await read_answer(f, req.method() == http::verb::head, inspect);
        if (rec) {
            if (retryable && (rec == http::error::end_of_stream || rec == net::error::eof ||
                              rec == net::error::connection_reset || rec == ssl::error::stream_truncated))
                continue;
            throw system_error(rec == beast::error::timeout ? net::error::timed_out : rec, "reading upstream header");
        }
        co_return f;
    }
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

net::awaitable<http::response<http::string_body>> daemon_state::exchange(const std::string& host, std::uint16_t port,
                                                                         http::request<http::string_body> req) {
    req.set(http::field::host, host);
    req.set(http::field::user_agent, "courtroute/" COURTROUTE_VERSION);
    req.prepare_payload();
    auto f = co_await fetch(host, port, req, false);
    http::response<http::string_body> res;
    res.base() = f.parser->get().base();
    std::array<char, 16384> buf;
    while (!f.parser->is_done()) {
        auto n = co_await read_body_some(*f.conn, *f.parser, buf.data(), buf.size());
        res.body().append(buf.data(), n);
        if (res.body().size() > (1u << 20)) throw std::runtime_error("login answer larger than 1 MiB");
    }
    if (f.parser->keep_alive()) pool_->release(std::move(f.conn));
    co_return res;
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
// sessions and logins

net::awaitable<auth::login_outcome> daemon_state::login_pacer(const snapshot& snap, const pacer_login& cred,
                                                              const std::string& client_code) {
    auto url = parse_url(snap.cfg.pacer_auth_url);
    std::optional<std::string> otp;
    if (!cred.totp_secret.empty()) {
        auto secret = auth::base32_decode(cred.totp_secret);
        if (!secret) co_return auth::login_outcome{auth::login_kind::bad_credentials, {}, {}, "the stored TOTP secret is not valid base32"};
        otp = auth::totp(*secret, unix_now());
    }
    http::request<http::string_body> req{http::verb::post, url->target, 11};
    req.set(http::field::content_type, "application/json");
    req.set(http::field::accept, "application/json");
    req.body() = auth::pacer_login_body(cred.login, cred.password, client_code, otp);
    auto res = co_await exchange(url->host, url->port, std::move(req));
    co_return auth::parse_pacer_response(res.result_int(), res[http::field::content_type], res.body());
}

net::awaitable<auth::login_outcome> daemon_state::login_cmecf(const court& c, const ecf_login& cred) {
    http::request<http::string_body> req{http::verb::post, "/cgi-bin/login.pl", 11};
    req.set(http::field::content_type, "application/x-www-form-urlencoded");
    req.body() = auth::legacy_login_form(cred.login, cred.password);
    auto res = co_await exchange(c.host, 443, std::move(req));
    co_return auth::parse_legacy_login(res.result_int(), res.body());
}

net::awaitable<daemon_state::session_ticket> daemon_state::obtain_session(const snapshot& snap,
                                                                          const std::string& user, const court& c,
                                                                          route via, const std::string& client_code) {
    for (;;) {
        // Re-read the credential each time: the CLI may have replaced it while we waited.
        std::optional<pacer_login> pacer;
        std::optional<ecf_login> ecf;
        std::string key;
        sync_store_cache();
        const auto& stored = cached(user);
        if (via == route::pacer) {
            pacer = stored.pacer;
            if (!pacer) throw refusal_error({403, {}, "no PACER login is stored for " + user});
            key = "pacer|" + user + "|" + std::to_string(pacer->revision) + "|" + client_code;
        } else {
            if (auto it = stored.ecf.find(c.id); it != stored.ecf.end()) ecf = it->second;
            if (!ecf) throw refusal_error({403, {}, "no CM/ECF login is stored for " + user + " at " + c.id});
            key = "ecf|" + user + "|" + c.id + "|" + std::to_string(ecf->revision);
        }
        auto now = std::chrono::steady_clock::now();
        auto got = sessions_.acquire(key, now);
        switch (got.what) {
        case auth::acquire_result::action::use:
            co_return session_ticket{key, got.token, false};
        case auth::acquire_result::action::wait: {
            auto& timer = login_waiters_[key];
            if (!timer) timer = std::make_shared<net::steady_timer>(io_);
            auto keep = timer;
            keep->expires_after(60s);
            co_await keep->async_wait(use_tuple);  // cancelled when the login completes
            continue;
        }
        case auth::acquire_result::action::refuse: {
            // Back-off after service errors, or a credential already refused (the store's mark
            // normally stops us earlier; this covers a mark another process has not seen yet).
            auto code = got.cause == auth::login_kind::mfa_required ? warning_code::mfa_required
                                                                     : warning_code::login_failed;
            throw refusal_error({502, {warning{code, user, via == route::pacer ? "" : c.id, got.reason}}, got.reason});
        }
        case auth::acquire_result::action::login:
            break;
        }
        // We are the one login for this key: everyone else waits on the timer.
        std::string kind = via == route::pacer ? "pacer" : "cmecf";
        auth::login_outcome outcome;
        try {
            // Not a ?: with two co_awaits: GCC 12 destroys the temporaries of such a
            // conditional twice (free(): invalid pointer).
            if (via == route::pacer) outcome = co_await login_pacer(snap, *pacer, client_code);
            else outcome = co_await login_cmecf(c, *ecf);
        } catch (const std::exception& e) {
            outcome = auth::login_outcome{auth::login_kind::service_error, {}, {}, auth::safe_text(e.what())};
        }
        sessions_.complete(key, got.attempt, outcome, std::chrono::steady_clock::now());
        if (auto it = login_waiters_.find(key); it != login_waiters_.end()) {
            it->second->cancel();
            login_waiters_.erase(it);
        }
        metrics_.login(kind, auth::to_string(outcome.kind));
        log::event("login", {{"user", user}, {"court", via == route::pacer ? "" : c.id}, {"kind", kind},
                             {"outcome", auth::to_string(outcome.kind)}});
        auto& rf = runtime_[user];
        switch (outcome.kind) {
        case auth::login_kind::success:
            if (via == route::pacer) rf.pacer_notice = outcome.notice;
            co_return session_ticket{key, outcome.token, true};
        case auth::login_kind::bad_credentials:
        case auth::login_kind::mfa_required: {
            bool mfa = outcome.kind == auth::login_kind::mfa_required && !(pacer && !pacer->totp_secret.empty());
            auto state = mfa ? credential_state::mfa_required : credential_state::failed;
            if (via == route::pacer) db_->mark_pacer(user, pacer->revision, state, outcome.detail);
            else db_->mark_ecf(user, c.id, ecf->revision, state, outcome.detail);
            user_cache_.clear();  // our own commit does not change data_version for our connection
            auto facts = facts_for(user);
            auto d = decide(c, facts, today(), snap.cfg.unlinked, unix_now());
            std::vector<warning> ws;
            for (auto& w : d.warnings)
                if (w.code == warning_code::login_failed || w.code == warning_code::mfa_required) ws.push_back(w);
            throw refusal_error({502, ws, mfa ? "PACER asks for a one-time passcode and no TOTP secret is stored"
                                              : "the login was refused: " + outcome.detail});
        }
        case auth::login_kind::service_error:
            throw refusal_error({502,
                                 {warning{warning_code::login_failed, user, via == route::pacer ? "" : c.id,
                                          "the login service is in trouble (" + outcome.detail +
                                              "); courtroute backs off and retries later"}},
                                 "the login service did not answer properly; retried later with back-off"});
        }
    }
}

void daemon_state::reconcile_sessions() {
    // Keys are "pacer|USER|REVISION|CLIENTCODE" and "ecf|USER|COURT|REVISION" (obtain_session).
    for (auto& info : sessions_.snapshot(std::chrono::steady_clock::now())) {
        if (info.state == auth::session_state::logging_in) continue;
        std::vector<std::string> part;
        for (std::size_t pos = 0;;) {
            auto bar = info.key.find('|', pos);
            part.emplace_back(info.key.substr(pos, bar == std::string::npos ? std::string::npos : bar - pos));
            if (bar == std::string::npos) break;
            pos = bar + 1;
        }
        if (part.size() != 4) continue;
        const auto& stored = cached(part[1]);
        std::string host;  // empty: PACER
        bool current = false;
        if (part[0] == "pacer") {
            current = stored.pacer && std::to_string(stored.pacer->revision) == part[2];
        } else {
            auto it = stored.ecf.find(part[2]);
            current = it != stored.ecf.end() && std::to_string(it->second.revision) == part[3];
            const court* c = snap_->reg->find_id(part[2]);
            if (!c) continue;  // a court gone from the registry: nowhere to log out
            host = c->host;
        }
        if (current) continue;
        log::event("session_dropped", {{"user", part[1]}, {"kind", part[0]}, {"reason", "credential replaced or removed"}});
        if (auto token = sessions_.take_token(info.key)) spawn_logout(std::move(host), std::move(*token));
    }
}

void daemon_state::spawn_logout(std::string court_host, std::string token) {
    net::co_spawn(
        io_,
        [this, court_host = std::move(court_host), token = std::move(token)]() -> net::awaitable<void> {
            std::string host = court_host;
            std::uint16_t port = 443;
            http::request<http::string_body> req{http::verb::get, "/cgi-bin/login.pl?logout", 11};
            if (court_host.empty()) {
                auto url = parse_url(snap_->cfg.pacer_logout_url);
                if (!url) co_return;
                host = url->host;
                port = url->port;
                req.method(http::verb::post);
                req.target(url->target);
                req.set(http::field::content_type, "application/json");
                req.set(http::field::accept, "application/json");
                req.body() = auth::pacer_logout_body(token);
            } else {
                req.set(http::field::cookie, "PacerSession=" + token);
            }
            auto kind = court_host.empty() ? "pacer" : "cmecf";
            try {
                auto res = co_await exchange(host, port, std::move(req));
                log::event("logout", {{"kind", kind}, {"host", host}, {"status", std::to_string(res.result_int())}});
            } catch (const std::exception& e) {
                log::event("logout_failed", {{"kind", kind}, {"host", host}, {"error", e.what()}});
            }
        },
        log_failure("logout"));
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

    std::vector<warning> extra;
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
// status

void daemon_state::sync_store_cache() {
    auto version = db_->data_version();
    if (version == store_version_) return;
    store_version_ = version;
    user_cache_.clear();
    token_cache_.clear();
    reconcile_sessions();
}

const daemon_state::cached_user& daemon_state::cached(const std::string& user) {
    if (auto it = user_cache_.find(user); it != user_cache_.end()) return it->second;
    cached_user entry;
    entry.facts = load_user_facts(*db_, user);
    entry.pacer = db_->pacer(user);
    for (auto& e : db_->ecf_logins(user)) entry.ecf.emplace(e.court, std::move(e));
    return user_cache_.emplace(user, std::move(entry)).first->second;
}

user_facts daemon_state::facts_for(const std::string& user) {
    auto f = cached(user).facts;
    if (auto it = runtime_.find(user); it != runtime_.end()) f.runtime = it->second;
    if (f.pacer) {
        // The default client code's session is the one status reports.
        auto now = std::chrono::steady_clock::now();
        auto key = "pacer|" + user + "|" + std::to_string(f.pacer->revision) + "|" + f.pacer->client_code;
        if (auto info = sessions_.find(key, now); info && info->state == auth::session_state::live && info->expires)
            f.runtime.pacer_expires_at =
                unix_now() + std::chrono::duration_cast<std::chrono::seconds>(*info->expires - now).count();
    }
    return f;
}

std::vector<user_facts> daemon_state::all_user_facts() {
    std::vector<user_facts> out;
    for (auto& u : db_->users()) out.push_back(facts_for(u.name));
    // Names seen at run time but not in the store (anonymous_user) still get their facts.
    return out;
}

std::string daemon_state::status_json() {
    sync_store_cache();
    report_input in;
    in.reg = snap_->reg.get();
    in.users = all_user_facts();
    in.today = today();
    in.now_unix = unix_now();
    in.uptime_s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count();
    return boost::json::serialize(status_report(in)) + "\n";
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
