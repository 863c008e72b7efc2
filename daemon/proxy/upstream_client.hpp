#pragma once
/// upstream_client: one worker's verified TLS connections to courts and PACER, pooled per
/// host:port, and the exchanges over them. Only TLS with certificate and host-name verification;
/// there is no switch to turn it off. Failures come back as values (`routing::upstream_fault`).
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/settings.hpp"
#include "proxy/net.hpp"
#include "routing/refusal.hpp"

namespace courtroute::proxy {

/// One live upstream connection and its read buffer (a handle: give it back with `release`).
struct upstream_conn {
    upstream_conn(net::any_io_executor ex, std::shared_ptr<ssl::context> context)
        : ctx(std::move(context)), stream(ex, *ctx) {}
    std::shared_ptr<ssl::context> ctx;   ///< kept alive by the connection: a reload replaces the context
    tls_stream stream;                   ///< verified TLS to `host`
    beast::flat_buffer buffer;           ///< bytes read past the last message
    std::string host;                    ///< the verified host name (lower-case)
    std::uint16_t port = 443;            ///< its port
    std::uint64_t generation = 0;        ///< the configuration it was made under
    bool reused = false;                 ///< came from the idle pool (the peer may have closed it)
    bool broken = false;                 ///< a write failed: never pooled again
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

/// A failed upstream step.
struct upstream_error {
    routing::upstream_fault fault = routing::upstream_fault::broken; ///< what kind
    std::string detail;                                              ///< safe text for the client and the log
    explicit operator bool() const { return !detail.empty(); }       ///< true when a step failed
};

/// What `fetch` produced: the answer's header parsed and, for inspection, the start of its body.
struct fetched {
    std::unique_ptr<upstream_conn> conn;                             ///< positioned after what was read
    std::unique_ptr<http::response_parser<http::buffer_body>> parser; ///< the answer (header done)
    std::string body;        ///< the body read so far (all of it when `parser->is_done()`)
    upstream_error error;    ///< set when nothing usable came back
};

/// A small answer read whole (logins, logouts).
struct exchanged {
    http::response<http::string_body> answer; ///< the answer
    upstream_error error;                     ///< set on failure
};

/// One worker's pool and exchanges. Used from that worker's thread only.
class upstream_client {
public:
    /// A client on `ex`; `configure` must be called before the first exchange.
    explicit upstream_client(net::any_io_executor ex);

    /// Uses `ctx` and the `upstream.resolve` overrides from now on; `generation` names the
    /// configuration. Idle connections of an older generation are dropped.
    void configure(std::shared_ptr<ssl::context> ctx, const std::map<std::string, endpoint>& resolve,
                   std::uint64_t generation);
    /// The generation last configured.
    [[nodiscard]] std::uint64_t generation() const { return generation_; }

    /// Sends `wire` (a whole request: head and body, see http_wire.hpp) on a pooled or new connection and reads the answer's header
    /// (past interim 1xx) and, when `inspect` and the answer is text, its body up to `inspect_limit`.
    /// A pooled connection found dead before any answer byte is replaced once, but only when
    /// `resend_ok` (the request is idempotent): a request that may have reached the court is never sent twice.
    net::awaitable<fetched> fetch(std::string_view host, std::uint16_t port, std::string_view wire, bool head_request,
                                  bool inspect, bool resend_ok);
    /// Reads the answer's header of a request already written on `f.conn` (and the body for inspection).
    net::awaitable<void> read_answer(fetched& f, bool head_request, bool inspect);
    /// Reads up to `cap` more body bytes into `buf`; 0 with `err` set on failure.
    net::awaitable<std::size_t> read_body_some(upstream_conn& conn, http::response_parser<http::buffer_body>& p,
                                               char* buf, std::size_t cap, upstream_error& err);
    /// Appends the next piece of the body to `out` (at most 64 KiB); `err` set on failure.
    net::awaitable<void> read_body_into(upstream_conn& conn, http::response_parser<http::buffer_body>& p,
                                        std::string& out, upstream_error& err);
    /// A small request/answer exchange for logins and logouts (whole body, 1 MiB at most).
    net::awaitable<exchanged> exchange(std::string_view host, std::uint16_t port, http::request<http::string_body> req);
    /// A new verified connection, never from the pool (a streamed upload must not meet a dead one).
    net::awaitable<std::unique_ptr<upstream_conn>> connect(std::string_view host, std::uint16_t port,
                                                           upstream_error& err);
    /// A plain TCP connection to `host:port` at its resolved address (blind tunnels).
    net::awaitable<std::optional<beast::tcp_stream>> connect_tcp(std::string_view host, std::uint16_t port,
                                                                 upstream_error& err);
    /// Gives back a connection whose last exchange completed cleanly.
    void release(std::unique_ptr<upstream_conn> conn);

    const upstream_timeouts& timeouts() const { return timeouts_; } ///< the timeouts in force
    std::uint64_t connects() const { return connects_; }            ///< new TLS connections made so far

    /// Answers read whole when they are text, to recognise login pages (PROTOCOL.md §3).
    static constexpr std::size_t inspect_limit = 4u << 20;
    /// The longest header section accepted from upstream.
    static constexpr std::size_t header_limit = 64 * 1024;

private:
    /// An idle pooled connection (checked quiet when `must_be_quiet`), or a new one.
    net::awaitable<std::unique_ptr<upstream_conn>> acquire(std::string_view host, std::uint16_t port,
                                                           bool must_be_quiet, upstream_error& err);
    net::awaitable<tcp::resolver::results_type> resolve(std::string_view host, std::uint16_t port,
                                                        upstream_error& err);

    /// Idle connections by (host, port).
    struct pool_key_less {
        using is_transparent = void;
        template <class A, class B>
        bool operator()(const A& a, const B& b) const {
            const std::string_view ah = a.first, bh = b.first;  // string or string_view keys alike
            return ah != bh ? ah < bh : a.second < b.second;
        }
    };
    using pool_key = std::pair<std::string, std::uint16_t>;

    net::any_io_executor ex_;
    std::shared_ptr<ssl::context> ctx_;
    std::map<std::string, endpoint> resolve_;
    std::uint64_t generation_ = 0;
    std::map<pool_key, std::vector<std::unique_ptr<upstream_conn>>, pool_key_less> idle_;
    upstream_timeouts timeouts_;
    std::uint64_t connects_ = 0;
    static constexpr std::size_t max_idle_per_host = 32;
};

/// Maps an error code of an upstream step to the fault a client is told about.
[[nodiscard]] upstream_error upstream_failure(const boost::system::error_code& ec, routing::upstream_fault otherwise);

} // namespace courtroute::proxy
