#pragma once
/// Asio/Beast aliases and the awaitable completion tokens every proxy file uses.
#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "tls/fd_stream.hpp"

namespace courtroute::proxy {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

/// `co_await op(..., use_tuple)` yields `(error_code, result...)`: expected errors are values.
inline constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

/// A TLS stream over a timed TCP socket (upstream, and the intercepted client side): OpenSSL
/// on the descriptor, no copy buffers, so an idle tunnel holds little more than its SSL state.
using tls_stream = tls::fd_stream;

} // namespace courtroute::proxy

#include "core/log.hpp"

namespace courtroute::proxy {

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

} // namespace courtroute::proxy
