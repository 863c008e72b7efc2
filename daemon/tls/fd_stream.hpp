#pragma once
/// fd_stream: TLS with OpenSSL straight on a TCP socket's descriptor, for the proxy's intercepted
/// client side and its upstream connections.
///
/// Why not `ssl::stream` (what `beast::ssl_stream` wraps): it keeps, per connection, two ~17 KiB
/// engine buffers and an OpenSSL BIO pair with two ~17 KiB rings, and copies every byte
/// between them (Beast's flat_stream adds a coalescing buffer on top). An idle intercepted
/// tunnel cost ~100 KiB that way. Here OpenSSL reads and writes the socket itself through a
/// tiny BIO (`recv`/`send` on the descriptor), so the only buffers are OpenSSL's own record
/// buffers, which `SSL_MODE_RELEASE_BUFFERS` frees whenever they are empty: an idle connection
/// keeps its SSL state and nothing else.
///
/// When OpenSSL says `SSL_ERROR_WANT_READ`/`WANT_WRITE`, the operation waits for the socket to
/// become readable/writable (`socket.async_wait`) and calls OpenSSL again. It never waits before
/// asking OpenSSL first, so a record OpenSSL already holds is always delivered without touching
/// the socket (waiting on the socket while OpenSSL holds data would hang the read).
///
/// `fd_stream` is an Asio AsyncReadStream and AsyncWriteStream (Beast's `http::async_read`,
/// `http::async_write` and `net::async_write` work on it), with the error codes `ssl::stream`
/// gives: `net::error::eof` after the peer's close_notify (Beast turns it into
/// `http::error::end_of_stream`), `net::ssl::error::stream_truncated` when the connection ends
/// without one, the socket's own error (`connection_reset`, `broken_pipe`, ...) when it fails,
/// and other OpenSSL errors in `net::error::get_ssl_category()`.
///
/// Its lowest layer is a `timed_socket`: a `tcp::socket` with Beast's timeout interface
/// (`expires_after`, `expires_never`, `socket()`, `async_connect`), so code written for
/// `beast::ssl_stream<beast::tcp_stream>` keeps its timeouts unchanged: a wait that outlives the
/// deadline closes the socket and completes with `beast::error::timeout`.
///
/// Thread safety as Asio's: one strand (here: one worker thread) per stream; at most one read
/// and one write operation outstanding at a time (they may overlap), handshake and shutdown alone.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <openssl/ssl.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

namespace courtroute::tls {

/// The TCP socket under an `fd_stream`, with the timeout interface of `beast::tcp_stream`.
///
/// A deadline (`expires_after`/`expires_at`) applies to every wait started after it is set,
/// until it is set again; `expires_never` lifts it. When it passes while a wait (socket
/// readiness for `fd_stream`, or `async_connect`) is outstanding, the socket is closed and the
/// waiting operations complete with `beast::error::timeout`; a wait started after it has passed
/// fails at once the same way. Unlike Beast, setting a deadline does not touch the timer: it is
/// armed only when an operation actually has to wait and stays armed (re-armed lazily when the
/// deadline moved on), so a request served without blocking costs no timer work at all.
///
/// Movable; the socket and timer live in one shared block so a timer handler that runs after
/// the stream is gone finds nothing (the handler holds a weak reference).
class timed_socket {
public:
    /// The executor of the socket and timer.
    using executor_type = boost::asio::any_io_executor;
    /// The socket.
    using socket_type = boost::asio::ip::tcp::socket;
    /// The clock of deadlines.
    using clock_type = std::chrono::steady_clock;

    /// A closed socket on `ex` (open it with `async_connect`).
    explicit timed_socket(const executor_type& ex);
    /// Takes over a connected socket (its executor is used for the timer too).
    explicit timed_socket(socket_type socket);
    /// Moves the socket, the timer and the deadline.
    timed_socket(timed_socket&&) noexcept = default;
    /// Moves the socket, the timer and the deadline.
    timed_socket& operator=(timed_socket&&) noexcept = default;
    /// Closes the socket; a pending timer handler finds nothing left to do.
    ~timed_socket();

