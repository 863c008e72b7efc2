#pragma once
/// The TLS client side: the context the proxy uses to reach court servers, and the per-stream
/// setup that pins a connection to one host name.
///
/// Credentials are injected only on a verified upstream (PROXY-NOTES.md rule 3), so this
/// module has no way to turn verification off.
#include <boost/asio/ssl/context.hpp>

#include <openssl/ssl.h>

#include <concepts>
#include <filesystem>
#include <memory>
#include <string_view>

namespace courtroute::tls {

/// A TLS client context for upstream court connections: TLS 1.2+, `verify_peer` always,
/// the system trust store plus `extra_ca_file` when it is non-empty (a PEM bundle, e.g. for a
/// court simulator or a corporate TLS inspector), ALPN offering "http/1.1" only, released idle
/// buffers, and a per-host client session cache that `prepare_upstream_stream` draws on to
/// resume sessions. Throws `std::runtime_error` naming `extra_ca_file` when it cannot be loaded.
[[nodiscard]] std::shared_ptr<boost::asio::ssl::context>
make_upstream_context(const std::filesystem::path& extra_ca_file);

/// Pins one upstream connection (an `SSL*` made from a `make_upstream_context` context) to
/// `host`: sets SNI (omitted for IP literals, as RFC 6066 requires), requires the server's
/// certificate to name exactly `host` (no partial wildcards), and offers a cached session for
/// `host` if there is one. Both SNI and the name check must be in place BEFORE the handshake:
/// without SNI a court's load balancer may present another certificate; without the name
/// check any certificate from a trusted CA, for any host, would be accepted.
/// Throws `std::invalid_argument` for an empty host, `std::runtime_error` if OpenSSL refuses.
void prepare_upstream_stream(SSL* ssl, std::string_view host);

/// Same for any stream with `native_handle()` returning `SSL*` (`fd_stream`, `ssl::stream`, `beast::ssl_stream`).
template <class Stream>
    requires requires(Stream& s) {
        { s.native_handle() } -> std::convertible_to<SSL*>;
    }
void prepare_upstream_stream(Stream& stream, std::string_view host) {
    prepare_upstream_stream(static_cast<SSL*>(stream.native_handle()), host);
}

} // namespace courtroute::tls
