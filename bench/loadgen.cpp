// loadgen: the one HTTP load generator every bench/ scenario uses, so that courtroute and each
// peer are measured by the same client. wrk cannot speak CONNECT, and comparing a forward proxy
// measured by one tool with a reverse proxy measured by another would compare the tools.
//
// Modes (--mode):
//   http    N keep-alive connections doing GETs over plain HTTP (courtroute path mode, nginx proxy)
//   https   the same over TLS straight to a server (the "direct" ceiling)
//   proxy   CONNECT host:443 through an HTTP proxy, TLS inside (SNI = host), then keep-alive GETs
//   tunnel  a new TCP connection + CONNECT + TLS handshake + one GET per request, cycling over
//           the host names of --hosts-file (leaf-certificate cost); latency covers all of it
//   hold    open --connections intercepted tunnels (CONNECT + TLS + one GET each), report, then
//           keep them open and idle until standard input closes or --hold seconds pass
//
// Output: one JSON line on stdout (hold mode: one line once every tunnel is open). Secrets
// (tokens in headers) are read from files (--header-file, --proxy-header-file) and never printed.
// Every network step has a timeout (--timeout); TLS always verifies the peer (--ca, SNI, host name).
#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;
using boost::system::error_code;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t body_chunk = 64 * 1024;   // read buffer for response bodies
constexpr std::size_t expect_window = 64 * 1024; // how much of a body --expect searches

/// What the load looks like.
enum class mode {
    http,   ///< plain HTTP keep-alive
    https,  ///< TLS keep-alive straight to the server
    proxy,  ///< CONNECT once per connection, TLS inside, keep-alive
    tunnel, ///< CONNECT + TLS + one GET per request
    hold,   ///< open tunnels and hold them idle
};

struct options {
    mode m = mode::http;
    std::string connect_host = "127.0.0.1"; ///< where TCP goes (server, or the proxy)
    std::string connect_port = "80";
    std::string host;                       ///< Host header, SNI, certificate name, CONNECT target
    std::vector<std::string> hosts;         ///< tunnel mode: host names to cycle over
    std::string path = "/";
    unsigned connections = 1;
    unsigned threads = 1;
    double duration = 5.0;                  ///< measured seconds; 0 = until --requests are done
    double warmup = 0.0;                    ///< seconds run before measuring
    std::uint64_t requests = 0;             ///< total requests (0 = unlimited)
    std::vector<std::string> ca_files;
    std::string headers;                    ///< extra request header lines (CRLF-terminated)
    std::string proxy_headers;              ///< extra CONNECT header lines
    std::string expect;                     ///< a 2xx body must contain this
    std::chrono::milliseconds timeout{10000};
    double hold = 60.0;
    unsigned parallel = 16;                 ///< hold mode: tunnels opened at once
    double settle = 1.0;                    ///< hold mode: wait before counting live tunnels
    std::string samples_file;               ///< every measured latency in µs, one per line
};

/// Counters of one connection (merged at the end; no sharing on the hot path).
struct stats {
    std::vector<std::uint32_t> latencies_us; ///< requests inside the measured window
    std::uint64_t bytes = 0;                 ///< body bytes of those requests
    std::uint64_t responses = 0;             ///< every response read, warm-up included
    std::array<std::uint64_t, 6> status_class{};
    std::uint64_t bad_body = 0;
    std::uint64_t err_connect = 0, err_tls = 0, err_proxy = 0, err_write = 0, err_read = 0, err_timeout = 0;
    std::uint64_t server_closes = 0;         ///< the server ended keep-alive (Connection: close)
    clock_type::time_point first_start = clock_type::time_point::max();
    clock_type::time_point last_end = clock_type::time_point::min();