    /// The socket's executor.
    [[nodiscard]] executor_type get_executor() noexcept { return state_->socket.get_executor(); }
    /// The socket (its address is stable across moves of this object).
    [[nodiscard]] socket_type& socket() noexcept { return state_->socket; }
    /// Same, const.
    [[nodiscard]] const socket_type& socket() const noexcept { return state_->socket; }

    /// Waits started from now on must end within `d`.
    void expires_after(clock_type::duration d) { expires_at(clock_type::now() + d); }
    /// Waits started from now on must end by `t`.
    void expires_at(clock_type::time_point t);
    /// Waits started from now on have no deadline.
    void expires_never();
    /// Cancels the outstanding waits (they complete with `operation_aborted`).
    void cancel();
    /// Closes the socket (outstanding waits complete with `operation_aborted`).
    void close();

    /// Connects to the first endpoint of `endpoints` that answers, within the deadline.
    /// Completes with `void(error_code, tcp::endpoint)`; `beast::error::timeout` when the
    /// deadline passed.
    template <class EndpointSequence, class CompletionToken>
    auto async_connect(const EndpointSequence& endpoints, CompletionToken&& token);

    /// For the operations built on this socket: call before waiting on the socket. Returns
    /// `beast::error::timeout` (having closed the socket) when the deadline has already passed,
    /// else arms the timer if needed. Every call must be paired with one `end_wait`.
    [[nodiscard]] boost::system::error_code begin_wait();
    /// For the operations built on this socket: call when a wait completed with `ec`; turns
    /// the error of a wait cut short by the deadline into `beast::error::timeout`.
    void end_wait(boost::system::error_code& ec) noexcept;

private:
    /// The socket and what the deadline logic needs, in one block the timer handler can
    /// reference weakly.
    struct state {
        explicit state(socket_type s) : socket(std::move(s)), timer(socket.get_executor()) {}

        socket_type socket;
        boost::asio::steady_timer timer;
        clock_type::time_point deadline = clock_type::time_point::max();  ///< max: none
        clock_type::time_point armed_for = clock_type::time_point::max(); ///< the pending timer's expiry; max: none
        unsigned waiting = 0;   ///< waits between begin_wait and end_wait
        bool timed_out = false; ///< the deadline closed the socket (sticky: the socket is gone)
    };
    struct timer_handler;
    static void arm(const std::shared_ptr<state>& s);

    std::shared_ptr<state> state_;
};

/// TLS over a `timed_socket` with OpenSSL working on the descriptor itself. See the file comment.
///
/// Not movable: OpenSSL's BIO points back at the stream (keep it in place, or behind a
/// `unique_ptr`). Destroying it with an operation outstanding is undefined, as for Asio streams.
class fd_stream {
public:
    /// The executor of the socket.
    using executor_type = timed_socket::executor_type;
    /// The layer below: the socket with deadlines (what `beast::get_lowest_layer` returns).
    using next_layer_type = timed_socket;
    /// The TCP socket itself.
    using lowest_layer_type = timed_socket::socket_type;
    /// OpenSSL's connection object.
    using native_handle_type = SSL*;
    /// Client or server, as for `ssl::stream`.
    using handshake_type = boost::asio::ssl::stream_base::handshake_type;

    /// An unconnected stream using `ctx` (connect with `next_layer().async_connect`).
    /// Throws `boost::system::system_error` when OpenSSL cannot make the connection object.
    fd_stream(const executor_type& ex, boost::asio::ssl::context& ctx);
    /// TLS over a connected socket.
    fd_stream(lowest_layer_type socket, boost::asio::ssl::context& ctx);
    /// TLS over the socket of a connected `beast::tcp_stream` (which is left without one).
    fd_stream(boost::beast::tcp_stream&& stream, boost::asio::ssl::context& ctx);
    fd_stream(const fd_stream&) = delete;
    fd_stream& operator=(const fd_stream&) = delete;
    /// Frees the OpenSSL connection (no close_notify: call `async_shutdown` for that) and
    /// closes the socket.
    ~fd_stream();

