#include "status/notify.hpp"

#include <systemd/sd-daemon.h>

#include <chrono>
#include <string>

#include "core/text.hpp"

namespace courtroute::notify {
namespace {

// STATUS= is one line; a court name or user name must not be able to add fields.
std::string clean(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c == '\n' || c == '\r' || c == '\0') c = ' ';
    return out;
}

std::uint64_t monotonic_usec() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
}

} // namespace

void ready(std::string_view status_line) {
    std::string msg = "READY=1\nSTATUS=" + clean(status_line);
    sd_notify(0, msg.c_str());
}

void reloading() {
    // systemd 252 does not need MONOTONIC_USEC, later versions use it for Type=notify-reload.
    std::string msg = "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec());
    sd_notify(0, msg.c_str());
}

void stopping() { sd_notify(0, "STOPPING=1"); }

void status(std::string_view status_line) {
    std::string msg = "STATUS=" + clean(status_line);
    sd_notify(0, msg.c_str());
}

} // namespace courtroute::notify