    void merge(const stats& o) {
        latencies_us.insert(latencies_us.end(), o.latencies_us.begin(), o.latencies_us.end());
        bytes += o.bytes;
        responses += o.responses;
        for (std::size_t i = 0; i < status_class.size(); ++i) status_class[i] += o.status_class[i];
        bad_body += o.bad_body;
        err_connect += o.err_connect;
        err_tls += o.err_tls;
        err_proxy += o.err_proxy;
        err_write += o.err_write;
        err_read += o.err_read;
        err_timeout += o.err_timeout;
        server_closes += o.server_closes;
        first_start = std::min(first_start, o.first_start);
        last_end = std::max(last_end, o.last_end);
    }
    std::uint64_t errors() const { return err_connect + err_tls + err_proxy + err_write + err_read + err_timeout; }
};

/// Where a request failed, for counting.
enum class phase {
    connect, ///< TCP connect
    proxy,   ///< CONNECT refused or unreadable
    tls,     ///< TLS handshake (includes certificate verification)
    write,   ///< sending the request
    read,    ///< reading the response
};

void count_error(stats& st, phase p, const error_code& ec) {
    if (ec == beast::error::timeout) {
        ++st.err_timeout;
        return;
    }
    switch (p) {
    case phase::connect: ++st.err_connect; break;
    case phase::proxy: ++st.err_proxy; break;
    case phase::tls: ++st.err_tls; break;
    case phase::write: ++st.err_write; break;
    case phase::read: ++st.err_read; break;
    }
}

/// State shared by every connection of a run.
struct run_state {
    const options& opt;
    ssl::context& tls;
    tcp::resolver::results_type endpoints;
    std::string request;      ///< the GET (for one host; tunnel mode builds its own)
    clock_type::time_point window_start;
    clock_type::time_point window_end;
    std::atomic<std::uint64_t> issued{0};
    std::atomic<std::uint64_t> host_index{0};

    bool done() const {
        if (clock_type::now() >= window_end) return true;
        return opt.requests != 0 && issued.load(std::memory_order_relaxed) >= opt.requests;
    }
    /// Claims one request of the --requests budget (always true when unlimited).
    bool take() {
        if (opt.requests == 0) return true;
        return issued.fetch_add(1, std::memory_order_relaxed) < opt.requests;
    }
};

std::string make_get(const options& opt, const std::string& host) {
    return "GET " + opt.path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: courtroute-loadgen\r\n" + opt.headers +
           "\r\n";
}

/// Outcome of one request on an open connection.
struct exchange {
    bool ok = false;         ///< a whole response was read
    bool keep_alive = false; ///< the connection may carry another request
};

/// Sends `request` and reads one whole response (discarding the body after counting it).
/// `chunk` is the connection's body buffer (one allocation per connection, not per request).
template <class Stream>
net::awaitable<exchange> get_once(Stream& stream, beast::flat_buffer& buffer, std::vector<char>& chunk,
                                  const std::string& request, const options& opt, stats& st,
                                  std::uint64_t& body_bytes, bool& body_ok) {
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.expires_after(opt.timeout);
    auto [wec, wn] = co_await net::async_write(stream, net::buffer(request), use_tuple);
    if (wec) {
        count_error(st, phase::write, wec);
        co_return exchange{};
    }
    http::response_parser<http::buffer_body> parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    lowest.expires_after(opt.timeout);
    auto [hec, hn] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
    if (hec) {
        count_error(st, phase::read, hec);
        co_return exchange{};
    }
    std::string seen;
    body_bytes = 0;
    while (!parser.is_done()) {
        parser.get().body().data = chunk.data();
        parser.get().body().size = chunk.size();
        lowest.expires_after(opt.timeout);
        auto [bec, bn] = co_await http::async_read(stream, buffer, parser, use_tuple);
        if (bec == http::error::need_buffer) bec = {};
        if (bec) {
            count_error(st, phase::read, bec);
            co_return exchange{};
        }
        auto got = chunk.size() - parser.get().body().size;
        body_bytes += got;
        if (!opt.expect.empty() && seen.size() < expect_window)
            seen.append(chunk.data(), std::min(got, expect_window - seen.size()));
    }
    auto status = parser.get().result_int();
    ++st.responses;
    ++st.status_class[std::min<std::size_t>(status / 100, st.status_class.size() - 1)];
    body_ok = opt.expect.empty() || status / 100 != 2 || seen.find(opt.expect) != std::string::npos;
    if (!body_ok) ++st.bad_body;
    co_return exchange{true, parser.get().keep_alive()};
}