    /// The socket's executor.
    [[nodiscard]] executor_type get_executor() noexcept { return next_.get_executor(); }
    /// OpenSSL's connection object, e.g. for `prepare_upstream_stream` or `SSL_get_servername`.
    [[nodiscard]] SSL* native_handle() noexcept { return ssl_; }
    /// The socket with deadlines.
    [[nodiscard]] next_layer_type& next_layer() noexcept { return next_; }
    /// The TCP socket.
    [[nodiscard]] lowest_layer_type& lowest_layer() noexcept { return next_.socket(); }

    /// Runs the TLS handshake as `type`. Completes with `void(error_code)`.
    template <class CompletionToken>
    auto async_handshake(handshake_type type, CompletionToken&& token);

    /// Runs the TLS handshake as `type`, taking the first bytes from `buffers` (bytes the
    /// caller already read off the socket, e.g. a ClientHello that came in with the CONNECT
    /// request) before reading the socket. Completes with `void(error_code, std::size_t)`, the
    /// size being all of `buffers`: like `ssl::stream`, every byte given is consumed, and any
    /// that the handshake did not need is delivered by the next reads.
    template <class ConstBufferSequence, class CompletionToken>
    auto async_handshake(handshake_type type, const ConstBufferSequence& buffers, CompletionToken&& token);

    /// Reads some decrypted bytes into `buffers` (into its first non-empty buffer). Completes
    /// with `void(error_code, std::size_t)`.
    template <class MutableBufferSequence, class CompletionToken>
    auto async_read_some(const MutableBufferSequence& buffers, CompletionToken&& token);

    /// Writes some bytes of `buffers`: its first buffer, or when that is small and more
    /// follow, up to one record's worth (16 KiB) of the sequence gathered into one TLS record.
    /// Completes with `void(error_code, std::size_t)`.
    template <class ConstBufferSequence, class CompletionToken>
    auto async_write_some(const ConstBufferSequence& buffers, CompletionToken&& token);

    /// Sends close_notify and waits for the peer's (discarding application data the peer still
    /// sends, at most `shutdown_discard_limit` bytes), within the lowest layer's deadline.
    /// Completes with `void(error_code)`: success when both close_notify alerts crossed,
    /// `stream_truncated` when the peer closed without one or sent more than the limit.
    template <class CompletionToken>
    auto async_shutdown(CompletionToken&& token);

    /// Plaintext gathered into one record by `async_write_some` (OpenSSL's maximum record).
    static constexpr std::size_t coalesce_limit = 16384;
    /// At most this much is handed to one SSL_write, so one write of a large body does not keep
    /// the thread from its other connections for long.
    static constexpr std::size_t write_limit = 256 * 1024;
    /// Application bytes `async_shutdown` discards while waiting for the peer's close_notify.
    static constexpr std::size_t shutdown_discard_limit = 256 * 1024;

private:
    /// What one call into OpenSSL came to.
    enum class step {
        done,       ///< finished (successfully or with an error in `ec`)
        want_read,  ///< call again once the socket is readable
        want_write, ///< call again once the socket is writable
    };

    template <class Action, bool WithSize>
    struct io_op;
    template <class ConstBufferSequence>
    struct handshake_action;
    template <class MutableBufferSequence>
    struct read_action;
    template <class ConstBufferSequence>
    struct write_action;
    struct shutdown_action;
    friend struct fd_bio;

    void init(boost::asio::ssl::context& ctx);
    void add_prefix(const void* data, std::size_t size);
    step do_handshake(handshake_type type, bool first, boost::system::error_code& ec);
    step do_read(boost::asio::mutable_buffer b, boost::system::error_code& ec, std::size_t& n);
    step do_write(boost::asio::const_buffer b, boost::system::error_code& ec, std::size_t& n);
    step do_shutdown(shutdown_action& a, boost::system::error_code& ec);
    /// Clears what the previous call into OpenSSL left behind (error queue, BIO notes).
    void before_call() noexcept;
    /// What OpenSSL's `SSL_get_error` answer means here: a wait, or the end with `ec` set.
    step classify(int ssl_error, boost::system::error_code& ec);

