// fd_stream against Asio's ssl::stream (and itself) over real loopback TCP connections.
#include <gtest/gtest.h>

#include "tls/contexts.hpp"
#include "tls/fd_stream.hpp"
#include "tls/local_ca.hpp"

#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <openssl/ssl.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

using namespace courtroute::tls;
namespace fs = std::filesystem;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using net::ip::tcp;
using boost::system::error_code;
using namespace std::chrono_literals;
using namespace net::experimental::awaitable_operators;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr std::string_view host = "ecf.azb.uscourts.gov";

/// A local CA in a temporary directory, a server context for `host` and a client context
/// trusting the CA: the real contexts the proxy uses.
class pki {
public:
    pki() {
        std::string templ = (fs::path(testing::TempDir()) / "courtroute-fdstream-XXXXXX").string();
        if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
        dir_ = templ;
        static const courtroute::secret_box box{std::array<unsigned char, 32>{7, 7, 7}};
        ca_ = std::make_shared<const local_ca>(
            local_ca::open_or_create(dir_, box, ca_permitted_names({std::string(host)})));
        cache_ = std::make_unique<leaf_cache>(ca_);
        server = cache_->server_context(host);
        client = make_upstream_context(ca_->cert_path());
    }
    pki(const pki&) = delete;
    pki& operator=(const pki&) = delete;
    ~pki() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

private:
    fs::path dir_;
    std::shared_ptr<const local_ca> ca_;
    std::unique_ptr<leaf_cache> cache_;

public:
    std::shared_ptr<ssl::context> server;
    std::shared_ptr<ssl::context> client;
};

pki& keys() {
    static pki p;
    return p;
}

/// Two connected loopback sockets: (client side, server side).
std::pair<tcp::socket, tcp::socket> socket_pair(net::io_context& io) {
    tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    tcp::socket a(io);
    a.connect(acceptor.local_endpoint());
    tcp::socket b = acceptor.accept();
    a.set_option(tcp::no_delay(true));  // as the proxy's sockets: no Nagle stalls on record tails
    b.set_option(tcp::no_delay(true));
    return {std::move(a), std::move(b)};
}

/// A small send buffer, so large transfers keep running into WANT_WRITE (and the reader into
/// WANT_READ). The receive buffer stays as it is: on loopback (64 KiB segments) a tiny one
/// makes the kernel's silly-window avoidance stall the connection for its persist timer.
void small_buffers(tcp::socket& s) { s.set_option(net::socket_base::send_buffer_size(16384)); }

/// Runs `body` on `io` to completion (at most `limit`); fails the test when it did not finish
/// or threw. Returns whether it finished.
bool run(net::io_context& io, net::awaitable<void> body, std::chrono::seconds limit = 20s) {
    bool done = false;
    std::string failure;
    net::co_spawn(io, std::move(body), [&](std::exception_ptr e) {
        done = true;
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            failure = x.what();
        }
    });
    // Until it is done (a deadline timer left armed must not keep the test waiting).
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done && io.run_one_until(until)) {
    }
    EXPECT_TRUE(done) << "did not finish within " << limit.count() << " s (a hang)";
    EXPECT_EQ(failure, "");
    return done && failure.empty();
}

std::string pattern(std::size_t n, unsigned seed) {
    std::string s(n, '\0');
    std::uint32_t x = seed * 2654435761u + 1;
    for (auto& c : s) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        c = static_cast<char>(x);
    }
    return s;
}

/// Both handshakes at once.
template <class Client, class Server>
net::awaitable<std::pair<error_code, error_code>> handshake_both(Client& c, Server& s) {
    error_code cec, sec;
    auto client = [&]() -> net::awaitable<void> {
        std::tie(cec) = co_await c.async_handshake(ssl::stream_base::client, use_tuple);
        if (cec) beast::get_lowest_layer(c).close();
    };
    auto server = [&]() -> net::awaitable<void> {
        std::tie(sec) = co_await s.async_handshake(ssl::stream_base::server, use_tuple);
        if (sec) beast::get_lowest_layer(s).close();
    };
    co_await (client() && server());
    co_return std::pair{cec, sec};
}