/// Records one completed request if it lies inside the measured window.
void record(run_state& rs, stats& st, clock_type::time_point start, std::uint64_t body_bytes) {
    auto end = clock_type::now();
    if (start < rs.window_start || end > rs.window_end) return;
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(end - start).count();
    st.latencies_us.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(us, 0xFFFFFFFF)));
    st.bytes += body_bytes;
    st.first_start = std::min(st.first_start, start);
    st.last_end = std::max(st.last_end, end);
}

/// Keeps sending GETs on one open connection until the run is done or the connection ends.
template <class Stream>
net::awaitable<void> request_loop(run_state& rs, Stream& stream, beast::flat_buffer& buffer, stats& st) {
    std::vector<char> chunk(body_chunk);
    while (!rs.done() && rs.take()) {
        auto start = clock_type::now();
        std::uint64_t body_bytes = 0;
        bool body_ok = true;
        auto ex = co_await get_once(stream, buffer, chunk, rs.request, rs.opt, st, body_bytes, body_ok);
        if (!ex.ok) co_return;
        record(rs, st, start, body_bytes);
        if (!ex.keep_alive) {
            ++st.server_closes;
            co_return;
        }
    }
}

net::awaitable<bool> tcp_connect(run_state& rs, beast::tcp_stream& s, stats& st) {
    s.expires_after(rs.opt.timeout);
    auto [ec, ep] = co_await s.async_connect(rs.endpoints, use_tuple);
    if (ec) {
        count_error(st, phase::connect, ec);
        co_return false;
    }
    s.socket().set_option(tcp::no_delay(true));
    co_return true;
}

