// fd_stream: OpenSSL on a socket descriptor through a tiny BIO, and the socket's deadlines.
#include "tls/fd_stream.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <limits>

namespace courtroute::tls {

using boost::system::error_code;

// ------------------------------------------------------------------------------------------
// timed_socket

/// Runs when the timer fires. It judges against the deadline in force *now*, so a stale firing
/// (the deadline moved meanwhile) re-arms instead of cutting the connection.
struct timed_socket::timer_handler {
    std::weak_ptr<state> weak;

    void operator()(const error_code& ec) const {
        if (ec == boost::asio::error::operation_aborted) return;  // re-armed, or the socket is gone
        auto s = weak.lock();
        if (!s) return;
        s->armed_for = clock_type::time_point::max();
        if (s->waiting == 0 || s->deadline == clock_type::time_point::max()) return;  // armed again when needed
        if (clock_type::now() < s->deadline) return arm(s);
        s->timed_out = true;
        error_code ignored;
        s->socket.close(ignored);  // every outstanding wait completes, end_wait says timeout
    }
};

void timed_socket::arm(const std::shared_ptr<state>& s) {
    s->armed_for = s->deadline;
    s->timer.expires_at(s->deadline);  // cancels a pending wait: its handler sees operation_aborted
    s->timer.async_wait(timer_handler{s});
}

timed_socket::timed_socket(const executor_type& ex) : state_(std::make_shared<state>(socket_type(ex))) {}

timed_socket::timed_socket(socket_type socket) : state_(std::make_shared<state>(std::move(socket))) {}

timed_socket::~timed_socket() {
    if (!state_) return;  // moved from
    error_code ignored;
    state_->socket.close(ignored);
    state_->timer.cancel();
}

void timed_socket::expires_at(clock_type::time_point t) { state_->deadline = t; }

void timed_socket::expires_never() { state_->deadline = clock_type::time_point::max(); }

void timed_socket::cancel() {
    error_code ignored;
    state_->socket.cancel(ignored);
}

void timed_socket::close() {
    error_code ignored;
    state_->socket.close(ignored);
}

error_code timed_socket::begin_wait() {
    auto& s = *state_;
    ++s.waiting;
    if (s.timed_out) return boost::beast::error::timeout;
    if (s.deadline == clock_type::time_point::max()) return {};
    if (clock_type::now() >= s.deadline) {
        s.timed_out = true;
        error_code ignored;
        s.socket.close(ignored);
        return boost::beast::error::timeout;
    }
    if (s.armed_for > s.deadline) arm(state_);  // not armed, or armed for a later deadline
    return {};
}

void timed_socket::end_wait(error_code& ec) noexcept {
    auto& s = *state_;
    if (s.waiting) --s.waiting;
    if (s.timed_out && (ec == boost::asio::error::operation_aborted || ec == boost::asio::error::bad_descriptor))
        ec = boost::beast::error::timeout;
}

// ------------------------------------------------------------------------------------------
// the BIO: recv/send on the stream's descriptor, after the bytes read before the handshake

struct fd_bio {
    static BIO_METHOD* method() {
        static BIO_METHOD* const m = [] {
            BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "courtroute socket");
            if (!made || BIO_meth_set_read(made, read) != 1 || BIO_meth_set_write(made, write) != 1 ||
                BIO_meth_set_ctrl(made, ctrl) != 1)
                return static_cast<BIO_METHOD*>(nullptr);
            return made;
        }();
        return m;
    }