/// Writes `data` in pieces of a small buffer followed by a large one (the shape of a head and a
/// body), through `net::async_write`.
template <class Stream>
net::awaitable<error_code> write_all(Stream& s, const std::string& data) {
    std::size_t at = 0, round = 0;
    while (at < data.size()) {
        const std::size_t small = std::min<std::size_t>(100 + round % 300, data.size() - at);
        const std::size_t big = std::min<std::size_t>(70000 + 1000 * (round % 7), data.size() - at - small);
        std::array<net::const_buffer, 2> parts{net::buffer(data.data() + at, small), net::buffer(data.data() + at + small, big)};
        auto [ec, n] = co_await net::async_write(s, parts, use_tuple);
        if (ec) co_return ec;
        at += n;
        ++round;
    }
    co_return error_code{};
}

/// Reads exactly `n` bytes with reads of varying sizes (small ones leave plaintext inside OpenSSL).
template <class Stream>
net::awaitable<std::pair<error_code, std::string>> read_n(Stream& s, std::size_t n) {
    std::string out;
    std::vector<char> buf(50000);
    std::size_t round = 0;
    while (out.size() < n) {
        const std::size_t want = std::min<std::size_t>({n - out.size(), round % 3 == 0 ? 777 : buf.size()});
        auto [ec, got] = co_await s.async_read_some(net::buffer(buf.data(), want), use_tuple);
        if (ec) co_return std::pair{ec, out};
        out.append(buf.data(), got);
        ++round;
    }
    co_return std::pair{error_code{}, out};
}

/// Sends `a_data` from a to b and `b_data` from b to a, all four directions' loops at once.
template <class A, class B>
net::awaitable<void> exchange_concurrently(A& a, B& b, const std::string& a_data, const std::string& b_data) {
    error_code aw, bw, ar, br;
    std::string at_a, at_b;
    auto write_a = [&]() -> net::awaitable<void> { aw = co_await write_all(a, a_data); };
    auto write_b = [&]() -> net::awaitable<void> { bw = co_await write_all(b, b_data); };
    auto read_a = [&]() -> net::awaitable<void> { std::tie(ar, at_a) = co_await read_n(a, b_data.size()); };
    auto read_b = [&]() -> net::awaitable<void> { std::tie(br, at_b) = co_await read_n(b, a_data.size()); };
    co_await (write_a() && write_b() && read_a() && read_b());
    EXPECT_FALSE(aw) << aw.message();
    EXPECT_FALSE(bw) << bw.message();
    EXPECT_FALSE(ar) << ar.message();
    EXPECT_FALSE(br) << br.message();
    EXPECT_EQ(at_a.size(), b_data.size());
    EXPECT_EQ(at_b.size(), a_data.size());
    EXPECT_TRUE(at_a == b_data) << "bytes from b arrived changed";
    EXPECT_TRUE(at_b == a_data) << "bytes from a arrived changed";
}

using asio_tls = ssl::stream<tcp::socket>;

} // namespace

// ----------------------------------------------------------------------------------- handshakes

TEST(FdStream, ClientVerifiesTheHostAndTalksToAsioServer) {
    net::io_context io;
    auto [cs, ss] = socket_pair(io);
    fd_stream client(std::move(cs), *keys().client);
    asio_tls server(std::move(ss), *keys().server);
    prepare_upstream_stream(client, host);
    run(io, [&]() -> net::awaitable<void> {
        auto [cec, sec] = co_await handshake_both(client, server);
        EXPECT_FALSE(cec) << cec.message();
        EXPECT_FALSE(sec) << sec.message();
        const char* sni = SSL_get_servername(server.native_handle(), TLSEXT_NAMETYPE_host_name);
        EXPECT_STREQ(sni, std::string(host).c_str());
        EXPECT_EQ(SSL_get_verify_result(client.native_handle()), X509_V_OK);
        co_await exchange_concurrently(client, server, "ping", "pong!");
    }());
}

