#include "proxy/http_wire.hpp"

namespace courtroute::proxy {
namespace {

void append_fields(std::string& out, const http::fields& f) {
    for (const auto& field : f) {
        out.append(field.name_string());
        out.append(": ");
        out.append(field.value());
        out.append("\r\n");
    }
    out.append("\r\n");
}

} // namespace

void append_head(std::string& out, const http::request_header<>& h) {
    out.append(h.method_string());
    out.push_back(' ');
    out.append(h.target());
    out.append(" HTTP/1.1\r\n");
    append_fields(out, h);
}

void append_head(std::string& out, const http::response_header<>& h) {
    out.append("HTTP/1.1 ");
    out.append(std::to_string(h.result_int()));
    out.push_back(' ');
    auto reason = h.reason();
    out.append(reason.empty() ? http::obsolete_reason(h.result()) : reason);
    out.append("\r\n");
    append_fields(out, h);
}

} // namespace courtroute::proxy
