#pragma once
/// The credential store's interface and its records: users with hashed tokens, each user's PACER
/// login, CM/ECF logins per court, recorded links and observations, the fee ledger and the audit
/// trail. Passwords and TOTP secrets are sealed with `secret_box` by every implementation;
/// nothing secret is ever bound to SQL in clear. Implementations: sqlite_store (the embedded
/// default, one machine) and pg_store (one PostgreSQL database for several daemons).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "fees/ledger.hpp"
#include "core/names.hpp"
#include "store/crypto.hpp"

namespace courtroute {

/// Thrown for refused operations (unknown user, duplicate user, bad name) and database failures.
/// The message is one sentence naming what and where; it never holds a secret.
struct store_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// The stored health of a credential, as the daemon last found it.
enum class credential_state {
    active,       ///< stored; no login has been refused since it was set
    failed,       ///< a login was refused for bad credentials: never retried until replaced
    mfa_required, ///< PACER wants a one-time code and no TOTP secret is stored
};
[[nodiscard]] std::string_view to_string(credential_state s);

/// A local user of the proxy.
struct user_info {
    std::string name;            ///< [A-Za-z0-9._-]{1,64}
    std::int64_t created_at = 0; ///< unix seconds
};

/// A user's PACER central sign-on login (decrypted when read).
struct pacer_login {
    std::string user;
    std::string login;
    std::string password;             ///< secret
    std::string client_code;          ///< default client code; may be empty
    bool shared = false;              ///< a shared firm account (cannot file)
    std::string totp_secret;          ///< base32; empty when none is stored or not opened; secret
    bool has_totp = false;            ///< a TOTP secret is stored (known without opening it)
    std::int64_t revision = 0;        ///< bumps on every `set_pacer` (store-wide counter, never reused); sessions are tied to it
    credential_state state = credential_state::active;
    std::string state_detail;         ///< why it failed (upstream text, no secrets)
    std::int64_t password_set_at = 0; ///< unix seconds when the password was stored; 0 = unknown (stored by schema 1)
};

/// A user's court-issued CM/ECF login at one court (decrypted when read).
struct ecf_login {
    std::string user;
    std::string court;         ///< court id
    std::string login;
    std::string password;      ///< secret
    std::int64_t revision = 0; ///< bumps on every `set_ecf`
    credential_state state = credential_state::active;
    std::string state_detail;
};

/// Whether a read opens the sealed secrets (passwords, TOTP secrets) or leaves them empty.
/// Only a login opens them: everything else (routing, status, the CLI's listings) reads facts.
enum class secrets {
    sealed, ///< leave `password` and `totp_secret` empty
    opened, ///< decrypt them
};

/// A recorded link of a user's CM/ECF account at a NextGen court to the PACER account.
struct link_info {
    std::string user;
    std::string court;
    std::int64_t linked_at = 0; ///< unix seconds
};

/// What a NextGen court last showed a user's PACER session (PROTOCOL.md §5).
struct link_observation {
    std::string court;
    bool filing_menus = false;   ///< the filing menus (linked there); false: the limited menu
    std::int64_t observed_at = 0; ///< unix seconds
    std::string source;          ///< "page" (a proxied page) or "verify" (courtroute verify)
};

/// One routed request in the audit trail: who reached which court, when and how (no secret, no
/// query string).
struct audit_record {
    std::int64_t at = 0;       ///< unix seconds
    std::string user;          ///< local user
    std::string court;         ///< court id
    std::string route;         ///< pacer, cmecf or refuse
    std::string login;         ///< the PACER or CM/ECF login name used (never a secret)
    std::string client_code;   ///< the PACER client code billed
    std::string method;        ///< HTTP method
    std::string path;          ///< the path, without the query
    int status = 0;            ///< the answer's status
    std::int64_t bytes = 0;    ///< the answer's body bytes
    std::int64_t ms = 0;       ///< duration
};

class store {
public:
    /// The schema version this build writes; older databases are migrated on open.
    static constexpr int schema_version = 5;
    /// How long a statement waits for another connection's lock by default (writers queue).
    static constexpr std::chrono::milliseconds busy_timeout{5000};

    store() = default;
    virtual ~store() = default;
    store(const store&) = delete;
    store& operator=(const store&) = delete;
    /// The embedded store: creates `state_dir` (0700) if needed, loads or creates the key file
    /// (0600), opens `<state_dir>/courtroute.db` (0600). See sqlite_store.
    [[nodiscard]] static std::unique_ptr<store> open_state(const std::filesystem::path& state_dir,
                                                           const std::filesystem::path& key_file);

