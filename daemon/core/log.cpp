#include "core/log.hpp"

#include <unistd.h>

#include <cerrno>
#include <mutex>

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

void append_line(std::string& out, std::string_view name, std::initializer_list<field> fields) {
    out += name;
    for (const auto& [k, v] : fields) {
        out += ' ';
        out += k;
        out += '=';
        append_value(out, v);
    }
}

/// Whole lines from several threads must not interleave: one writer at a time, and a batch of
/// lines is written in full before the next thread's.
std::mutex write_mutex;

void write_all(std::string_view text) {
    std::lock_guard lock(write_mutex);
    while (!text.empty()) {
        auto n = ::write(STDERR_FILENO, text.data(), text.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // nowhere to log to: drop rather than block the daemon
        text.remove_prefix(static_cast<std::size_t>(n));
    }
}

struct thread_buffer {
    std::string lines;
    std::function<void()> on_first_line;
};
thread_local thread_buffer buffer;

constexpr std::size_t flush_at = 64 * 1024;

} // namespace

std::string format(std::string_view name, std::initializer_list<field> fields) {
    std::string line;
    append_line(line, name, fields);
    return line;
}

void event(std::string_view name, std::initializer_list<field> fields) {
    if (!buffer.on_first_line) {
        std::string line;
        append_line(line, name, fields);
        line += '\n';
        write_all(line);
        return;
    }
    bool was_empty = buffer.lines.empty();
    append_line(buffer.lines, name, fields);
    buffer.lines += '\n';
    if (buffer.lines.size() >= flush_at) flush_this_thread();
    else if (was_empty) buffer.on_first_line();
}

void buffer_this_thread(std::function<void()> on_first_line) {
    flush_this_thread();
    buffer.on_first_line = std::move(on_first_line);
}

void flush_this_thread() {
    if (buffer.lines.empty()) return;
    write_all(buffer.lines);
    buffer.lines.clear();
}

} // namespace courtroute::log