/// CONNECT host:443 on an open TCP stream; true when the proxy answered 2xx.
net::awaitable<bool> proxy_connect(run_state& rs, beast::tcp_stream& s, const std::string& host, stats& st) {
    std::string req = "CONNECT " + host + ":443 HTTP/1.1\r\nHost: " + host + ":443\r\n" + rs.opt.proxy_headers + "\r\n";
    s.expires_after(rs.opt.timeout);
    auto [wec, wn] = co_await net::async_write(s, net::buffer(req), use_tuple);
    if (wec) {
        count_error(st, phase::proxy, wec);
        co_return false;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::empty_body> parser;
    parser.skip(true); // a 2xx answer to CONNECT has no body: the tunnel starts right after the header
    s.expires_after(rs.opt.timeout);
    auto [rec, rn] = co_await http::async_read_header(s, buffer, parser, use_tuple);
    if (rec) {
        count_error(st, phase::proxy, rec);
        co_return false;
    }
    if (parser.get().result_int() / 100 != 2 || buffer.size() != 0) {
        ++st.err_proxy;
        co_return false;
    }
    co_return true;
}

/// TLS client handshake with SNI and host-name verification.
net::awaitable<bool> tls_handshake(run_state& rs, tls_stream& t, const std::string& host, stats& st) {
    if (!SSL_set_tlsext_host_name(t.native_handle(), host.c_str())) {
        ++st.err_tls;
        co_return false;
    }
    t.set_verify_callback(ssl::host_name_verification(host));
    beast::get_lowest_layer(t).expires_after(rs.opt.timeout);
    auto [ec] = co_await t.async_handshake(ssl::stream_base::client, use_tuple);
    if (ec) {
        count_error(st, phase::tls, ec);
        co_return false;
    }
    co_return true;
}

/// Sleeps a little after a failed connection attempt, so a refusing server is not spun on.
net::awaitable<void> back_off() {
    net::steady_timer t(co_await net::this_coro::executor, std::chrono::milliseconds(10));
    co_await t.async_wait(use_tuple);
}

/// One client connection of the keep-alive modes, reconnecting until the run is done.
net::awaitable<void> keep_alive_connection(run_state& rs, stats& st) {
    auto ex = co_await net::this_coro::executor;
    while (!rs.done()) {
        beast::tcp_stream s(ex);
        if (!co_await tcp_connect(rs, s, st)) {
            co_await back_off();
            continue;
        }
        beast::flat_buffer buffer;
        if (rs.opt.m == mode::http) {
            co_await request_loop(rs, s, buffer, st);
            continue;
        }
        if (rs.opt.m == mode::proxy && !co_await proxy_connect(rs, s, rs.opt.host, st)) {
            co_await back_off();
            continue;
        }
        tls_stream t(std::move(s), rs.tls);
        if (!co_await tls_handshake(rs, t, rs.opt.host, st)) {
            co_await back_off();
            continue;
        }
        co_await request_loop(rs, t, buffer, st);
        // No close_notify: the run is over or the connection failed; the server sees EOF.
    }
}

/// Tunnel mode: every request is a new connection, CONNECT, handshake and one GET.
net::awaitable<void> tunnel_connection(run_state& rs, stats& st) {
    auto ex = co_await net::this_coro::executor;
    std::vector<char> chunk(body_chunk);
    while (!rs.done() && rs.take()) {
        auto idx = rs.host_index.fetch_add(1, std::memory_order_relaxed);
        const std::string& host = rs.opt.hosts[idx % rs.opt.hosts.size()];
        auto request = make_get(rs.opt, host);
        auto start = clock_type::now();
        beast::tcp_stream s(ex);
        if (!co_await tcp_connect(rs, s, st) || !co_await proxy_connect(rs, s, host, st)) continue;
        tls_stream t(std::move(s), rs.tls);
        if (!co_await tls_handshake(rs, t, host, st)) continue;
        beast::flat_buffer buffer;
        std::uint64_t body_bytes = 0;
        bool body_ok = true;
        auto result = co_await get_once(t, buffer, chunk, request, rs.opt, st, body_bytes, body_ok);
        if (!result.ok) continue;
        record(rs, st, start, body_bytes);
        // A polite close (close_notify both ways), outside the measured time, bounded.
        beast::get_lowest_layer(t).expires_after(std::chrono::seconds(2));
        co_await t.async_shutdown(use_tuple);
    }
}

/// Hold mode: opens tunnels (one GET each) and keeps them in `held`.
net::awaitable<void> hold_opener(run_state& rs, stats& st, std::vector<std::unique_ptr<tls_stream>>& held,
                                 std::atomic<unsigned>& next) {
    auto ex = co_await net::this_coro::executor;
    std::vector<char> chunk(body_chunk);
    while (next.fetch_add(1) < rs.opt.connections) {
        beast::tcp_stream s(ex);
        if (!co_await tcp_connect(rs, s, st) || !co_await proxy_connect(rs, s, rs.opt.host, st)) continue;
        auto t = std::make_unique<tls_stream>(std::move(s), rs.tls);
        if (!co_await tls_handshake(rs, *t, rs.opt.host, st)) continue;
        beast::flat_buffer buffer;
        std::uint64_t body_bytes = 0;
        bool body_ok = true;
        auto start = clock_type::now();
        auto result = co_await get_once(*t, buffer, chunk, rs.request, rs.opt, st, body_bytes, body_ok);
        if (!result.ok) continue;
        record(rs, st, start, body_bytes);
        if (!result.keep_alive) {
            ++st.server_closes;
            continue;
        }
        beast::get_lowest_layer(*t).expires_never();
        held.push_back(std::move(t));
    }
}

/// Whether the peer still holds the connection open (no EOF or error pending).
bool still_open(tls_stream& t) {
    char c = 0;
    auto fd = beast::get_lowest_layer(t).socket().native_handle();
    auto n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return true; // bytes waiting (a late session ticket): still open
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// --------------------------------------------------------------------------------------------
// reporting

std::string json_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
            out += buf;
        } else {
            out += c;
        }
    }
    return out;
}