TEST(FdStream, ClientRefusesACertificateForAnotherHost) {
    net::io_context io;
    auto [cs, ss] = socket_pair(io);
    fd_stream client(std::move(cs), *keys().client);
    asio_tls server(std::move(ss), *keys().server);
    prepare_upstream_stream(client, "ecf.other.uscourts.gov");
    run(io, [&]() -> net::awaitable<void> {
        auto [cec, sec] = co_await handshake_both(client, server);
        EXPECT_TRUE(cec);
        EXPECT_EQ(cec.category(), net::error::get_ssl_category()) << cec.message();
        EXPECT_NE(cec.message().find("certificate verify failed"), std::string::npos) << cec.message();
        EXPECT_TRUE(sec);
    }());
}

TEST(FdStream, ServerAnswersAsioClient) {
    net::io_context io;
    auto [cs, ss] = socket_pair(io);
    asio_tls client(std::move(cs), *keys().client);
    fd_stream server(std::move(ss), *keys().server);
    prepare_upstream_stream(client, host);
    run(io, [&]() -> net::awaitable<void> {
        auto [cec, sec] = co_await handshake_both(client, server);
        EXPECT_FALSE(cec) << cec.message();
        EXPECT_FALSE(sec) << sec.message();
        co_await exchange_concurrently(client, server, "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n");
    }());
}

TEST(FdStream, ServerHandshakeTakesTheBytesReadBeforeIt) {
    // What the proxy does with CONNECT: the client sends its head and its ClientHello at once,
    // the proxy reads past the head, and the handshake must take those bytes first.
    for (const bool whole_record : {false, true}) {
        SCOPED_TRACE(whole_record ? "the whole first record pre-read" : "part of the ClientHello pre-read");
        net::io_context io;
        auto sockets = socket_pair(io);  // not a structured binding: clang 14 cannot capture one
        tcp::socket& cs = sockets.first;
        tcp::socket& ss = sockets.second;
        const std::string head = "CONNECT ecf.azb.uscourts.gov:443 HTTP/1.1\r\n\r\n";
        asio_tls client(std::move(cs), *keys().client);
        prepare_upstream_stream(client, host);
        run(io, [&]() -> net::awaitable<void> {
            co_await net::async_write(client.next_layer(), net::buffer(head), use_tuple);
            auto client_side = [&]() -> net::awaitable<error_code> {
                auto [ec] = co_await client.async_handshake(ssl::stream_base::client, use_tuple);
                if (ec) co_return ec;
                auto [wec, wn] = co_await net::async_write(client, net::buffer(std::string_view("hello")), use_tuple);
                co_return wec;
            };
            auto server_side = [&]() -> net::awaitable<std::pair<error_code, std::string>> {
                std::string pre;
                std::size_t want = head.size() + 10;
                if (whole_record) {  // the 5-byte record header says how long the first record is
                    pre.resize(head.size() + 5);
                    co_await net::async_read(ss, net::buffer(pre), use_tuple);
                    want = pre.size() + ((static_cast<unsigned char>(pre[pre.size() - 2]) << 8) |
                                         static_cast<unsigned char>(pre[pre.size() - 1]));
                }
                const std::size_t had = pre.size();
                pre.resize(want);
                auto [rec, rn] = co_await net::async_read(ss, net::buffer(pre.data() + had, want - had), use_tuple);
                EXPECT_FALSE(rec);
                fd_stream server(std::move(ss), *keys().server);
                auto [hec, used] = co_await server.async_handshake(
                    ssl::stream_base::server, net::buffer(pre.data() + head.size(), pre.size() - head.size()), use_tuple);
                EXPECT_EQ(used, pre.size() - head.size());
                if (hec) co_return std::pair{hec, std::string()};
                auto [e, text] = co_await read_n(server, 5);
                co_return std::pair{e, text};
            };
            auto [cec, got] = co_await (client_side() && server_side());
            EXPECT_FALSE(cec) << cec.message();
            EXPECT_FALSE(got.first) << got.first.message();
            EXPECT_EQ(got.second, "hello");
        }());
    }
}

