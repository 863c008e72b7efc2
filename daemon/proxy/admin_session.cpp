#include "proxy/admin_session.hpp"

#include "proxy/daemon.hpp"
#include "proxy/worker.hpp"

namespace courtroute::proxy {

using namespace std::chrono_literals;

net::awaitable<void> serve_admin(worker& w, net::local::stream_protocol::socket socket) {
    beast::basic_stream<net::local::stream_protocol> stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
        http::request<http::string_body> req;
        http::request_parser<http::string_body> parser;
        parser.header_limit(16 * 1024);
        parser.body_limit(64 * 1024);
        stream.expires_after(30s);
        auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
        if (ec) break;
        req = parser.release();
        http::response<http::string_body> res{http::status::ok, req.version()};
        std::string_view target = req.target();
        auto path = target.substr(0, target.find('?'));
        if (req.method() == http::verb::get && path == "/status") {
            res.set(http::field::content_type, "application/json");
            res.body() = w.owner.status_json();
        } else if (req.method() == http::verb::get && path == "/healthz") {
            res.set(http::field::content_type, "text/plain");
            res.body() = "ok\n";
        } else {
            res.result(http::status::not_found);
            res.set(http::field::content_type, "text/plain");
            res.body() = "the admin socket serves GET /status and GET /healthz\n";
        }
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        stream.expires_after(30s);
        auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
        if (wec || !res.keep_alive()) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(net::socket_base::shutdown_both, ignored);
}

} // namespace courtroute::proxy