const char* mode_name(mode m) {
    switch (m) {
    case mode::http: return "http";
    case mode::https: return "https";
    case mode::proxy: return "proxy";
    case mode::tunnel: return "tunnel";
    case mode::hold: return "hold";
    }
    return "?";
}

/// Nearest-rank percentile of sorted values.
double percentile(const std::vector<std::uint32_t>& sorted, double p) {
    if (sorted.empty()) return 0.0;
    auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size()) + 0.999999);
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

std::string report(const options& opt, stats& st, double measured_s) {
    auto& v = st.latencies_us;
    std::sort(v.begin(), v.end());
    double mean = 0;
    for (auto x : v) mean += x;
    if (!v.empty()) mean /= static_cast<double>(v.size());
    auto n = static_cast<double>(v.size());
    double rps = measured_s > 0 ? n / measured_s : 0.0;
    double mbps = measured_s > 0 ? static_cast<double>(st.bytes) / measured_s / 1e6 : 0.0;
    std::uint64_t non2xx = st.responses - st.status_class[2];
    char buf[2048];
    std::snprintf(
        buf, sizeof buf,
        "{\"mode\":\"%s\",\"host\":\"%s\",\"connections\":%u,\"threads\":%u,\"measured_s\":%.4f,"
        "\"requests\":%zu,\"rps\":%.1f,\"bytes\":%llu,\"mb_per_s\":%.2f,"
        "\"lat_us\":{\"p50\":%.0f,\"p90\":%.0f,\"p99\":%.0f,\"max\":%.0f,\"mean\":%.1f},"
        "\"responses\":%llu,\"status\":{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,\"5xx\":%llu},"
        "\"non2xx\":%llu,\"bad_body\":%llu,\"socket_errors\":%llu,"
        "\"errors\":{\"connect\":%llu,\"proxy\":%llu,\"tls\":%llu,\"write\":%llu,\"read\":%llu,\"timeout\":%llu},"
        "\"server_closes\":%llu",
        mode_name(opt.m), json_escape(opt.host).c_str(), opt.connections, opt.threads, measured_s, v.size(), rps,
        static_cast<unsigned long long>(st.bytes), mbps, percentile(v, 50), percentile(v, 90), percentile(v, 99),
        v.empty() ? 0.0 : static_cast<double>(v.back()), mean, static_cast<unsigned long long>(st.responses),
        static_cast<unsigned long long>(st.status_class[1]), static_cast<unsigned long long>(st.status_class[2]),
        static_cast<unsigned long long>(st.status_class[3]), static_cast<unsigned long long>(st.status_class[4]),
        static_cast<unsigned long long>(st.status_class[5]), static_cast<unsigned long long>(non2xx),
        static_cast<unsigned long long>(st.bad_body), static_cast<unsigned long long>(st.errors()),
        static_cast<unsigned long long>(st.err_connect), static_cast<unsigned long long>(st.err_proxy),
        static_cast<unsigned long long>(st.err_tls), static_cast<unsigned long long>(st.err_write),
        static_cast<unsigned long long>(st.err_read), static_cast<unsigned long long>(st.err_timeout),
        static_cast<unsigned long long>(st.server_closes));
    return buf;
}

// --------------------------------------------------------------------------------------------
// command line

[[noreturn]] void usage(const std::string& why) {
    std::cerr << "loadgen: " << why << "\n"
              << "usage: loadgen --mode http|https|proxy|tunnel|hold --connect ADDR:PORT [--host NAME]\n"
                 "  [--hosts-file FILE] [--path /p] [--connections N] [--threads T] [--duration S]\n"
                 "  [--warmup S] [--requests N] [--ca FILE]... [--header-file FILE] [--proxy-header-file FILE]\n"
                 "  [--expect TEXT] [--timeout S] [--hold S] [--parallel N] [--settle S] [--samples FILE]\n";
    std::exit(2);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) usage("cannot read " + path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// "Name: value" lines of a file as CRLF-terminated header lines (blank lines skipped).
std::string header_lines(const std::string& path) {
    std::string text = read_file(path), out, line;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto nl = text.find('\n', pos);
        line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        pos = nl == std::string::npos ? text.size() : nl + 1;
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (line.empty()) continue;
        if (line.find(':') == std::string::npos) usage("a line of " + path + " is not 'Name: value'");
        out += line + "\r\n";
    }
    return out;
}

