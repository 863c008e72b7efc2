#include "cli/secret_input.hpp"

#include <csignal>
#include <cstdio>
#include <iostream>

#include <openssl/crypto.h>
#include <termios.h>
#include <unistd.h>

namespace courtroute::cli {

void wipe(std::string& s) noexcept {
    if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
    s.clear();
}

namespace {

// The terminal state to put back if a signal ends the process while echo is off. Only
// async-signal-safe calls (tcsetattr, sigaction, raise) touch these from the handler.
volatile std::sig_atomic_t g_restore_pending = 0;
int g_restore_fd = -1;
termios g_saved{};

constexpr int restored_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

extern "C" void restore_and_reraise(int sig) {
    if (g_restore_pending) tcsetattr(g_restore_fd, TCSAFLUSH, &g_saved);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, nullptr);
    raise(sig);
}

// Turns echo off for the lifetime of the object and always turns it back on: on scope exit,
// by exception, or from a terminating signal.
class echo_off {
public:
    explicit echo_off(int fd) : fd_(fd) {
        if (tcgetattr(fd_, &saved_) != 0) return;
        termios quiet = saved_;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        quiet.c_lflag |= ECHONL; // the Enter key still moves the cursor to the next line
        g_saved = saved_;
        g_restore_fd = fd_;
        g_restore_pending = 1;
        struct sigaction sa {};
        sa.sa_handler = restore_and_reraise;
        sigemptyset(&sa.sa_mask);
        for (std::size_t i = 0; i < std::size(restored_signals); ++i)
            sigaction(restored_signals[i], &sa, &old_[i]);
        active_ = tcsetattr(fd_, TCSAFLUSH, &quiet) == 0;
    }
    ~echo_off() {
        if (g_restore_pending) {
            if (active_) tcsetattr(fd_, TCSAFLUSH, &saved_);
            g_restore_pending = 0;
            for (std::size_t i = 0; i < std::size(restored_signals); ++i)
                sigaction(restored_signals[i], &old_[i], nullptr);
        }
    }
    echo_off(const echo_off&) = delete;
    echo_off& operator=(const echo_off&) = delete;

private:
    int fd_;
    termios saved_{};
    struct sigaction old_[std::size(restored_signals)] {};
    bool active_ = false;
};

} // namespace

secret_reader::secret_reader(std::istream& in, int fd) : in_(in), fd_(fd), interactive_(isatty(fd) == 1) {}

std::optional<std::string> secret_reader::read_line(std::string_view prompt) {
    std::string line;
    bool got = false;
    if (interactive_) {
        // Echo goes off before the prompt appears, so nothing typed after it is ever shown.
        echo_off guard(fd_);
        std::cerr << prompt << std::flush;
        got = static_cast<bool>(std::getline(in_, line));
    } else {
        got = static_cast<bool>(std::getline(in_, line));
    }
    if (!got) {
        wipe(line);
        return std::nullopt;
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    return line;
}

} // namespace courtroute::cli
