#include "proxy/admin_session.hpp"

#include <boost/json/serialize.hpp>

#include "core/names.hpp"
#include "core/url.hpp"
#include "proxy/daemon.hpp"
#include "proxy/link_verifier.hpp"
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
            try {
                res.body() = w.owner.status_json();
            } catch (const store_unavailable& e) {
                res.result(http::status::service_unavailable);
                res.body() = boost::json::serialize(boost::json::object{{"error", e.what()}}) + "\n";
            }
        } else if (req.method() == http::verb::post && path == "/verify") {
            // POST /verify?user=U&court=C: one court's link, asked of the court itself.
            std::string user, court_id;
            for (auto& [name, value] : query_params(target)) {
                if (name == "user") user = std::move(value);
                if (name == "court") court_id = std::move(value);
            }
            auto snap = w.config();
            const court* c = valid_court_id(court_id) ? snap->reg->find_id(court_id) : nullptr;
            res.set(http::field::content_type, "application/json");
            if (!valid_user_name(user) || !c) {
                res.result(http::status::bad_request);
                res.body() = R"({"error":"POST /verify?user=USER&court=COURT with a known user and registry court"})";
            } else {
                res.body() = (co_await verify_link(w, user, *c)).json();
            }
        } else if (req.method() == http::verb::get && path == "/healthz") {
            res.set(http::field::content_type, "text/plain");
            res.body() = "ok\n";
        } else {
            res.result(http::status::not_found);
            res.set(http::field::content_type, "text/plain");
            res.body() = "the admin socket serves GET /status, GET /healthz and POST /verify\n";
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