// ------------------------------------------------------------------------------ large transfers

TEST(FdStream, SeveralMegabytesBothWaysAtOnceAgainstAsio) {
    const std::string up = pattern(6u << 20, 1), down = pattern(5u << 20, 2);
    for (const bool fd_is_client : {true, false}) {
        SCOPED_TRACE(fd_is_client ? "fd_stream client, ssl::stream server" : "ssl::stream client, fd_stream server");
        net::io_context io;
        auto [cs, ss] = socket_pair(io);
        small_buffers(cs);
        small_buffers(ss);
        if (fd_is_client) {
            fd_stream client(std::move(cs), *keys().client);
            asio_tls server(std::move(ss), *keys().server);
            prepare_upstream_stream(client, host);
            run(io, [&]() -> net::awaitable<void> {
                auto [cec, sec] = co_await handshake_both(client, server);
                EXPECT_FALSE(cec || sec);
                co_await exchange_concurrently(client, server, up, down);
            }(), 60s);
        } else {
            asio_tls client(std::move(cs), *keys().client);
            fd_stream server(std::move(ss), *keys().server);
            prepare_upstream_stream(client, host);
            run(io, [&]() -> net::awaitable<void> {
                auto [cec, sec] = co_await handshake_both(client, server);
                EXPECT_FALSE(cec || sec);
                co_await exchange_concurrently(client, server, up, down);
            }(), 60s);
        }
    }
}

TEST(FdStream, SeveralMegabytesBothWaysBetweenTwoFdStreams) {
    const std::string up = pattern(4u << 20, 3), down = pattern(4u << 20, 4);
    net::io_context io;
    auto [cs, ss] = socket_pair(io);
    small_buffers(cs);
    fd_stream client(std::move(cs), *keys().client);
    fd_stream server(std::move(ss), *keys().server);
    prepare_upstream_stream(client, host);
    run(io, [&]() -> net::awaitable<void> {
        auto [cec, sec] = co_await handshake_both(client, server);
        EXPECT_FALSE(cec || sec);
        co_await exchange_concurrently(client, server, up, down);
    }(), 60s);
}

TEST(FdStream, PlaintextHeldByOpenSslIsReadWithoutWaitingOnTheSocket) {
    // One 16 000-byte record, then silence: after the first small read the rest sits inside
    // OpenSSL and the socket has nothing. Waiting on the socket would hit the deadline.
    net::io_context io;
    auto [cs, ss] = socket_pair(io);
    fd_stream client(std::move(cs), *keys().client);
    asio_tls server(std::move(ss), *keys().server);
    prepare_upstream_stream(client, host);
    const std::string record = pattern(16000, 5);
    run(io, [&]() -> net::awaitable<void> {
        auto [cec, sec] = co_await handshake_both(client, server);
        EXPECT_FALSE(cec || sec);
        co_await net::async_write(server, net::buffer(record), use_tuple);
        std::string got;
        char piece[100];
        while (got.size() < record.size()) {
            beast::get_lowest_layer(client).expires_after(2s);
            auto [ec, n] = co_await client.async_read_some(net::buffer(piece), use_tuple);
            if (ec) {
                ADD_FAILURE() << "after " << got.size() << " bytes: " << ec.message();
                co_return;
            }
            got.append(piece, n);
        }
        EXPECT_TRUE(got == record);
    }());
}

// ------------------------------------------------------------------------------- how it ends