double number(const std::string& flag, const std::string& v) {
    try {
        std::size_t used = 0;
        double d = std::stod(v, &used);
        if (used != v.size() || d < 0) throw std::invalid_argument(v);
        return d;
    } catch (const std::exception&) {
        usage(flag + " wants a non-negative number");
    }
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string flag = argv[i];
        if (i + 1 >= argc) usage(flag + " needs a value");
        std::string v = argv[++i];
        if (flag == "--mode") {
            if (v == "http") o.m = mode::http;
            else if (v == "https") o.m = mode::https;
            else if (v == "proxy") o.m = mode::proxy;
            else if (v == "tunnel") o.m = mode::tunnel;
            else if (v == "hold") o.m = mode::hold;
            else usage("unknown mode " + v);
        } else if (flag == "--connect") {
            auto colon = v.rfind(':');
            if (colon == std::string::npos || colon == 0) usage("--connect wants ADDR:PORT");
            o.connect_host = v.substr(0, colon);
            o.connect_port = v.substr(colon + 1);
        } else if (flag == "--host") {
            o.host = v;
        } else if (flag == "--hosts-file") {
            auto text = read_file(v);
            std::size_t pos = 0;
            while (pos < text.size()) {
                auto nl = text.find('\n', pos);
                auto h = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
                pos = nl == std::string::npos ? text.size() : nl + 1;
                while (!h.empty() && (h.back() == '\r' || h.back() == ' ')) h.pop_back();
                if (!h.empty()) o.hosts.push_back(h);
            }
        } else if (flag == "--path") {
            o.path = v;
        } else if (flag == "--connections") {
            o.connections = static_cast<unsigned>(number(flag, v));
        } else if (flag == "--threads") {
            o.threads = static_cast<unsigned>(number(flag, v));
        } else if (flag == "--duration") {
            o.duration = number(flag, v);
        } else if (flag == "--warmup") {
            o.warmup = number(flag, v);
        } else if (flag == "--requests") {
            o.requests = static_cast<std::uint64_t>(number(flag, v));
        } else if (flag == "--ca") {
            o.ca_files.push_back(v);
        } else if (flag == "--header-file") {
            o.headers += header_lines(v);
        } else if (flag == "--proxy-header-file") {
            o.proxy_headers += header_lines(v);
        } else if (flag == "--expect") {
            o.expect = v;
        } else if (flag == "--timeout") {
            o.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(number(flag, v) * 1000));
        } else if (flag == "--hold") {
            o.hold = number(flag, v);
        } else if (flag == "--parallel") {
            o.parallel = static_cast<unsigned>(number(flag, v));
        } else if (flag == "--settle") {
            o.settle = number(flag, v);
        } else if (flag == "--samples") {
            o.samples_file = v;
        } else {
            usage("unknown option " + flag);
        }
    }
    if (o.connections == 0 || o.threads == 0 || o.parallel == 0) usage("counts must be at least 1");
    if (o.m == mode::tunnel && o.hosts.empty()) {
        if (o.host.empty()) usage("tunnel mode needs --hosts-file or --host");
        o.hosts.push_back(o.host);
    }
    if (o.host.empty()) {
        if (o.m != mode::http && o.m != mode::tunnel) usage("--host is required for this mode");
        o.host = o.connect_host + ":" + o.connect_port;
    }
    if (o.duration == 0 && o.requests == 0) usage("--duration 0 needs --requests");
    if (o.m == mode::hold) o.threads = 1; // the held streams live on one io_context
    return o;
}

