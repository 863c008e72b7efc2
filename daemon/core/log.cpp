#include "core/log.hpp"

#include <cstdio>

namespace courtroute::log {
namespace {

void append_value(std::string& out, std::string_view v) {
    bool quote = v.empty() || v.find_first_of(" \t\"=") != std::string_view::npos;
    if (quote) out += '"';
    for (unsigned char c : v) {
        if (c < 0x20 || c == 0x7f) out += '?';  // no forged lines, no terminal escapes
        else if (c == '"' && quote) out += "\\\"";
        else out += static_cast<char>(c);
    }
    if (quote) out += '"';
}

} // namespace

std::string format(std::string_view name, std::initializer_list<field> fields) {
    std::string line(name);
    for (const auto& [k, v] : fields) {
        line += ' ';
        line += k;
        line += '=';
        append_value(line, v);
    }
    return line;
}

void event(std::string_view name, std::initializer_list<field> fields) {
    std::string line = format(name, fields);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

} // namespace courtroute::log