TEST(FdStream, CloseNotifyIsEofAndEndOfStreamForBeast) {
    net::io_context io;
    auto [cs, ss] = socket_pair(io);
    fd_stream client(std::move(cs), *keys().client);
    asio_tls server(std::move(ss), *keys().server);
    prepare_upstream_stream(client, host);
    run(io, [&]() -> net::awaitable<void> {
        auto [cec, sec] = co_await handshake_both(client, server);
        EXPECT_FALSE(cec || sec);
        // An HTTP exchange through Beast, then the server's close_notify.
        auto serve = [&]() -> net::awaitable<error_code> {
            beast::flat_buffer b;
            http::request<http::string_body> req;
            auto [ec, n] = co_await http::async_read(server, b, req, use_tuple);
            if (ec) co_return ec;
            http::response<http::string_body> res{http::status::ok, 11};
            res.body() = "answer for " + std::string(req.target());
            res.prepare_payload();
            std::tie(ec, n) = co_await http::async_write(server, res, use_tuple);
            if (ec) co_return ec;
            std::tie(ec) = co_await server.async_shutdown(use_tuple);  // waits for the client's close_notify
            co_return ec;
        };
        auto ask = [&]() -> net::awaitable<void> {
            http::request<http::string_body> req{http::verb::get, "/doc", 11};
            req.set(http::field::host, host);
            auto [wec, wn] = co_await http::async_write(client, req, use_tuple);
            EXPECT_FALSE(wec) << wec.message();
            beast::flat_buffer b;
            http::response<http::string_body> res;
            auto [rec, rn] = co_await http::async_read(client, b, res, use_tuple);
            EXPECT_FALSE(rec) << rec.message();
            EXPECT_EQ(res.body(), "answer for /doc");
            http::response<http::string_body> next;
            auto [eec, en] = co_await http::async_read(client, b, next, use_tuple);
            EXPECT_EQ(eec, http::error::end_of_stream) << eec.message();
            char byte;
            auto [e2, n2] = co_await client.async_read_some(net::buffer(&byte, 1), use_tuple);
            EXPECT_EQ(e2, net::error::eof) << e2.message();
            auto [sdec] = co_await client.async_shutdown(use_tuple);  // answers: both crossed
            EXPECT_FALSE(sdec) << sdec.message();
        };
        const error_code server_ec = co_await (serve() && ask());
        EXPECT_FALSE(server_ec) << "the server's shutdown: " << server_ec.message();
    }());
}

TEST(FdStream, ShutdownSendsCloseNotifyAndWaitsForThePeers) {
    net::io_context io;
    auto [cs, ss] = socket_pair(io);
    fd_stream client(std::move(cs), *keys().client);
    asio_tls server(std::move(ss), *keys().server);
    prepare_upstream_stream(client, host);
    run(io, [&]() -> net::awaitable<void> {
        auto [cec, sec] = co_await handshake_both(client, server);
        EXPECT_FALSE(cec || sec);
        auto close = [&]() -> net::awaitable<error_code> {
            beast::get_lowest_layer(client).expires_after(5s);
            auto [ec] = co_await client.async_shutdown(use_tuple);
            co_return ec;
        };
        auto peer = [&]() -> net::awaitable<error_code> {
            // Data the peer still sends is discarded; then its read sees eof and it answers.
            co_await net::async_write(server, net::buffer(pattern(40000, 6)), use_tuple);
            char byte;
            auto [ec, n] = co_await server.async_read_some(net::buffer(&byte, 1), use_tuple);
            EXPECT_EQ(ec, net::error::eof) << ec.message();
            auto [sec2] = co_await server.async_shutdown(use_tuple);
            co_return sec2;
        };
        auto [cec2, pec] = co_await (close() && peer());
        EXPECT_FALSE(cec2) << cec2.message();
        EXPECT_FALSE(pec) << pec.message();
    }());
}

