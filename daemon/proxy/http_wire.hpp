#pragma once
/// Writing HTTP/1.1 heads straight into a byte string. Beast's serializer walks a header field by
/// field through layered buffer views; for the small heads of a proxy that walk cost more than
/// the TLS encryption of the whole message, so the proxy formats the head once, appends the body
/// when it has it, and hands the transport one buffer.
#include <string>

#include "proxy/net.hpp"

namespace courtroute::proxy {

/// Appends `METHOD target HTTP/1.1`, every field and the blank line.
void append_head(std::string& out, const http::request_header<>& h);

/// Appends `HTTP/1.1 status reason`, every field and the blank line.
void append_head(std::string& out, const http::response_header<>& h);

/// Sets the framing of a message whose whole body (`size` bytes) is in hand: Content-Length,
/// no Transfer-Encoding; and `Connection: close` unless `keep_alive` (HTTP/1.1's default).
/// A request without a body that its method does not expect (GET, HEAD, ...) carries no
/// Content-Length, as clients send them.
template <bool isRequest>
void frame_whole(http::header<isRequest>& h, std::size_t size, bool keep_alive) {
    h.erase(http::field::transfer_encoding);
    bool length = true;
    if constexpr (isRequest)
        length = size > 0 || h.method() == http::verb::post || h.method() == http::verb::put ||
                 h.method() == http::verb::patch;
    if (length) h.set(http::field::content_length, std::to_string(size));
    else h.erase(http::field::content_length);
    h.erase(http::field::connection);
    if (!keep_alive) h.set(http::field::connection, "close");
}

} // namespace courtroute::proxy
