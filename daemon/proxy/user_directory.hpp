#pragma once
/// user_directory: who the local users are (token lookups) and what the daemon knows of each
/// (stored facts, never a secret, plus what it learned at run time). Shared by every worker;
/// each worker reads through its own `view`, which takes no lock until something changed.
/// Secrets are opened only when a login needs them.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "auth/session_key.hpp"
#include "policy/policy.hpp"
#include "store/store.hpp"

namespace courtroute::proxy {

/// A request needed the store and the store could not be reached (a server store's outage):
/// the client gets 503 with this message; everything held in memory keeps serving.
struct store_unavailable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class user_directory {
public:
    /// A user's facts as of one moment: immutable, shared by every worker that read them.
    using facts_ptr = std::shared_ptr<const user_facts>;

    /// Reads `db` (the daemon's connection), whose file is `db_file` (empty for a server store:
    /// then changes by others are noticed by check_store() alone).
    user_directory(store& db, std::filesystem::path db_file);
    ~user_directory();
    user_directory(const user_directory&) = delete;
    user_directory& operator=(const user_directory&) = delete;

    /// One worker's lock-free front. Only that worker's thread uses it.
    class view {
    public:
        /// A view of `dir`.
        explicit view(user_directory& dir);
        /// Call once per request: notices a commit by another process (the CLI) with one stat of
        /// the store's write-ahead log, and drops this view's caches after any change.
        void refresh();
        /// The user whose token this is, or nullopt. Tokens are looked up by their hash.
        std::optional<std::string> user_for_token(std::string_view token);
        /// The user's facts (empty facts for a user the store does not know).
        const facts_ptr& facts(const std::string& user);

    private:
        struct file_signature {
            std::uint64_t inode = 0, size = 0;
            std::int64_t mtime_ns = 0, ctime_ns = 0;
            bool operator==(const file_signature&) const = default;
        };
        user_directory& dir_;
        std::uint64_t epoch_ = 0;
        file_signature wal_;
        std::unordered_map<std::string, facts_ptr> facts_;
        std::unordered_map<std::string, std::string> tokens_; ///< sha256(token) -> user; never the token
    };

    /// Checks whether another process committed to the store (SQLite's data_version); if so,
    /// drops every cache and calls `on_store_change`. Any thread; also run by a slow timer.
    void check_store();
    /// Called after a commit by another process was noticed (outside the lock): the login
    /// service drops sessions whose credential was replaced or removed.
    std::function<void()> on_store_change;

    // --- run-time facts (any thread; a change bumps the epoch so views re-read) ---
    /// The user sent traffic to `court`.
    void note_court_used(const std::string& user, const std::string& court);
    /// `court` refused a fresh session (true) or served a page again (false).
    /// Cents charged this budget period (from `period_start`) to `user`, and to `client_code`
    /// (0 when empty): read from the ledger once per period and key, then kept up to date as
    /// charges are recorded. Only asked when `[fees]` sets a limit.
    std::pair<std::int64_t, std::int64_t> spent(const std::string& user, const std::string& client_code,
                                                std::int64_t period_start);
    /// The cost of the user's latest quote for the document at (`court`, `path`), if any.
    std::optional<std::int64_t> latest_quote(const std::string& user, const std::string& court, const std::string& path);
    /// Queues one routed request for the audit trail (no store access: any worker, any time).
    /// The audit writer thread takes it within `audit_interval`, sooner once `audit_batch`
    /// records wait.
    void note_request(audit_record r);
    /// Starts the audit writer: its own thread writes queued records in small transactions
    /// without waiting for the store's lock (kept for the next try when another process holds
    /// it; beyond `audit_queue_limit` the oldest are dropped and counted in the log), and once a
    /// minute deletes a chunk of records older than `retention_days()` days. No worker ever
    /// waits for the audit trail.
    void start_audit_writer(std::function<unsigned()> retention_days);
    /// Stops the writer and writes what is still queued (waiting for the lock as the CLI does).
    void stop_audit_writer();
    static constexpr std::size_t audit_queue_limit = 200'000;
    static constexpr std::size_t audit_batch = 512;
    static constexpr std::chrono::milliseconds audit_interval{250};
    /// Appends a fee ledger line (PROTOCOL.md §9). Like mark(), it never waits long for the store:
    /// when another process holds the write lock the line is kept here, in order, and written by
    /// retry_marks() (nothing is lost while the daemon runs).
    void record_fee(const fees::entry& e);
    /// The user's quote for the document at (`court`, `path`) became a charge (queued the same
    /// way): its cost when written at once and a quote was there.
    std::optional<std::int64_t> charge_quote(const std::string& user, const std::string& court, const std::string& path,
                                             std::int64_t at);
    /// The ACMS session of `user` at `court` was signed in or failed (status shows it).
    void note_acms(const std::string& user, const std::string& court, acms_state state);
    void note_session_rejected(const std::string& user, const std::string& court, bool rejected);
    /// A page of `court` showed the user the filing menus (true) or the limited menu (false):
    /// recorded in the store, so status and the CLI see it, also after a restart.
    void note_observation(const std::string& user, const std::string& court, bool filing_menus,
                          std::int64_t now_unix, std::string_view source);
    /// PACER's notice on the user's last successful login (may be empty).
    void note_pacer_notice(const std::string& user, const std::string& notice);