TEST(FdStream, TcpCloseWithoutCloseNotifyIsStreamTruncated) {
    for (const bool fd_is_client : {true, false}) {
        SCOPED_TRACE(fd_is_client ? "fd_stream client" : "fd_stream server");
        net::io_context io;
        auto [cs, ss] = socket_pair(io);
        std::unique_ptr<fd_stream> fd;
        std::unique_ptr<asio_tls> other;
        if (fd_is_client) {
            fd = std::make_unique<fd_stream>(std::move(cs), *keys().client);
            other = std::make_unique<asio_tls>(std::move(ss), *keys().server);
            prepare_upstream_stream(*fd, host);
        } else {
            other = std::make_unique<asio_tls>(std::move(cs), *keys().client);
            fd = std::make_unique<fd_stream>(std::move(ss), *keys().server);
            prepare_upstream_stream(*other, host);
        }
        run(io, [&]() -> net::awaitable<void> {
            auto [cec, sec] = fd_is_client ? co_await handshake_both(*fd, *other) : co_await handshake_both(*other, *fd);
            EXPECT_FALSE(cec || sec);
            co_await net::async_write(*other, net::buffer(std::string_view("bye")), use_tuple);
            other->next_layer().shutdown(tcp::socket::shutdown_send);  // FIN, no close_notify
            auto [ec, text] = co_await read_n(*fd, 3);
            EXPECT_FALSE(ec);
            EXPECT_EQ(text, "bye");
            char byte;
            auto [tec, n] = co_await fd->async_read_some(net::buffer(&byte, 1), use_tuple);
            EXPECT_EQ(tec, ssl::error::stream_truncated) << tec.message();
            beast::flat_buffer b;
            http::response<http::string_body> res;
            auto [hec, hn] = co_await http::async_read(*fd, b, res, use_tuple);
            EXPECT_EQ(hec, ssl::error::stream_truncated) << hec.message();
        }());
    }
}

TEST(FdStream, PeerResetIsTheSocketError) {
    net::io_context io;
    auto [cs, ss] = socket_pair(io);
    fd_stream client(std::move(cs), *keys().client);
    asio_tls server(std::move(ss), *keys().server);
    prepare_upstream_stream(client, host);
    run(io, [&]() -> net::awaitable<void> {
        auto [cec, sec] = co_await handshake_both(client, server);
        EXPECT_FALSE(cec || sec);
        server.next_layer().set_option(net::socket_base::linger(true, 0));
        server.next_layer().close();  // RST
        char byte;
        auto [ec, n] = co_await client.async_read_some(net::buffer(&byte, 1), use_tuple);
        EXPECT_EQ(ec, net::error::connection_reset) << ec.message();
    }());
}

// ------------------------------------------------------------------------------------ timeouts

TEST(FdStream, ReadPastTheDeadlineTimesOutAndClosesTheSocket) {
    net::io_context io;
    auto [cs, ss] = socket_pair(io);
    fd_stream client(std::move(cs), *keys().client);
    asio_tls server(std::move(ss), *keys().server);
    prepare_upstream_stream(client, host);
    run(io, [&]() -> net::awaitable<void> {
        auto [cec, sec] = co_await handshake_both(client, server);
        EXPECT_FALSE(cec || sec);
        auto& lowest = beast::get_lowest_layer(client);
        lowest.expires_after(150ms);
        const auto start = std::chrono::steady_clock::now();
        char byte;
        auto [ec, n] = co_await client.async_read_some(net::buffer(&byte, 1), use_tuple);
        const auto took = std::chrono::steady_clock::now() - start;
        EXPECT_EQ(ec, beast::error::timeout) << ec.message();
        EXPECT_GE(took, 140ms);
        EXPECT_LT(took, 3s);
        EXPECT_FALSE(lowest.socket().is_open());
        // The socket is gone: a later read fails at once (as on Beast's tcp_stream).
        lowest.expires_after(10s);
        auto [ec2, n2] = co_await client.async_read_some(net::buffer(&byte, 1), use_tuple);
        EXPECT_EQ(ec2, net::error::bad_descriptor) << ec2.message();
    }());
}

TEST(FdStream, ADeadlineAlreadyPassedFailsAtOnce) {
    net::io_context io;
    auto [cs, ss] = socket_pair(io);
    fd_stream client(std::move(cs), *keys().client);
    asio_tls server(std::move(ss), *keys().server);
    prepare_upstream_stream(client, host);
    run(io, [&]() -> net::awaitable<void> {
        auto [cec, sec] = co_await handshake_both(client, server);
        EXPECT_FALSE(cec || sec);
        beast::get_lowest_layer(client).expires_after(-1s);
        char byte;
        auto [ec, n] = co_await client.async_read_some(net::buffer(&byte, 1), use_tuple);
        EXPECT_EQ(ec, beast::error::timeout) << ec.message();
    }());
}

