#include "proxy/worker.hpp"

#include "core/log.hpp"
#include "proxy/daemon.hpp"

namespace courtroute::proxy {

using namespace std::chrono_literals;

worker::worker(daemon& d, unsigned i)
    : owner(d), index(i), upstream(io.get_executor()), users(*d.users), config_(d.config), log_flush_(io) {}

const std::shared_ptr<const snapshot>& worker::config() {
    const auto& snap = config_.get();
    if (snap->generation != configured_) {
        configured_ = snap->generation;
        upstream.configure(snap->upstream_tls, snap->cfg.upstream_resolve, snap->generation);
    }
    return snap;
}

day worker::today() {
    auto now = std::time(nullptr);
    if (now != today_second_) {
        today_second_ = now;
        today_ = courtroute::today();
    }
    return today_;
}

void worker::run() {
    // One line per request, written in batches: the first line into an empty buffer arms a
    // short timer, and the batch goes out in one write when it fires.
    log::buffer_this_thread([this] {
        if (log_flush_armed_) return;
        log_flush_armed_ = true;
        log_flush_.expires_after(10ms);
        log_flush_.async_wait([this](boost::system::error_code) {
            log_flush_armed_ = false;
            log::flush_this_thread();
        });
    });
    work_.emplace(io.get_executor());
    io.run();
    log::buffer_this_thread({});  // flushes what is left
}

void worker::start_thread() {
    thread_ = std::thread([this] { run(); });
}

void worker::join() {
    if (thread_.joinable()) thread_.join();
}

void worker::stop() {
    net::post(io, [this] {
        work_.reset();
        io.stop();
    });
}

std::list<worker::connection>::iterator worker::add_connection(tcp::socket& s) {
    return connections_.insert(connections_.end(), connection{&s, false});
}

void worker::remove_connection(std::list<connection>::iterator it) { connections_.erase(it); }

void worker::close_idle() {
    boost::system::error_code ignored;
    for (auto& c : connections_)
        if (!c.busy && c.socket) c.socket->close(ignored);
}

void worker::close_all() {
    boost::system::error_code ignored;
    for (auto& c : connections_)
        if (c.socket) c.socket->close(ignored);
}

} // namespace courtroute::proxy