    static int read(BIO* b, char* out, int len) {
        BIO_clear_retry_flags(b);
        auto* s = static_cast<fd_stream*>(BIO_get_data(b));
        if (!s || len <= 0) return 0;
        if (s->prefix_used_ < s->prefix_.size()) {
            const std::size_t k = std::min(static_cast<std::size_t>(len), s->prefix_.size() - s->prefix_used_);
            std::memcpy(out, s->prefix_.data() + s->prefix_used_, k);
            s->prefix_used_ += k;
            if (s->prefix_used_ == s->prefix_.size()) {
                std::string().swap(s->prefix_);  // drained: give the memory back
                s->prefix_used_ = 0;
            }
            return static_cast<int>(k);
        }
        // Asked each time, never kept: once the socket is closed this is -1 (EBADF), never a
        // descriptor number the kernel has since given to another connection.
        const int fd = s->next_.socket().native_handle();
        for (;;) {
            const ssize_t r = ::recv(fd, out, static_cast<std::size_t>(len), MSG_DONTWAIT);
            if (r > 0) return static_cast<int>(r);
            if (r == 0) {
                s->eof_ = true;
                return 0;
            }
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                BIO_set_retry_read(b);
                return -1;
            }
            s->io_errno_ = errno;
            return -1;
        }
    }

    static int write(BIO* b, const char* data, int len) {
        BIO_clear_retry_flags(b);
        auto* s = static_cast<fd_stream*>(BIO_get_data(b));
        if (!s || len <= 0) return 0;
        const int fd = s->next_.socket().native_handle();
        for (;;) {
            // MSG_NOSIGNAL: a peer that went away is an EPIPE error, not a SIGPIPE for the daemon.
            const ssize_t r = ::send(fd, data, static_cast<std::size_t>(len), MSG_DONTWAIT | MSG_NOSIGNAL);
            if (r >= 0) return static_cast<int>(r);
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                BIO_set_retry_write(b);
                return -1;
            }
            s->io_errno_ = errno;
            return -1;
        }
    }

    static long ctrl(BIO* b, int cmd, long, void*) {
        switch (cmd) {
        case BIO_CTRL_FLUSH:
            return 1;  // nothing is buffered here
        case BIO_CTRL_EOF: {
            auto* s = static_cast<fd_stream*>(BIO_get_data(b));
            return s && s->eof_ ? 1 : 0;
        }
        default:
            return 0;  // no kTLS, no pending counts, no push/pop
        }
    }
};

// ------------------------------------------------------------------------------------------
// fd_stream

fd_stream::fd_stream(const executor_type& ex, boost::asio::ssl::context& ctx) : next_(ex) { init(ctx); }

fd_stream::fd_stream(lowest_layer_type socket, boost::asio::ssl::context& ctx) : next_(std::move(socket)) { init(ctx); }

fd_stream::fd_stream(boost::beast::tcp_stream&& stream, boost::asio::ssl::context& ctx)
    : next_(stream.release_socket()) {
    init(ctx);
}

fd_stream::~fd_stream() {
    if (ssl_) SSL_free(ssl_);  // frees the BIO too; the socket closes with next_
}

void fd_stream::init(boost::asio::ssl::context& ctx) {
    auto fail = [this](const char* what) {
        const auto code = static_cast<int>(ERR_get_error());
        ERR_clear_error();
        if (ssl_) SSL_free(ssl_);
        ssl_ = nullptr;
        throw boost::system::system_error(error_code(code, boost::asio::error::get_ssl_category()), what);
    };
    ERR_clear_error();
    ssl_ = SSL_new(ctx.native_handle());
    if (!ssl_) fail("SSL_new");
    // Retries may pass the same bytes from another address (a rebuilt coalescing buffer), and
    // OpenSSL's record buffers are freed whenever they are empty: an idle stream holds none.
    SSL_set_mode(ssl_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    BIO_METHOD* m = fd_bio::method();
    BIO* bio = m ? BIO_new(m) : nullptr;
    if (!bio) fail("BIO_new");
    BIO_set_data(bio, this);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl_, bio, bio);  // one reference, owned by ssl_
}

void fd_stream::add_prefix(const void* data, std::size_t size) {
    if (size) prefix_.append(static_cast<const char*>(data), size);
}

void fd_stream::before_call() noexcept {
    ERR_clear_error();  // SSL_get_error reads this thread's queue: another stream's leftovers would mislead it
    io_errno_ = 0;
}

