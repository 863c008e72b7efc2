#pragma once
/// worker: one thread and everything only it touches: its io_context, its upstream pool, its
/// views of users and sessions, its metrics and its open client connections. Requests on a
/// worker share nothing mutable with other workers except through the daemon's thread-safe services.
#include <chrono>
#include <cstdint>
#include <ctime>
#include <list>
#include <memory>
#include <optional>
#include <thread>

#include "core/published.hpp"
#include "core/text.hpp"
#include "proxy/login_service.hpp"
#include "proxy/metrics.hpp"
#include "proxy/net.hpp"
#include "proxy/snapshot.hpp"
#include "proxy/upstream_client.hpp"
#include "proxy/user_directory.hpp"

namespace courtroute::proxy {

class daemon;

class worker {
public:
    /// Worker number `index` of daemon `d`.
    worker(daemon& d, unsigned index);
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;

    /// The configuration in force (re-read when a reload published a new one; the upstream pool
    /// follows it). A reference valid until the next call.
    const std::shared_ptr<const snapshot>& config();
    /// Today, recomputed at most once a second (local time zone: courts publish local dates).
    day today();

    /// Runs the io_context until `stop`; flushes its log lines on the way out.
    void run();
    /// Starts `run` on a thread of its own.
    void start_thread();
    /// Joins that thread (if any).
    void join();
    /// Ends `run` (any thread).
    void stop();

    /// A client connection, so a stop can close the idle ones and cut the rest.
    struct connection {
        tcp::socket* socket = nullptr; ///< the lowest layer
        bool busy = false;             ///< a request is in flight
    };
    /// Registers a connection (this thread only); the returned handle unregisters it.
    std::list<connection>::iterator add_connection(tcp::socket& s);
    /// Unregisters it.
    void remove_connection(std::list<connection>::iterator it);
    /// Closes the idle connections (stop: nothing to lose).
    void close_idle();
    /// Closes every connection (the drain deadline passed).
    void close_all();
    /// Open connections on this worker.
    [[nodiscard]] std::size_t connection_count() const { return connections_.size(); }

    daemon& owner;                ///< the daemon's shared services
    const unsigned index;         ///< 0 .. threads-1
    net::io_context io{1};        ///< one thread runs it
    upstream_client upstream;     ///< this worker's verified pool
    user_directory::view users;   ///< this worker's view of users
    login_service::cache sessions;///< this worker's live tokens
    metrics stats;                ///< this worker's counters

private:
    published<snapshot>::reader config_;
    std::uint64_t configured_ = 0;
    std::time_t today_second_ = 0;
    day today_{};
    std::list<connection> connections_;
    net::steady_timer log_flush_;
    bool log_flush_armed_ = false;
    std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
    std::thread thread_;
};

} // namespace courtroute::proxy