TEST(FdStream, MovingTheDeadlineOnKeepsASlowButSteadyPeer) {
    // The timer armed for the first deadline fires while later reads wait under later
    // deadlines: it must re-arm, not cut the connection.
    net::io_context io;
    auto [cs, ss] = socket_pair(io);
    fd_stream client(std::move(cs), *keys().client);
    asio_tls server(std::move(ss), *keys().server);
    prepare_upstream_stream(client, host);
    run(io, [&]() -> net::awaitable<void> {
        auto [cec, sec] = co_await handshake_both(client, server);
        EXPECT_FALSE(cec || sec);
        auto trickle = [&]() -> net::awaitable<void> {
            net::steady_timer t(io);
            for (int i = 0; i < 8; ++i) {
                t.expires_after(60ms);
                co_await t.async_wait(use_tuple);
                co_await net::async_write(server, net::buffer(std::string_view("x")), use_tuple);
            }
        };
        auto receive = [&]() -> net::awaitable<int> {
            int got = 0;
            char byte;
            for (; got < 8; ++got) {
                beast::get_lowest_layer(client).expires_after(150ms);
                auto [ec, n] = co_await client.async_read_some(net::buffer(&byte, 1), use_tuple);
                if (ec) {
                    ADD_FAILURE() << "read " << got << ": " << ec.message();
                    break;
                }
            }
            beast::get_lowest_layer(client).expires_never();
            co_return got;
        };
        auto got = co_await (trickle() && receive());
        EXPECT_EQ(got, 8);
    }());
}

TEST(FdStream, WriteToAPeerThatDoesNotReadTimesOut) {
    net::io_context io;
    auto [cs, ss] = socket_pair(io);
    small_buffers(cs);
    small_buffers(ss);
    fd_stream client(std::move(cs), *keys().client);
    asio_tls server(std::move(ss), *keys().server);
    prepare_upstream_stream(client, host);
    run(io, [&]() -> net::awaitable<void> {
        auto [cec, sec] = co_await handshake_both(client, server);
        EXPECT_FALSE(cec || sec);
        beast::get_lowest_layer(client).expires_after(200ms);
        const std::string lots = pattern(4u << 20, 7);
        auto [ec, n] = co_await net::async_write(client, net::buffer(lots), use_tuple);
        EXPECT_EQ(ec, beast::error::timeout) << ec.message();
        EXPECT_LT(n, lots.size());
    }());
}

TEST(FdStream, ConnectHonoursTheDeadline) {
    net::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    fd_stream client(io.get_executor(), *keys().client);
    run(io, [&]() -> net::awaitable<void> {
        auto& lowest = beast::get_lowest_layer(client);
        std::array<tcp::endpoint, 1> eps{acceptor.local_endpoint()};
        lowest.expires_after(5s);
        auto [ec, ep] = co_await lowest.async_connect(eps, use_tuple);
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_EQ(ep, acceptor.local_endpoint());
        fd_stream late(io.get_executor(), *keys().client);
        beast::get_lowest_layer(late).expires_after(-1s);
        auto [lec, lep] = co_await beast::get_lowest_layer(late).async_connect(eps, use_tuple);
        EXPECT_EQ(lec, beast::error::timeout) << lec.message();
    }());
}

// -------------------------------------------------------------------------------- cancellation