fd_stream::step fd_stream::classify(int ssl_error, error_code& ec) {
    switch (ssl_error) {
    case SSL_ERROR_WANT_READ:
        return step::want_read;
    case SSL_ERROR_WANT_WRITE:
        return step::want_write;
    case SSL_ERROR_ZERO_RETURN:
        ec = boost::asio::error::eof;  // the peer's close_notify
        break;
    default: {
        const unsigned long first = ERR_peek_error();
        const bool unexpected_eof = first != 0 && ERR_GET_LIB(first) == ERR_LIB_SSL &&
                                    ERR_GET_REASON(first) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
        if (unexpected_eof)
            ec = boost::asio::ssl::error::stream_truncated;  // OpenSSL 3: TCP closed without close_notify
        else if (ssl_error == SSL_ERROR_SYSCALL && io_errno_ != 0)
            ec = error_code(io_errno_, boost::asio::error::get_system_category());  // reset, broken pipe, ...
        else if (first != 0)
            ec = error_code(static_cast<int>(first), boost::asio::error::get_ssl_category());
        else if (ssl_error == SSL_ERROR_SYSCALL)
            ec = boost::asio::ssl::error::stream_truncated;  // EOF with errno 0: the OpenSSL 1.1 way of saying the same
        else
            ec = error_code(static_cast<int>(ssl_error), boost::asio::error::get_ssl_category());
        break;
    }
    }
    ERR_clear_error();
    return step::done;
}

fd_stream::step fd_stream::do_handshake(handshake_type type, bool first, error_code& ec) {
    ec = {};
    if (first) {
        if (type == handshake_type::client) SSL_set_connect_state(ssl_);
        else SSL_set_accept_state(ssl_);
    }
    before_call();
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) return step::done;
    return classify(SSL_get_error(ssl_, r), ec);
}

fd_stream::step fd_stream::do_read(boost::asio::mutable_buffer b, error_code& ec, std::size_t& n) {
    ec = {};
    n = 0;
    before_call();
    std::size_t got = 0;
    if (SSL_read_ex(ssl_, b.data(), b.size(), &got) == 1) {
        n = got;
        return step::done;
    }
    return classify(SSL_get_error(ssl_, 0), ec);
}

fd_stream::step fd_stream::do_write(boost::asio::const_buffer b, error_code& ec, std::size_t& n) {
    ec = {};
    n = 0;
    before_call();
    // Without SSL_MODE_ENABLE_PARTIAL_WRITE OpenSSL sends all of it (record after record) before
    // saying done, and a retry after WANT_WRITE must offer the same bytes: the callers do.
    std::size_t written = 0;
    if (SSL_write_ex(ssl_, b.data(), std::min(b.size(), write_limit), &written) == 1) {
        n = written;
        return step::done;
    }
    return classify(SSL_get_error(ssl_, 0), ec);
}

fd_stream::step fd_stream::do_shutdown(shutdown_action& a, error_code& ec) {
    ec = {};
    if (!a.sent) {
        before_call();
        const int r = SSL_shutdown(ssl_);
        if (r == 1) return step::done;  // the peer's close_notify had already come: both crossed
        if (r < 0) return classify(SSL_get_error(ssl_, r), ec);
        a.sent = true;
    }
    // Ours is out; read until the peer's, throwing away what it still sends.
    for (;;) {
        std::array<char, 4096> scratch;  // NOLINT: written by SSL_read_ex
        std::size_t got = 0;
        before_call();
        if (SSL_read_ex(ssl_, scratch.data(), scratch.size(), &got) == 1) {
            a.discarded += got;
            if (a.discarded > shutdown_discard_limit) {
                ec = boost::asio::ssl::error::stream_truncated;
                return step::done;
            }
            continue;
        }
        const int err = SSL_get_error(ssl_, 0);
        if (err == SSL_ERROR_ZERO_RETURN) {
            ERR_clear_error();
            return step::done;
        }
        return classify(err, ec);
    }
}

} // namespace courtroute::tls