    timed_socket next_;
    SSL* ssl_ = nullptr;
    std::string prefix_;          ///< bytes read before the handshake, served first (freed once drained)
    std::size_t prefix_used_ = 0; ///< how many of them OpenSSL has taken
    int io_errno_ = 0;            ///< errno of the last failed recv/send (reset before each OpenSSL call)
    bool eof_ = false;            ///< recv returned 0: the peer closed its side of the TCP connection
};

// ------------------------------------------------------------------------------------------
// implementation

template <class EndpointSequence>
struct timed_socket_connect_op {
    timed_socket& t;
    EndpointSequence endpoints;

    template <class Self>
    void operator()(Self& self) {
        if (auto ec = t.begin_wait()) {
            boost::asio::post(boost::asio::append(std::move(self), ec, boost::asio::ip::tcp::endpoint{}));
            return;
        }
        boost::asio::async_connect(t.socket(), endpoints, std::move(self));
    }

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec, boost::asio::ip::tcp::endpoint ep) {
        t.end_wait(ec);
        self.complete(ec, ep);
    }
};

template <class EndpointSequence, class CompletionToken>
auto timed_socket::async_connect(const EndpointSequence& endpoints, CompletionToken&& token) {
    return boost::asio::async_compose<CompletionToken, void(boost::system::error_code, boost::asio::ip::tcp::endpoint)>(
        timed_socket_connect_op<EndpointSequence>{*this, endpoints}, token, state_->socket);
}

/// The loop every operation runs: call OpenSSL (the action); on WANT_READ/WANT_WRITE wait for
/// the socket and call again; else complete (posted when nothing was waited for, since a
/// handler must never run inside its initiating function).
template <class Action, bool WithSize>
struct fd_stream::io_op {
    fd_stream& s;
    Action action;
    boost::system::error_code result{};
    std::size_t n = 0;
    enum class phase : unsigned char { start, waiting, finishing } at = phase::start;

    template <class Self>
    void operator()(Self& self, boost::system::error_code wait_ec = {}) {
        if (at == phase::finishing) return finish(self);
        if (at == phase::waiting) {
            s.next_.end_wait(wait_ec);
            if (wait_ec) {
                result = wait_ec;
                n = 0;
                return finish(self);
            }
        }
        const step st = action(s, result, n);
        if (st == step::done) {
            if (at == phase::waiting) return finish(self);
            at = phase::finishing;
            boost::asio::post(std::move(self));
            return;
        }
        at = phase::waiting;
        if (auto ec = s.next_.begin_wait()) {
            boost::asio::post(boost::asio::append(std::move(self), ec));
            return;
        }
        s.next_.socket().async_wait(st == step::want_read ? lowest_layer_type::wait_read : lowest_layer_type::wait_write,
                                    std::move(self));
    }

    template <class Self>
    void finish(Self& self) {
        if constexpr (WithSize) self.complete(result, n);
        else self.complete(result);
    }
};

template <class ConstBufferSequence>
struct fd_stream::handshake_action {
    handshake_type type;
    ConstBufferSequence prefix;
    bool first = true;

    step operator()(fd_stream& s, boost::system::error_code& ec, std::size_t& n) {
        if (first) {
            for (auto it = boost::asio::buffer_sequence_begin(prefix); it != boost::asio::buffer_sequence_end(prefix); ++it) {
                boost::asio::const_buffer b(*it);
                s.add_prefix(b.data(), b.size());
                n += b.size();
            }
        }
        const step st = s.do_handshake(type, first, ec);
        first = false;
        return st;
    }
};

template <class MutableBufferSequence>
struct fd_stream::read_action {
    MutableBufferSequence buffers;

