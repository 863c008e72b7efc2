#include "proxy/user_directory.hpp"

#include "core/log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.hpp"
#include "store/crypto.hpp"

namespace courtroute::proxy {

namespace {
/// The longest a worker waits for another process's write lock when it records a refused login.
constexpr std::chrono::milliseconds mark_wait{50};
} // namespace

user_directory::user_directory(store& db, std::filesystem::path db_file)
    : db_(db), wal_path_(db_file.empty() ? std::string() : db_file.string() + "-wal"), data_version_(db.data_version()) {
    // While the daemon's connection is open SQLite keeps this file (a closing connection deletes
    // it only when it is the last one), so one descriptor serves for the daemon's life.
    if (!wal_path_.empty()) wal_fd_ = ::open(wal_path_.c_str(), O_RDONLY | O_CLOEXEC);
    shares_sessions_ = db.shares_sessions();
}

user_directory::~user_directory() {
    if (audit_thread_.joinable()) stop_audit_writer();
    if (wal_fd_ >= 0) ::close(wal_fd_);
}

// ---------------------------------------------------------------------------------------------
// view

user_directory::view::view(user_directory& dir) : dir_(dir) {}

void user_directory::view::refresh() {
    // Every commit appends to (or rewrites) the write-ahead log: a changed size or time is the
    // cheap sign that the store may have changed; data_version then says whether it did. A
    // server store has no such file: the housekeeping timer asks it, and bumps the epoch.
    if (!dir_.wal_path_.empty()) {
        struct stat st {};
        file_signature now;
        int rc = dir_.wal_fd_ >= 0 ? ::fstat(dir_.wal_fd_, &st) : ::stat(dir_.wal_path_.c_str(), &st);
        if (rc == 0)
            now = {static_cast<std::uint64_t>(st.st_ino), static_cast<std::uint64_t>(st.st_size),
                   st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec,
                   st.st_ctim.tv_sec * 1'000'000'000LL + st.st_ctim.tv_nsec};
        if (now != wal_) {
            wal_ = now;
            dir_.check_store();
        }
    }
    if (auto e = dir_.epoch(); e != epoch_) {
        epoch_ = e;
        facts_.clear();
        tokens_.clear();
    }
}

std::optional<std::string> user_directory::view::user_for_token(std::string_view token) {
    auto key = sha256(token);
    if (auto hit = tokens_.find(key); hit != tokens_.end()) return hit->second;
    std::optional<std::string> user;
    {
        std::lock_guard lock(dir_.mutex_);
        try {
            user = dir_.db_.user_for_token(token);
            if (user && dir_.shares_sessions_ && dir_.known_tokens_.size() < 4096) dir_.known_tokens_.emplace(key, *user);
        } catch (const store_error& e) {
            // A store outage: a token some worker of this daemon already accepted still works.
            auto known = dir_.known_tokens_.find(key);
            if (known == dir_.known_tokens_.end()) dir_.store_failed(e);
            user = known->second;
        }
    }
    // Only hits are kept (wrong tokens must not grow memory); the map dies with any change.
    if (user && tokens_.size() < 4096) tokens_.emplace(std::move(key), *user);
    return user;
}

const user_directory::facts_ptr& user_directory::view::facts(const std::string& user) {
    if (auto hit = facts_.find(user); hit != facts_.end()) return hit->second;
    facts_ptr f;
    try {
        std::lock_guard lock(dir_.mutex_);
        f = dir_.load(user);
    } catch (const store_error& e) {
        dir_.store_failed(e);
    }
    return facts_.emplace(user, std::move(f)).first->second;
}

// ---------------------------------------------------------------------------------------------
// directory

user_directory::facts_ptr user_directory::load(const std::string& user) {
    if (auto hit = cache_.find(user); hit != cache_.end()) return hit->second;
    std::shared_ptr<user_facts> f;
    try {
        f = std::make_shared<user_facts>(load_user_facts(db_, user));
    } catch (const store_error&) {
        // A server store's outage: the user's facts as last read serve until it is back.
        auto known = last_known_.find(user);
        if (known == last_known_.end()) throw;
        return known->second;
    }
    // Marks not yet in the store are facts all the same.
    for (const auto& [c, m] : pending_) {
        if (c.user != user) continue;
        if (c.kind == auth::session_kind::pacer) {
            if (f->pacer && f->pacer->revision == c.revision) {
                f->pacer->state = m.state;
                f->pacer->state_detail = m.detail;
            }
        } else if (auto e = f->ecf.find(c.court); e != f->ecf.end() && e->second.revision == c.revision) {
            e->second.state = m.state;
            e->second.state_detail = m.detail;
        }
    }
    if (auto rt = runtime_.find(user); rt != runtime_.end()) f->runtime = rt->second;
    facts_ptr out = std::move(f);
    cache_.emplace(user, out);
    if (shares_sessions_) last_known_[user] = out;
    return out;
}

void user_directory::changed(const std::string& user) {
    if (auto hit = cache_.find(user); hit != cache_.end()) {
        auto f = std::make_shared<user_facts>(*hit->second);
        f->runtime = runtime_[user];
        hit->second = std::move(f);
    }
    epoch_.fetch_add(1, std::memory_order_release);
}

void user_directory::check_store() {
    {
        std::lock_guard lock(mutex_);
        std::int64_t v = 0;
        try {
            v = db_.data_version();
        } catch (const store_error& e) {
            // A server store's outage: what is in memory keeps serving; say so once.
            if (!store_down_.exchange(true)) log::event("store_unreachable", {{"error", e.what()}});
            return;
        }
        if (store_down_.exchange(false)) {
            log::event("store_reachable");
            data_version_ = -1;  // whatever changed meanwhile: read it all again
        }
        if (v == data_version_) return;
        data_version_ = v;
        cache_.clear();
        epoch_.fetch_add(1, std::memory_order_release);
    }
    if (on_store_change) on_store_change();
}

void user_directory::store_failed(const std::exception& what) {
    if (!store_down_.exchange(true)) log::event("store_unreachable", {{"error", what.what()}});
    // The detail (the server, its message) goes to the log, not to the client.
    throw store_unavailable("courtroute's store cannot be reached: users and sessions this daemon already "
                            "holds keep working, but this request needs the store; try again once it is back");
}

template <class F>
void user_directory::update_runtime(const std::string& user, F&& change) {
    std::lock_guard lock(mutex_);
    if (change(runtime_[user])) changed(user);
}

void user_directory::note_court_used(const std::string& user, const std::string& court) {
    update_runtime(user, [&](runtime_facts& rt) { return rt.courts_used.insert(court).second; });
}

void user_directory::record_fee(const fees::entry& e) {
    std::lock_guard lock(mutex_);
    if (!e.quote) count_charge(e.user, e.client_code, e.cents);
    pending_fees_.push_back({false, e});
    flush_fees(mark_wait);
}

std::optional<std::int64_t> user_directory::charge_quote(const std::string& user, const std::string& court,
                                                         const std::string& path, std::int64_t at) {
    std::lock_guard lock(mutex_);
    fees::entry e;
    e.user = user;
    e.court = court;
    e.path = path;
    e.at = at;
    pending_fees_.push_back({true, std::move(e)});
    return flush_fees(mark_wait);
}

std::optional<std::int64_t> user_directory::flush_fees(std::chrono::milliseconds wait) {
    std::optional<std::int64_t> charged;
    try {
        db_.set_busy_timeout(wait);
        while (!pending_fees_.empty()) {
            auto& p = pending_fees_.front();
            charged.reset();
            if (p.charge) {
                charged = db_.charge_quote(p.line.user, p.line.court, p.line.path, p.line.at);
                if (charged) spent_.clear();  // the budgets read the ledger again
            }
            else db_.record_fee(p.line);
            pending_fees_.pop_front();
        }
        db_.set_busy_timeout(store::busy_timeout);
    } catch (const std::exception& ex) {
        log::event("store_write_deferred", {{"what", "fee ledger"}, {"pending", std::to_string(pending_fees_.size())},
                                            {"error", ex.what()}});
        try {
            db_.set_busy_timeout(store::busy_timeout);
        } catch (const std::exception&) {
        }
        return std::nullopt;
    }
    return charged;
}

std::pair<std::int64_t, std::int64_t> user_directory::spent(const std::string& user, const std::string& client_code,
                                                            std::int64_t period_start) {
    std::lock_guard lock(mutex_);
    if (spent_period_ != period_start) {
        spent_.clear();
        spent_period_ = period_start;
    }
    auto load = [&](bool code, const std::string& key) -> std::int64_t {
        auto it = spent_.find({code, key});
        if (it != spent_.end()) return it->second;
        store::fee_filter f;
        f.since = period_start;
        (code ? f.client_code : f.user) = key;
        std::int64_t sum = 0;
        try {
            for (auto& e : db_.fee_entries(f))
                if (!e.quote) sum += e.cents;
        } catch (const store_error& ex) {
            log::event("fee_budget_unread", {{"error", ex.what()}});
            return 0;  // not cached: asked again next time
        }
        spent_[{code, key}] = sum;
        return sum;
    };
    return {load(false, user), client_code.empty() ? 0 : load(true, client_code)};
}

void user_directory::count_charge(const std::string& user, const std::string& client_code, std::int64_t cents) {
    if (auto it = spent_.find({false, user}); it != spent_.end()) it->second += cents;
    if (auto it = spent_.find({true, client_code}); !client_code.empty() && it != spent_.end()) it->second += cents;
}

std::optional<std::int64_t> user_directory::latest_quote(const std::string& user, const std::string& court,
                                                         const std::string& path) {
    std::lock_guard lock(mutex_);
    try {
        return db_.latest_quote(user, court, path);
    } catch (const store_error&) {
        return std::nullopt;
    }
}

void user_directory::note_request(audit_record r) {
    std::lock_guard lock(audit_mutex_);
    audit_queue_.push_back(std::move(r));
    if (audit_queue_.size() == audit_batch) audit_wake_.notify_one();
}

void user_directory::start_audit_writer(std::function<unsigned()> retention_days) {
    using clock = std::chrono::steady_clock;
    {
        std::lock_guard guard(audit_mutex_);
        audit_queue_.reserve(2 * audit_batch);
        audit_stop_ = false;
    }
    audit_thread_ = std::thread([this, retention_days = std::move(retention_days)] {
        std::vector<audit_record> rows;  // the writer's buffer; what could not be written stays
        rows.reserve(2 * audit_batch);
        auto next_prune = clock::now() + std::chrono::seconds(30);
        std::unique_lock lock(audit_mutex_);
        for (;;) {
            audit_wake_.wait_for(lock, audit_interval, [&] { return audit_stop_ || audit_queue_.size() >= audit_batch; });
            if (audit_stop_) break;
            if (rows.empty()) {
                rows.swap(audit_queue_);  // the workers get the empty buffer, capacity and all
            } else {
                rows.insert(rows.end(), std::make_move_iterator(audit_queue_.begin()),
                            std::make_move_iterator(audit_queue_.end()));
                audit_queue_.clear();
            }
            std::optional<std::int64_t> prune;
            if (auto now = clock::now(); now >= next_prune) {
                next_prune = now + std::chrono::minutes(1);
                auto wall = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch()).count();
                prune = wall - std::int64_t{retention_days()} * 86400;
            }
            if (rows.empty() && !prune) continue;
            lock.unlock();
            write_audit(rows, prune, std::chrono::milliseconds(0));
            lock.lock();
        }
        // Stopping: whatever could not be written goes back in front, for stop_audit_writer().
        rows.insert(rows.end(), std::make_move_iterator(audit_queue_.begin()), std::make_move_iterator(audit_queue_.end()));
        audit_queue_.swap(rows);
    });
}

void user_directory::stop_audit_writer() {
    {
        std::lock_guard lock(audit_mutex_);
        audit_stop_ = true;
    }
    audit_wake_.notify_one();
    if (audit_thread_.joinable()) audit_thread_.join();
    std::vector<audit_record> rows;
    {
        std::lock_guard lock(audit_mutex_);
        rows.swap(audit_queue_);
    }
    write_audit(rows, std::nullopt, store::busy_timeout);
    if (!rows.empty())
        log::event("audit_dropped", {{"records", std::to_string(rows.size())}, {"error", "the store stayed locked"}});
}

void user_directory::write_audit(std::vector<audit_record>& rows, std::optional<std::int64_t> prune_before,
                                 std::chrono::milliseconds wait) {
    std::lock_guard lock(mutex_);
    try {
        db_.set_busy_timeout(wait);
        db_.append_audit(rows);
        rows.clear();
        if (prune_before) {
            auto gone = db_.prune_audit(*prune_before, 10'000);
            if (gone > 0) log::event("audit_pruned", {{"records", std::to_string(gone)}});
        }
        db_.set_busy_timeout(store::busy_timeout);
    } catch (const std::exception& ex) {
        try {
            db_.set_busy_timeout(store::busy_timeout);
        } catch (const std::exception&) {
        }
        // Kept for the next try; bounded, oldest dropped first.
        if (rows.size() > audit_queue_limit) {
            auto drop = rows.size() - audit_queue_limit;
            rows.erase(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(drop));
            log::event("audit_dropped", {{"records", std::to_string(drop)}, {"error", ex.what()}});
        }
    }
}

void user_directory::note_acms(const std::string& user, const std::string& court, acms_state state) {
    update_runtime(user, [&](runtime_facts& rt) {
        auto& slot = rt.acms[court];
        if (slot == state) return false;
        slot = std::move(state);
        return true;
    });
}

void user_directory::note_session_rejected(const std::string& user, const std::string& court, bool rejected) {
    update_runtime(user, [&](runtime_facts& rt) {
        return rejected ? rt.session_rejected.insert(court).second : rt.session_rejected.erase(court) > 0;
    });
}

void user_directory::note_observation(const std::string& user, const std::string& court, bool filing_menus,
                                      std::int64_t now_unix, std::string_view source) {
    // The store is away: the next page after it is back records what the menus show.
    if (store_down()) return;
    std::lock_guard lock(mutex_);
    try {
        db_.record_observation(user, court, filing_menus, now_unix, source);
    } catch (const store_error& e) {
        // A user removed meanwhile, a busy store: what a page showed is not worth a failed request.
        log::event("observation_not_recorded", {{"user", user}, {"court", court}, {"error", e.what()}});
        return;
    }
    // Our own commit does not change data_version for our connection: drop the user's entry here.
    cache_.erase(user);
    epoch_.fetch_add(1, std::memory_order_release);
}

void user_directory::note_pacer_notice(const std::string& user, const std::string& notice) {
    update_runtime(user, [&](runtime_facts& rt) {
        if (rt.pacer_notice == notice) return false;
        rt.pacer_notice = notice;
        return true;
    });
}

std::optional<pacer_login> user_directory::open_pacer(const std::string& user, std::int64_t revision) {
    std::lock_guard lock(mutex_);
    auto p = db_.pacer(user, secrets::opened);
    if (!p || p->revision != revision) return std::nullopt;
    return p;
}

std::optional<ecf_login> user_directory::open_ecf(const std::string& user, const std::string& court,
                                                  std::int64_t revision) {
    std::lock_guard lock(mutex_);
    auto e = db_.ecf(user, court, secrets::opened);
    if (!e || e->revision != revision) return std::nullopt;
    return e;
}

bool user_directory::write_mark(const auth::credential_id& c, credential_state state, const std::string& detail,
                                std::chrono::milliseconds wait, std::string* error) {
    try {
        db_.set_busy_timeout(wait);
        if (c.kind == auth::session_kind::pacer) db_.mark_pacer(c.user, c.revision, state, detail);
        else db_.mark_ecf(c.user, c.court, c.revision, state, detail);
        db_.set_busy_timeout(store::busy_timeout);
        return true;
    } catch (const std::exception& e) {
        if (error) *error = e.what();
        try {
            db_.set_busy_timeout(store::busy_timeout);
        } catch (const std::exception&) {
        }
        return false;
    }
}

void user_directory::mark(const auth::credential_id& c, credential_state state, const std::string& detail) {
    std::lock_guard lock(mutex_);
    std::string error;
    if (write_mark(c, state, detail, mark_wait, &error)) {
        pending_.erase(c);
    } else {
        pending_[c] = pending_mark{state, detail};
        log::event("store_write_deferred", {{"user", c.user}, {"kind", auth::to_string(c.kind)}, {"court", c.court},
                                            {"state", std::string(to_string(state))}, {"error", error}});
    }
    // Our own commit does not change data_version for our connection: drop the user's entry here.
    cache_.erase(c.user);
    epoch_.fetch_add(1, std::memory_order_release);
}

void user_directory::retry_marks() {
    std::lock_guard lock(mutex_);
    if (!pending_fees_.empty()) flush_fees(std::chrono::milliseconds(0));
    for (auto it = pending_.begin(); it != pending_.end();) {
        // No wait at all: the timer comes back in a second, and worker 0 runs it.
        if (!write_mark(it->first, it->second.state, it->second.detail, std::chrono::milliseconds(0), nullptr)) break;
        log::event("store_write_done", {{"user", it->first.user}, {"kind", auth::to_string(it->first.kind)},
                                        {"court", it->first.court}, {"state", std::string(to_string(it->second.state))}});
        cache_.erase(it->first.user);
        epoch_.fetch_add(1, std::memory_order_release);
        it = pending_.erase(it);
    }
}

bool user_directory::current(const auth::credential_id& c) {
    std::lock_guard lock(mutex_);
    if (c.kind == auth::session_kind::pacer) {
        auto p = db_.pacer(c.user, secrets::sealed);
        return p && p->revision == c.revision;
    }
    auto e = db_.ecf(c.user, c.court, secrets::sealed);
    return e && e->revision == c.revision;
}

std::vector<user_facts> user_directory::all() {
    std::lock_guard lock(mutex_);
    std::vector<user_facts> out;
    try {
        for (const auto& u : db_.users()) out.push_back(*load(u.name));
    } catch (const store_error& e) {
        store_failed(e);
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// shared PACER sessions

std::optional<store::shared_session> user_directory::shared_pacer_session(const auth::credential_id& credential,
                                                                          const std::string& client_code) {
    std::lock_guard lock(mutex_);
    try {
        return db_.pacer_session(credential.user, client_code, credential.revision, unix_now());
    } catch (const std::exception& e) {
        log::event("shared_session_unread", {{"user", credential.user}, {"error", e.what()}});
        return std::nullopt;
    }
}

void user_directory::publish_pacer_session(const auth::credential_id& credential, const std::string& client_code,
                                           const std::string& token, std::int64_t expires_at) {
    std::lock_guard lock(mutex_);
    try {
        db_.put_pacer_session(credential.user, client_code, credential.revision, token, expires_at);
    } catch (const std::exception& e) {
        log::event("shared_session_unpublished", {{"user", credential.user}, {"error", e.what()}});
    }
}

void user_directory::withdraw_pacer_session(const auth::credential_id& credential, const std::string& client_code,
                                            const std::string& token) {
    std::lock_guard lock(mutex_);
    try {
        db_.drop_pacer_session(credential.user, client_code, token);
    } catch (const std::exception& e) {
        log::event("shared_session_not_withdrawn", {{"user", credential.user}, {"error", e.what()}});
    }
}

user_directory::lease user_directory::take_login_lease(const std::string& name) {
    std::lock_guard lock(mutex_);
    try {
        return db_.try_login_lease(name) ? lease::held : lease::elsewhere;
    } catch (const std::exception& e) {
        log::event("login_lease_failed", {{"error", e.what()}});
        return lease::store_down;
    }
}

void user_directory::release_login_lease(const std::string& name) {
    std::lock_guard lock(mutex_);
    try {
        db_.release_login_lease(name);
    } catch (const std::exception&) {
        // A lost connection released it already.
    }
}

} // namespace courtroute::proxy