    // --- users ---
    /// Adds a user and returns its new token (shown once; only its hash is kept).
    [[nodiscard]] virtual std::string add_user(const std::string& name) = 0;
    /// Replaces a user's token; the old one stops working at once.
    [[nodiscard]] virtual std::string rotate_user(const std::string& name) = 0;
    /// Removes a user with every credential and link.
    virtual void remove_user(const std::string& name) = 0;
    [[nodiscard]] virtual std::vector<user_info> users() const = 0;
    [[nodiscard]] virtual bool has_user(const std::string& name) const = 0;
    /// The user holding `token`, or nullopt.
    [[nodiscard]] virtual std::optional<std::string> user_for_token(std::string_view token) const = 0;

    // --- PACER login ---
    /// Stores (replaces) the user's PACER login; state back to active, revision bumped.
    virtual void set_pacer(const pacer_login& login) = 0;
    [[nodiscard]] virtual std::optional<pacer_login> pacer(const std::string& user, secrets mode = secrets::opened) const = 0;
    /// Records a login outcome, but only if the credential is still at `revision` (a replaced
    /// credential is never marked by a stale attempt).
    virtual void mark_pacer(const std::string& user, std::int64_t revision, credential_state state, const std::string& detail) = 0;

    // --- CM/ECF logins ---
    virtual void set_ecf(const std::string& user, const std::string& court, const std::string& login,
                 const std::string& password) = 0;
    [[nodiscard]] virtual std::optional<ecf_login> ecf(const std::string& user, const std::string& court,
                                               secrets mode = secrets::opened) const = 0;
    [[nodiscard]] virtual std::vector<ecf_login> ecf_logins(const std::string& user, secrets mode = secrets::opened) const = 0;
    /// Deletes; false when there was none.
    virtual bool remove_ecf(const std::string& user, const std::string& court) = 0;
    virtual void mark_ecf(const std::string& user, const std::string& court, std::int64_t revision, credential_state state,
                  const std::string& detail) = 0;

    // --- links ---
    /// Records the link and deletes the court's stored CM/ECF login, in one transaction.
    virtual void record_link(const std::string& user, const std::string& court) = 0;
    /// Deletes; false when there was none.
    virtual bool remove_link(const std::string& user, const std::string& court) = 0;
    [[nodiscard]] virtual bool linked(const std::string& user, const std::string& court) const = 0;
    [[nodiscard]] virtual std::vector<link_info> links(const std::string& user) const = 0;

    // --- what the courts showed ---
    /// Records (replaces) what `court` showed `user` at `observed_at`, seen by `source`.
    virtual void record_observation(const std::string& user, const std::string& court, bool filing_menus,
                            std::int64_t observed_at, std::string_view source) = 0;
    [[nodiscard]] virtual std::vector<link_observation> observations(const std::string& user) const = 0;

    // --- fee ledger (PROTOCOL.md §9) ---
    /// Appends a ledger line.
    virtual void record_fee(const fees::entry& e) = 0;
    /// The user's latest quote for the document at (`court`, `path`) becomes a charge at `at`
    /// (its PDF was fetched): its cost, or nullopt when there was no such quote.
    virtual std::optional<std::int64_t> charge_quote(const std::string& user, const std::string& court, const std::string& path, std::int64_t at) = 0;
    /// The cost of the user's latest quote for the document at (`court`, `path`), if any.
    [[nodiscard]] virtual std::optional<std::int64_t> latest_quote(const std::string& user, const std::string& court,
                                                           const std::string& path) const = 0;
    /// Which ledger lines `fee_entries` returns: `since` <= at < `until`, and the given fields.
    struct fee_filter {
        std::optional<std::string> user, client_code, court;
        std::int64_t since = 0;
        std::int64_t until = std::numeric_limits<std::int64_t>::max();
    };
    [[nodiscard]] virtual std::vector<fees::entry> fee_entries(const fee_filter& f) const = 0;

    // --- changes made by other processes, as they happen ---
    /// Tells of other processes' commits as they happen (a server store's LISTEN/NOTIFY), on a
    /// connection of its own; used from one thread.
    class change_feed {
    public:
        virtual ~change_feed() = default;
        /// Waits at most `wait`: true when a change was announced, or when the feed lost its
        /// connection and got it back (something may have changed meanwhile: look).
        virtual bool wait(std::chrono::milliseconds wait) = 0;
    };
    /// The store's feed, or nullptr when it has none (the embedded store: the daemon watches
    /// its write-ahead log instead).
    [[nodiscard]] virtual std::unique_ptr<change_feed> changes() const { return nullptr; }