    step operator()(fd_stream& s, boost::system::error_code& ec, std::size_t& n) {
        for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
            boost::asio::mutable_buffer b(*it);
            if (b.size() != 0) return s.do_read(b, ec, n);
        }
        n = 0;  // nothing to read into: done at once, as for Asio's sockets
        return step::done;
    }
};

template <class ConstBufferSequence>
struct fd_stream::write_action {
    ConstBufferSequence buffers;

    step operator()(fd_stream& s, boost::system::error_code& ec, std::size_t& n) {
        auto it = boost::asio::buffer_sequence_begin(buffers);
        const auto end = boost::asio::buffer_sequence_end(buffers);
        while (it != end && boost::asio::const_buffer(*it).size() == 0) ++it;
        if (it == end) {
            n = 0;
            return step::done;
        }
        const boost::asio::const_buffer first(*it);
        auto rest = std::next(it);
        while (rest != end && boost::asio::const_buffer(*rest).size() == 0) ++rest;
        if (first.size() >= coalesce_limit || rest == end) return s.do_write(first, ec, n);
        // A small first piece with more behind it (an HTTP head and its body, Beast's header
        // fields): one record instead of one per piece. The copy is rebuilt identically when
        // OpenSSL asks for the write to be retried (same bytes, same length; the stack address
        // may differ, which SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER allows).
        std::array<unsigned char, coalesce_limit> stage;  // NOLINT: filled below, up to `used`
        std::size_t used = 0;
        for (; it != end && used < stage.size(); ++it) {
            boost::asio::const_buffer b(*it);
            const std::size_t k = std::min(b.size(), stage.size() - used);
            if (k) std::memcpy(stage.data() + used, b.data(), k);
            used += k;
        }
        return s.do_write(boost::asio::const_buffer(stage.data(), used), ec, n);
    }
};

struct fd_stream::shutdown_action {
    bool sent = false;          ///< our close_notify is out; now reading until the peer's
    std::size_t discarded = 0;  ///< application bytes thrown away meanwhile

    step operator()(fd_stream& s, boost::system::error_code& ec, std::size_t&) { return s.do_shutdown(*this, ec); }
};

template <class CompletionToken>
auto fd_stream::async_handshake(handshake_type type, CompletionToken&& token) {
    using action = handshake_action<boost::asio::const_buffer>;
    return boost::asio::async_compose<CompletionToken, void(boost::system::error_code)>(
        io_op<action, false>{*this, action{type, {}}}, token, next_.socket());
}

template <class ConstBufferSequence, class CompletionToken>
auto fd_stream::async_handshake(handshake_type type, const ConstBufferSequence& buffers, CompletionToken&& token) {
    using action = handshake_action<ConstBufferSequence>;
    return boost::asio::async_compose<CompletionToken, void(boost::system::error_code, std::size_t)>(
        io_op<action, true>{*this, action{type, buffers}}, token, next_.socket());
}

template <class MutableBufferSequence, class CompletionToken>
auto fd_stream::async_read_some(const MutableBufferSequence& buffers, CompletionToken&& token) {
    using action = read_action<MutableBufferSequence>;
    return boost::asio::async_compose<CompletionToken, void(boost::system::error_code, std::size_t)>(
        io_op<action, true>{*this, action{buffers}}, token, next_.socket());
}

template <class ConstBufferSequence, class CompletionToken>
auto fd_stream::async_write_some(const ConstBufferSequence& buffers, CompletionToken&& token) {
    using action = write_action<ConstBufferSequence>;
    return boost::asio::async_compose<CompletionToken, void(boost::system::error_code, std::size_t)>(
        io_op<action, true>{*this, action{buffers}}, token, next_.socket());
}

template <class CompletionToken>
auto fd_stream::async_shutdown(CompletionToken&& token) {
    return boost::asio::async_compose<CompletionToken, void(boost::system::error_code)>(
        io_op<shutdown_action, false>{*this, shutdown_action{}}, token, next_.socket());
}

} // namespace courtroute::tls