TEST(FdStream, CancelledReadCompletesAbortedAndTheStreamStillWorks) {
    net::io_context io;
    auto [cs, ss] = socket_pair(io);
    fd_stream client(std::move(cs), *keys().client);
    asio_tls server(std::move(ss), *keys().server);
    prepare_upstream_stream(client, host);
    run(io, [&]() -> net::awaitable<void> {
        auto [cec, sec] = co_await handshake_both(client, server);
        EXPECT_FALSE(cec || sec);
        char byte = 0;
        // By the lowest layer's cancel()...
        net::steady_timer t(io, 50ms);
        t.async_wait([&](error_code) { beast::get_lowest_layer(client).cancel(); });
        auto [ec, n] = co_await client.async_read_some(net::buffer(&byte, 1), use_tuple);
        EXPECT_EQ(ec, net::error::operation_aborted) << ec.message();
        // ...and by per-operation cancellation (a race with a timer).
        net::steady_timer t2(io, 50ms);
        auto raced = co_await (client.async_read_some(net::buffer(&byte, 1), use_tuple) ||
                               t2.async_wait(use_tuple));
        EXPECT_EQ(raced.index(), 1u) << "the read cannot have won: nothing was sent";
        // The stream is intact: the next read gets what the peer sends.
        co_await net::async_write(server, net::buffer(std::string_view("z")), use_tuple);
        beast::get_lowest_layer(client).expires_after(2s);
        auto [ec3, n3] = co_await client.async_read_some(net::buffer(&byte, 1), use_tuple);
        EXPECT_FALSE(ec3) << ec3.message();
        EXPECT_EQ(byte, 'z');
    }());
}

TEST(FdStream, CloseWithReadAndWriteOutstandingCompletesBoth) {
    net::io_context io;
    auto [cs, ss] = socket_pair(io);
    small_buffers(cs);
    small_buffers(ss);
    auto client = std::make_unique<fd_stream>(std::move(cs), *keys().client);
    asio_tls server(std::move(ss), *keys().server);
    prepare_upstream_stream(*client, host);
    run(io, [&]() -> net::awaitable<void> {
        auto [cec, sec] = co_await handshake_both(*client, server);
        EXPECT_FALSE(cec || sec);
        const std::string lots = pattern(4u << 20, 8);
        error_code rec, wec;
        auto reader = [&]() -> net::awaitable<void> {
            char byte;
            std::size_t n;
            std::tie(rec, n) = co_await client->async_read_some(net::buffer(&byte, 1), use_tuple);
        };
        auto writer = [&]() -> net::awaitable<void> {
            std::size_t n;
            std::tie(wec, n) = co_await net::async_write(*client, net::buffer(lots), use_tuple);
        };
        auto closer = [&]() -> net::awaitable<void> {
            net::steady_timer t(io, 100ms);
            co_await t.async_wait(use_tuple);
            beast::get_lowest_layer(*client).close();  // what a drain does to a busy connection
        };
        co_await (reader() && writer() && closer());
        EXPECT_EQ(rec, net::error::operation_aborted) << rec.message();
        EXPECT_EQ(wec, net::error::operation_aborted) << wec.message();
        // Later calls find the socket closed, never another connection's descriptor.
        char byte;
        auto [ec, n] = co_await client->async_read_some(net::buffer(&byte, 1), use_tuple);
        EXPECT_EQ(ec, net::error::bad_descriptor) << ec.message();
        client.reset();
    }());
}

TEST(FdStream, DestroyedWithATimerArmedIsHarmless) {
    net::io_context io;
    auto [cs, ss] = socket_pair(io);
    auto client = std::make_unique<fd_stream>(std::move(cs), *keys().client);
    asio_tls server(std::move(ss), *keys().server);
    prepare_upstream_stream(*client, host);
    run(io, [&]() -> net::awaitable<void> {
        auto [cec, sec] = co_await handshake_both(*client, server);
        EXPECT_FALSE(cec || sec);
        // A read that waited (arming the timer) and was then answered leaves the timer armed.
        beast::get_lowest_layer(*client).expires_after(100ms);
        auto answer = [&]() -> net::awaitable<void> {
            net::steady_timer t(io, 20ms);
            co_await t.async_wait(use_tuple);
            co_await net::async_write(server, net::buffer(std::string_view("a")), use_tuple);
        };
        auto take = [&]() -> net::awaitable<error_code> {
            char byte;
            auto [ec, n] = co_await client->async_read_some(net::buffer(&byte, 1), use_tuple);
            co_return ec;
        };
        const error_code ec = co_await (answer() && take());
        EXPECT_FALSE(ec) << ec.message();
        client.reset();  // the timer's handler runs later and must find nothing
        net::steady_timer t(io, 200ms);
        co_await t.async_wait(use_tuple);
    }());
}
