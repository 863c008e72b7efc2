#pragma once
/// daemon: the services every worker shares (configuration, store, users, sessions, local CA)
/// and the wiring of workers and listener. `run_daemon` is courtrouted's whole life.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "core/published.hpp"
#include "proxy/acms_service.hpp"
#include "proxy/login_service.hpp"
#include "proxy/snapshot.hpp"
#include "proxy/user_directory.hpp"
#include "store/store.hpp"

namespace courtroute::proxy {

class worker;
class listener;

class daemon {
public:
    /// Everything for a loaded configuration `first`: store, CA, workers (`[listen] threads`).
    /// Throws when the daemon cannot start (the message says what and where).
    daemon(std::filesystem::path config, bool explicitly_named, std::shared_ptr<const snapshot> first);
    ~daemon();

    /// Loads config and registry from the config file; nullptr (errors logged) when unusable.
    [[nodiscard]] std::shared_ptr<const snapshot> load() const;
    /// Binds the listener, serves until SIGTERM has drained, returns the exit code.
    int run();

    /// The `/status` document: every user's (the administrator's view, over the admin socket)
    /// or, given a user, only that user's entry and warnings (CONTRACT §6); `status_json` is its
    /// text.
    [[nodiscard]] boost::json::object status_doc(const std::optional<std::string>& only_user = std::nullopt);
    [[nodiscard]] std::string status_json(const std::optional<std::string>& only_user = std::nullopt);
    /// "N courts, N users, N warnings": the STATUS= line for the service manager.
    [[nodiscard]] std::string summary_line();

    std::filesystem::path config_path;           ///< the config file
    bool config_explicit = false;                ///< named with --config
    published<snapshot> config;                  ///< the configuration in force
    std::unique_ptr<store> db;                   ///< the daemon's store connection
    std::unique_ptr<user_directory> users;       ///< users, facts, run-time facts
    login_service logins;                        ///< upstream sessions
    acms_service acms;                           ///< ACMS sessions (PROTOCOL.md §10)
    std::vector<std::unique_ptr<worker>> workers;///< one per thread; workers[0] also runs the listener
    std::unique_ptr<listener> front;             ///< accept, signals, reload, drain
    std::atomic<std::size_t> connections{0};     ///< open client connections, all workers
    std::atomic<bool> stopping{false};           ///< SIGTERM seen: finish in-flight requests, take no new ones
    const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    std::atomic<std::uint64_t> generations{0};   ///< configurations loaded so far
};

/// Loads the config, opens the store and the local CA, listens, and serves until SIGTERM
/// (graceful: in-flight requests get up to 10 s). SIGHUP reloads config and registry.
/// Returns the process exit code.
int run_daemon(const std::filesystem::path& config, bool explicitly_named);

} // namespace courtroute::proxy
