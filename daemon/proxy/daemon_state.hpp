#pragma once
/// The daemon's shared state and the declarations its two translation units share: the
/// client side (server.cpp: listener, CONNECT, path mode, routing, relaying) and the upstream
/// side (sessions.cpp: exchanges, logins, session reconciliation, the store cache, status).
/// Private to proxy/; nothing outside includes it.
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
#include "tls/ca_setup.hpp"
#include "tls/contexts.hpp"
#include "tls/local_ca.hpp"

namespace courtroute::proxy {

using namespace std::chrono_literals;
using boost::system::error_code;
using boost::system::system_error;

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

/// The session table's key for a user's PACER session under one client code. It carries the
/// credential's revision, so a replaced credential never meets its old session; the layout
/// ("pacer|USER|REVISION|CODE") is what `reconcile_sessions` parses.
inline std::string pacer_session_key(const std::string& user, std::int64_t revision, const std::string& client_code) {
    return "pacer|" + user + "|" + std::to_string(revision) + "|" + client_code;
}

/// The key for a user's session at one legacy court: "ecf|USER|COURT|REVISION".
inline std::string ecf_session_key(const std::string& user, const std::string& court, std::int64_t revision) {
    return "ecf|" + user + "|" + court + "|" + std::to_string(revision);
}

/// The completion handler of every co_spawn: a coroutine that ends with an exception says so
/// in the log (with what it was doing) instead of vanishing.
inline auto log_failure(std::string_view task) {
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

inline bool is_textual(std::string_view content_type) {
    if (content_type.empty()) return true;
    return icontains(content_type, "html") || icontains(content_type, "xml") || icontains(content_type, "text/") ||
           icontains(content_type, "json") || icontains(content_type, "javascript");
}

// Hop-by-hop headers (RFC 9110 §7.6.1) and credentials that never cross the proxy.
inline void strip_hop_by_hop(http::fields& f) {
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
    /// "N courts, N users, N warnings": the STATUS= line for the service manager.
    std::string summary_line();
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

} // namespace courtroute::proxy