int run(const options& opt) {
    ssl::context tls(ssl::context::tls_client);
    tls.set_verify_mode(ssl::verify_peer);
    if (opt.ca_files.empty()) tls.set_default_verify_paths();
    for (auto& f : opt.ca_files) tls.load_verify_file(f);

    net::io_context resolver_io;
    tcp::resolver resolver(resolver_io);
    run_state rs{opt, tls, resolver.resolve(opt.connect_host, opt.connect_port), make_get(opt, opt.host), {}, {}};
    auto start = clock_type::now();
    rs.window_start = start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(opt.warmup));
    rs.window_end = opt.duration > 0 ? rs.window_start + std::chrono::duration_cast<clock_type::duration>(
                                                             std::chrono::duration<double>(opt.duration))
                                     : clock_type::time_point::max();

    if (opt.m == mode::hold) {
        net::io_context io;
        stats st;
        std::vector<std::unique_ptr<tls_stream>> held;
        std::atomic<unsigned> next{0};
        rs.window_start = start;
        rs.window_end = clock_type::time_point::max(); // opening is bounded by --timeout per step
        for (unsigned i = 0; i < opt.parallel; ++i)
            net::co_spawn(io, hold_opener(rs, st, held, next), [](std::exception_ptr e) {
                if (e) std::rethrow_exception(e);
            });
        io.run();
        std::this_thread::sleep_for(std::chrono::duration<double>(opt.settle));
        std::size_t alive = 0;
        for (auto& t : held) alive += still_open(*t) ? 1 : 0;
        auto line = report(opt, st, 0.0);
        std::printf("%s,\"opened\":%zu,\"alive\":%zu}\n", line.c_str(), held.size(), alive);
        std::fflush(stdout);
        // Hold until standard input closes (the harness has sampled memory) or --hold passes.
        std::mutex m;
        std::condition_variable cv;
        bool eof = false;
        std::thread reader([&] {
            while (std::fgetc(stdin) != EOF) {
            }
            std::lock_guard lock(m);
            eof = true;
            cv.notify_all();
        });
        reader.detach();
        std::unique_lock lock(m);
        cv.wait_for(lock, std::chrono::duration<double>(opt.hold), [&] { return eof; });
        return held.empty() ? 1 : 0;
    }

    std::vector<std::unique_ptr<net::io_context>> ios;
    for (unsigned t = 0; t < opt.threads; ++t) ios.push_back(std::make_unique<net::io_context>(1));
    std::vector<stats> per_conn(opt.connections);
    std::atomic<bool> failed{false};
    for (unsigned c = 0; c < opt.connections; ++c) {
        auto& io = *ios[c % opt.threads];
        auto task = opt.m == mode::tunnel ? tunnel_connection(rs, per_conn[c]) : keep_alive_connection(rs, per_conn[c]);
        net::co_spawn(io, std::move(task), [&failed](std::exception_ptr e) {
            if (!e) return;
            failed = true;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                std::fprintf(stderr, "loadgen: a connection failed: %s\n", x.what());
            }
        });
    }
    std::vector<std::thread> workers;
    for (unsigned t = 1; t < opt.threads; ++t) workers.emplace_back([&io = *ios[t]] { io.run(); });
    ios[0]->run();
    for (auto& w : workers) w.join();

    stats total;
    for (auto& s : per_conn) total.merge(s);
    double measured = opt.duration;
    if (measured == 0 && !total.latencies_us.empty())
        measured = std::chrono::duration<double>(total.last_end - total.first_start).count();
    if (!opt.samples_file.empty()) {
        std::ofstream out(opt.samples_file);
        for (auto us : total.latencies_us) out << us << '\n'; // completion order per connection
    }
    std::printf("%s}\n", report(opt, total, measured).c_str());
    return failed ? 1 : 0;
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(parse(argc, argv));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "loadgen: %s\n", e.what());
        return 1;
    }
}
