#include "cli/daemon_status.hpp"

#include <boost/json.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
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

std::optional<std::pair<int, std::string>> admin_request(const std::filesystem::path& socket_path,
                                                         std::string_view method, std::string_view target,
                                                         std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const auto& path = socket_path.native();
    if (path.size() >= sizeof addr.sun_path) return std::nullopt;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    socket_fd s;
    s.fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s.fd < 0) return std::nullopt;
    if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 &&
        !(errno == EINPROGRESS && wait_for(s.fd, POLLOUT, deadline)))
        return std::nullopt;
    const std::string request = std::string(method) + " " + std::string(target) +
                                " HTTP/1.0\r\nHost: courtroute\r\nAccept: application/json\r\nContent-Length: 0\r\n\r\n";
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
    if (head_end == std::string::npos || !answer.starts_with("HTTP/1.") || answer.size() < 12) return std::nullopt;
    int status = 0;
    for (char ch : answer.substr(9, 3)) {
        if (ch < '0' || ch > '9') return std::nullopt;
        status = status * 10 + (ch - '0');
    }
    return std::pair{status, answer.substr(head_end + 4)};
}

std::optional<boost::json::object> fetch_daemon_status(const std::filesystem::path& socket_path,
                                                       std::chrono::milliseconds timeout) {
    auto got = admin_request(socket_path, "GET", "/status", timeout);
    if (!got || got->first != 200) return std::nullopt;
    boost::system::error_code ec;
    auto doc = boost::json::parse(got->second, ec);
    if (ec || !doc.is_object() || !doc.as_object().contains("registry") || !doc.as_object().contains("users"))
        return std::nullopt;
    return std::move(doc.as_object());
}

} // namespace courtroute::cli