    // --- secrets and marks (logins only) ---
    /// The user's PACER login with its secrets opened, if it is still at `revision`.
    std::optional<pacer_login> open_pacer(const std::string& user, std::int64_t revision);
    /// The user's CM/ECF login at `court` with its password opened, if it is still at `revision`.
    std::optional<ecf_login> open_ecf(const std::string& user, const std::string& court, std::int64_t revision);
    /// Records a refused login on the credential (only if it is still at that revision). Never
    /// waits long for the store: a worker thread calls it, and every connection of that worker
    /// would stall. When another process holds the store's write lock (the CLI, a backup, an
    /// administrator's sqlite3) the mark is kept here, shown by status, and written by
    /// retry_marks(); the login service already refuses the credential from memory.
    void mark(const auth::credential_id& credential, credential_state state, const std::string& detail);
    /// Writes marks that mark() could not; the housekeeping timer calls it every second.
    void retry_marks();
    /// True when the credential is still stored at that revision.
    bool current(const auth::credential_id& credential);

    // --- PACER sessions shared with the other daemons on a server store (issue 14) ---
    /// True when the store is shared by several daemons (then the methods below matter).
    [[nodiscard]] bool shares_sessions() const { return shares_sessions_; }
    /// Another daemon's live session for the credential, if any (nullopt too when the store fails).
    std::optional<store::shared_session> shared_pacer_session(const auth::credential_id& credential,
                                                              const std::string& client_code);
    /// Publishes the session this daemon made; withdraws one a court refused. Failures are logged.
    void publish_pacer_session(const auth::credential_id& credential, const std::string& client_code,
                               const std::string& token, std::int64_t expires_at);
    void withdraw_pacer_session(const auth::credential_id& credential, const std::string& client_code,
                                const std::string& token);
    enum class lease { held, elsewhere, store_down };
    /// The firm-wide login lease of the credential (one PACER login in flight across daemons).
    lease take_login_lease(const std::string& name);
    void release_login_lease(const std::string& name);

    // --- status ---
    /// Every user's facts, fresh from the store plus run-time facts.
    std::vector<user_facts> all();
    /// True while the store cannot be reached (noticed by check_store or a failed lookup).
    [[nodiscard]] bool store_down() const { return store_down_.load(std::memory_order_acquire); }
    /// Bumped by every change a view must see.
    [[nodiscard]] std::uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }

private:
    facts_ptr load(const std::string& user);   // requires mutex_
    /// Writes one mark, waiting at most `wait` for another connection's lock; false when the
    /// store stayed locked (or failed). Requires mutex_.
    bool write_mark(const auth::credential_id& c, credential_state state, const std::string& detail,
                    std::chrono::milliseconds wait, std::string* error);
    void changed(const std::string& user);     // requires mutex_: rebuild one user's entry
    template <class F>
    void update_runtime(const std::string& user, F&& change);

    std::mutex mutex_;
    store& db_;
    bool shares_sessions_ = false;
    std::string wal_path_;
    int wal_fd_ = -1;  ///< the write-ahead log, held open: fstat is a third of stat's cost
    std::int64_t data_version_ = -1;
    std::map<std::string, runtime_facts, std::less<>> runtime_;
    std::map<std::string, facts_ptr, std::less<>> cache_;
    // What lets the users this daemon already serves keep working through a server store's
    // outage, on any worker: consulted only when the store cannot be reached (so a rotated token
    // or a changed fact counts as soon as the store answers).
    std::map<std::string, std::string, std::less<>> known_tokens_; ///< sha256(token) -> user; never a token
    std::map<std::string, facts_ptr, std::less<>> last_known_;     ///< user -> facts as last read
    struct pending_mark {
        credential_state state = credential_state::failed;
        std::string detail;
    };
    std::map<auth::credential_id, pending_mark> pending_; ///< marks the store has not taken yet
    struct pending_fee {
        bool charge = false; ///< a quote becoming a charge (user, court, path, at of `line`); else a new line
        fees::entry line;
    };
    std::deque<pending_fee> pending_fees_; ///< ledger writes the store has not taken yet, in order
    std::int64_t spent_period_ = -1;       ///< the budget period `spent_` counts (its start)
    std::map<std::pair<bool, std::string>, std::int64_t> spent_; ///< (is a client code, user or code) -> cents
    /// Adds a charge to the budget counts already loaded. Requires mutex_.
    void count_charge(const std::string& user, const std::string& client_code, std::int64_t cents);
    // The audit trail's queue. Two buffers that keep their capacity, swapped under the lock:
    // workers fill one while the writer writes the other, so steady load allocates nothing.
    std::mutex audit_mutex_;               ///< guards audit_queue_ and audit_stop_
    std::condition_variable audit_wake_;
    std::vector<audit_record> audit_queue_;
    bool audit_stop_ = false;
    std::thread audit_thread_;
    /// Writes `rows` (the writer's buffer) and, given `prune_before`, prunes a chunk; rows that
    /// could not be written stay in `rows`. `wait` is the store lock wait.
    void write_audit(std::vector<audit_record>& rows, std::optional<std::int64_t> prune_before,
                     std::chrono::milliseconds wait);
    /// Writes queued ledger writes in order, waiting at most `wait` for the lock; the cost of the
    /// last one when it was a charge that found its quote. Requires mutex_.
    std::optional<std::int64_t> flush_fees(std::chrono::milliseconds wait);
    std::atomic<std::uint64_t> epoch_{1};
    std::atomic<bool> store_down_{false};
    /// Records that the store failed (`what`), logged once per outage; throws store_unavailable.
    [[noreturn]] void store_failed(const std::exception& what);
};

} // namespace courtroute::proxy
