#include "cli/daemon_status.hpp"

#include <boost/json.hpp>

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace courtroute::cli {
namespace {

/// Closes the descriptor on every path.
struct socket_fd {
    int fd = -1;
    ~socket_fd() {
        if (fd >= 0) ::close(fd);
    }
};

bool wait_for(int fd, short events, std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    return ::poll(&p, 1, static_cast<int>(left.count())) == 1 && (p.revents & events);
}

} // namespace

std::optional<boost::json::object> fetch_daemon_status(const endpoint& at, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (::getaddrinfo(at.host.c_str(), std::to_string(at.port).c_str(), &hints, &found) != 0) return std::nullopt;
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, &::freeaddrinfo);
    // A wildcard listen address is reached on loopback.
    socket_fd s;
    for (auto* ai = found; ai; ai = ai->ai_next) {
        s.fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (s.fd < 0) continue;
        if (::connect(s.fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
            (errno == EINPROGRESS && wait_for(s.fd, POLLOUT, deadline))) {
            int err = 0;
            socklen_t len = sizeof err;
            if (::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) break;
        }
        ::close(s.fd);
        s.fd = -1;
    }
    if (s.fd < 0) return std::nullopt;
    const std::string request = "GET /status HTTP/1.0\r\nHost: courtroute\r\nAccept: application/json\r\n\r\n";
    std::size_t sent = 0;
    while (sent < request.size()) {
        if (!wait_for(s.fd, POLLOUT, deadline)) return std::nullopt;
        auto n = ::send(s.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return std::nullopt;
        sent += static_cast<std::size_t>(n);
    }
    std::string answer;
    char buf[16384];
    while (answer.size() < (16u << 20)) {
        if (!wait_for(s.fd, POLLIN, deadline)) return std::nullopt;
        auto n = ::recv(s.fd, buf, sizeof buf, 0);
        if (n < 0) return std::nullopt;
        if (n == 0) break;
        answer.append(buf, static_cast<std::size_t>(n));
    }
    auto head_end = answer.find("\r\n\r\n");
    if (head_end == std::string::npos || !answer.starts_with("HTTP/1.") || answer.substr(9, 3) != "200")
        return std::nullopt;
    boost::system::error_code ec;
    auto doc = boost::json::parse(std::string_view(answer).substr(head_end + 4), ec);
    if (ec || !doc.is_object() || !doc.as_object().contains("registry") || !doc.as_object().contains("users"))
        return std::nullopt;
    return std::move(doc.as_object());
}

} // namespace courtroute::cli