    // --- PACER sessions shared by every daemon on the store (issue 14) ---
    /// True for a store several daemons share (PostgreSQL): they then use one PACER session per
    /// credential and log in one at a time. The embedded store has one daemon: false, and the
    /// methods below do nothing.
    [[nodiscard]] virtual bool shares_sessions() const { return false; }
    /// A live session another daemon made for the user's PACER login at `revision` under
    /// `client_code`: its token (opened) and when it ends (unix seconds).
    struct shared_session {
        std::string token; ///< secret
        std::int64_t expires_at = 0;
    };
    [[nodiscard]] virtual std::optional<shared_session> pacer_session(const std::string& /*user*/,
                                                                      const std::string& /*client_code*/,
                                                                      std::int64_t /*revision*/, std::int64_t /*now*/) {
        return std::nullopt;
    }
    /// Publishes (replaces) the session this daemon just made; sealed like a password.
    virtual void put_pacer_session(const std::string& /*user*/, const std::string& /*client_code*/,
                                   std::int64_t /*revision*/, const std::string& /*token*/, std::int64_t /*expires_at*/) {}
    /// Withdraws the session, if it is still `token` (a court said it ended).
    virtual void drop_pacer_session(const std::string& /*user*/, const std::string& /*client_code*/,
                                    const std::string& /*token*/) {}
    /// Firm-wide single flight: true when this process now holds the login lease named `key`
    /// (until release_login_lease, or until the process or its connection dies: a killed daemon
    /// never leaves a stuck lease). False when another process holds it.
    [[nodiscard]] virtual bool try_login_lease(std::string_view /*key*/) { return true; }
    virtual void release_login_lease(std::string_view /*key*/) {}

    // --- audit trail ---
    /// Appends rows in one transaction.
    virtual void append_audit(const std::vector<audit_record>& rows) = 0;
    struct audit_filter {
        std::optional<std::string> user, court;
        std::int64_t since = 0;
    };
    [[nodiscard]] virtual std::vector<audit_record> audit_records(const audit_filter& f) const = 0;
    /// Deletes at most `limit` rows older than `before` (unix seconds); how many went.
    virtual std::int64_t prune_audit(std::int64_t before, int limit) = 0;

    /// Changes whenever another connection commits (SQLite `PRAGMA data_version`): lets the
    /// daemon notice CLI edits cheaply.
    [[nodiscard]] virtual std::int64_t data_version() const = 0;
    /// For the daemon's own connection: commits are durable across a crash of any process
    /// (WAL), but the last ones may be lost to a power cut (`synchronous = NORMAL`, no fsync per
    /// commit). The daemon's writes (fees, audit, marks, observations) come from the request
    /// path; the CLI's, credentials among them, keep a full sync.
    virtual void sync_at_checkpoints_only() = 0;

    /// How long statements wait for another connection's write lock before failing with
    /// "database is locked" (`busy_timeout` unless changed).
    virtual void set_busy_timeout(std::chrono::milliseconds wait) = 0;

    // --- moving a whole store (courtroute store copy) ---
    /// Every row as stored, for `courtroute store copy`: sealed secrets stay sealed (the bytes as
    /// written; the same key file opens them in the other store, so nothing is decrypted on the
    /// way) and tokens stay hashes. Shared PACER sessions are left out: they expire soon anyway.
    struct dump {
        struct user_row {
            std::string name;
            std::string token_hash; ///< SHA-256 hex of the token
            std::int64_t created_at = 0;
        };
        struct pacer_row {
            std::string user, login;
            std::string password;    ///< sealed
            std::string client_code;
            bool shared = false;
            std::string totp_secret; ///< sealed; empty: none (a sealed value never is)
            credential_state state = credential_state::active;
            std::string state_detail;
            std::int64_t revision = 0;
            std::int64_t password_set_at = 0;
        };
        struct ecf_row {
            std::string user, court, login;
            std::string password; ///< sealed
            credential_state state = credential_state::active;
            std::string state_detail;
            std::int64_t revision = 0;
            std::int64_t password_set_at = 0;
        };
        struct observation_row {
            std::string user;
            link_observation seen;
        };
        std::vector<user_row> users;
        std::vector<pacer_row> pacer;
        std::vector<ecf_row> ecf;
        std::vector<link_info> links;
        std::vector<observation_row> observations;
        std::vector<fees::entry> fees;   ///< in ledger order (a charged quote stays where it was)
        std::vector<audit_record> audit; ///< in trail order
        std::int64_t revision_counter = 0; ///< the store-wide revision counter's value

        /// Where the importing store's counter must be at least: the counter, or a higher
        /// revision of a row (a counter reset by hand must not make a revision come back).
        [[nodiscard]] std::int64_t highest_revision() const {
            std::int64_t r = revision_counter;
            for (const auto& p : pacer) r = std::max(r, p.revision);
            for (const auto& e : ecf) r = std::max(r, e.revision);
            return r;
        }
    };
    /// Every row, read in one snapshot (a daemon writing meanwhile cannot tear it).
    [[nodiscard]] virtual dump export_all() const = 0;
    /// Loads `d` in one transaction into this store, which must be new: refused, naming the
    /// store, when it holds any user, fee entry or audit record (nothing would be merged). The
    /// revision counter ends at least at the dump's, so no revision is ever handed out twice.
    virtual void import_all(const dump& d) = 0;
};


} // namespace courtroute
