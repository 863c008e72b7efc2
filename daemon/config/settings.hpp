#pragma once
/// The main config file (CONTRACT §3) as a plain struct, with file:line:col errors.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/diagnostic.hpp"
#include "core/url.hpp"

namespace courtroute {

/// A host and port to listen on or connect to.
struct endpoint {
    std::string host;       ///< IPv4/IPv6 literal or name, without brackets
    std::uint16_t port = 0; ///< 1..65535

    [[nodiscard]] std::string to_string() const; ///< `host:port`, IPv6 in brackets
};

/// What to do with a NextGen court where the user's link is not recorded.
enum class unlinked_policy {
    warn,  ///< serve with the `unlinked_nextgen` warning
    block, ///< refuse with 403 and the warning
};

/// What to do with a CONNECT to a host that is not in the registry.
enum class other_hosts_policy {
    refuse, ///< 403
    tunnel, ///< blind byte tunnel, nothing injected
};

/// Every key of the main config, defaults filled in. Relative paths in a config file are
/// PACER fee budgets (`[fees]`): limits in cents per user and per client code over the current
/// calendar month or quarter (UTC); 0 means none.
struct fee_budgets {
    enum class period_kind { month, quarter } period = period_kind::month;
    enum class action_kind { warn, block } action = action_kind::warn;
    std::int64_t user_limit = 0;                               ///< user_limit, for every user
    std::int64_t client_code_limit = 0;                        ///< client_code_limit, for every code
    std::map<std::string, std::int64_t, std::less<>> users;        ///< users = { name = dollars }
    std::map<std::string, std::int64_t, std::less<>> client_codes; ///< client_codes = { "code" = dollars }
    /// Whether any limit is set (else nothing is counted on the request path).
    [[nodiscard]] bool any() const {
        return user_limit > 0 || client_code_limit > 0 || !users.empty() || !client_codes.empty();
    }
};

/// resolved against that file's directory, so a checkout-local config works from any cwd.
struct settings {
    std::filesystem::path source;                     ///< the file loaded; empty for built-in defaults
    endpoint listen_proxy{"127.0.0.1", 3128};         ///< [listen] proxy
    unsigned listen_threads = 0;                      ///< [listen] threads; 0 = one per core
    std::size_t max_connections = 4096;               ///< [listen] max_connections; beyond: 503
    std::vector<std::filesystem::path> registry_dirs{ ///< [registry] dirs, in override order
        "/usr/share/courtroute/courts.d", "/etc/courtroute/courts.d"};
    std::filesystem::path state_dir = "/var/lib/courtroute"; ///< [state] dir
    std::filesystem::path key_file;                   ///< [secrets] key_file as written; empty = default
    std::string pacer_auth_url = "https://pacer.login.uscourts.gov/services/cso-auth";     ///< [pacer] auth_url
    std::string pacer_logout_url = "https://pacer.login.uscourts.gov/services/cso-logout"; ///< [pacer] logout_url
    std::filesystem::path upstream_ca_file;           ///< [upstream] ca_file; empty = system store only
    std::map<std::string, endpoint> upstream_resolve; ///< [upstream] resolve: lower-case "host:port" -> where to connect
    unlinked_policy unlinked = unlinked_policy::warn; ///< [policy] unlinked_nextgen
    other_hosts_policy other_hosts = other_hosts_policy::refuse; ///< [policy] other_hosts
    std::string anonymous_user;                       ///< [policy] anonymous_user; empty = 407/401
    unsigned audit_retention_days = 400;              ///< [audit] retention_days: older audit records are pruned
    fee_budgets fees;                                 ///< [fees]
    std::string store_url;                            ///< [store] url; empty = the embedded SQLite store
    std::filesystem::path store_password_file;        ///< [store] password_file as written; empty = default

    /// The key file actually used: `key_file` if set, else `$CREDENTIALS_DIRECTORY/courtroute.key`
    /// when that variable is set, else `<state_dir>/secret.key`.
    [[nodiscard]] std::filesystem::path effective_key_file() const;
    /// The SQLite database: `<state_dir>/courtroute.db`.
    [[nodiscard]] std::filesystem::path database_file() const;
    /// The PostgreSQL password file: `store_password_file` if set, else
    /// `$CREDENTIALS_DIRECTORY/courtroute-store.password` when that file exists (systemd
    /// LoadCredential=), else none (libpq then reads PGPASSWORD or ~/.pgpass itself).
    [[nodiscard]] std::filesystem::path effective_store_password_file() const;
    /// What error messages call the store: the SQLite file, or the PostgreSQL URL.
    [[nodiscard]] std::string store_name() const;
    /// The administrator's Unix socket: `<state_dir>/admin.sock` (the state folder is 0700, so
    /// only the service user and root reach it). The full `/status` and the CLI's requests to
    /// the running daemon go through it, never through the TCP listener.
    [[nodiscard]] std::filesystem::path admin_socket() const;
};

/// The outcome of loading a config file: the settings (defaults where a key was bad) and every problem.
struct settings_result {
    settings value;          ///< usable only when `errors` is empty
    diagnostics errors;      ///< FILE:LINE:COL problems, in file order
};

/// The default config path (`/etc/courtroute/courtroute.toml`).
[[nodiscard]] std::filesystem::path default_config_path();

/// Parses `file`. A missing file at the default path yields the defaults; a missing file that
/// was named explicitly is an error. Never throws for bad input.
[[nodiscard]] settings_result load_settings(const std::filesystem::path& file, bool explicitly_named);

/// Parses `host:port` (`[v6]:port` for IPv6). False on anything else.
[[nodiscard]] bool parse_endpoint(std::string_view text, endpoint& out);

/// Why `url` cannot be a `[store] url` (not postgresql://, a password inside, no host), or
/// nullopt. The reason never repeats the URL (it may hold a password).
[[nodiscard]] std::optional<std::string> store_url_problem(std::string_view url);

} // namespace courtroute
