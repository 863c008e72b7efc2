#include "store/sqlite_store.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include "core/names.hpp"
#include "core/text.hpp"
#include "store/records.hpp"

namespace courtroute {
namespace {

using namespace store_records;

namespace fs = std::filesystem;

// Schema version 1: the first release. Kept verbatim: `migrate()` builds every new database
// from it and then applies the later steps, so the upgrade path runs on every fresh install.
// Secrets (`password`, `totp_secret`) are BLOBs sealed by `secret_box`; tokens are SHA-256 hex.
constexpr std::string_view schema_v1 = R"sql(
CREATE TABLE users (
    name       TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE pacer_logins (
    user        TEXT PRIMARY KEY REFERENCES users(name) ON DELETE CASCADE,
    login       TEXT NOT NULL,
    password    BLOB NOT NULL,
    client_code TEXT NOT NULL DEFAULT '',
    shared      INTEGER NOT NULL DEFAULT 0,
    totp_secret BLOB,
    state       TEXT NOT NULL DEFAULT 'active'
);
CREATE TABLE ecf_logins (
    user     TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    court    TEXT NOT NULL,
    login    TEXT NOT NULL,
    password BLOB NOT NULL,
    state    TEXT NOT NULL DEFAULT 'active',
    PRIMARY KEY (user, court)
);
CREATE TABLE links (
    user      TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    court     TEXT NOT NULL,
    linked_at INTEGER NOT NULL,
    PRIMARY KEY (user, court)
);
PRAGMA user_version = 1;
)sql";

// Version 2: revisions (so a stale login attempt never marks a replaced credential), the reason
// a credential failed, and when its password was stored. Rows carried over from version 1 get
// revision 1, an empty detail and password_set_at 0 (unknown). `counters` holds the revision
// sequence: one store-wide counter, so a revision is never reused for a user or court, not even
// after the credential was removed and stored again.
constexpr std::string_view schema_v1_to_v2 = R"sql(
ALTER TABLE pacer_logins ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
ALTER TABLE pacer_logins ADD COLUMN state_detail TEXT NOT NULL DEFAULT '';
ALTER TABLE pacer_logins ADD COLUMN password_set_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ecf_logins ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
ALTER TABLE ecf_logins ADD COLUMN state_detail TEXT NOT NULL DEFAULT '';
ALTER TABLE ecf_logins ADD COLUMN password_set_at INTEGER NOT NULL DEFAULT 0;
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('revision', 1);
PRAGMA user_version = 2;
)sql";

// Version 3: what a court showed (PROTOCOL.md §5): the filing menus (the account is linked
// there) or the limited menu, when, and whether a proxied page or `courtroute verify` saw it.
constexpr std::string_view schema_v2_to_v3 = R"sql(
CREATE TABLE link_observations (
    user         TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    court        TEXT NOT NULL,
    filing_menus INTEGER NOT NULL,
    observed_at  INTEGER NOT NULL,
    source       TEXT NOT NULL,
    PRIMARY KEY (user, court)
);
PRAGMA user_version = 3;
)sql";

// Version 4: the fee ledger (PROTOCOL.md §9): one row per Transaction Receipt the daemon saw (a
// charge, or a document's quote until its PDF is fetched) or per estimate. Kept when a user is
// removed: the firm still owes what was charged.
constexpr std::string_view schema_v3_to_v4 = R"sql(
CREATE TABLE fee_entries (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    user        TEXT NOT NULL,
    court       TEXT NOT NULL,
    login       TEXT NOT NULL,
    client_code TEXT NOT NULL,
    description TEXT NOT NULL,
    criteria    TEXT NOT NULL,
    pages       INTEGER NOT NULL,
    cents       INTEGER NOT NULL,
    quote       INTEGER NOT NULL,
    estimated   INTEGER NOT NULL,
    path        TEXT NOT NULL
);
CREATE INDEX fee_entries_at ON fee_entries (at);
CREATE INDEX fee_entries_quote ON fee_entries (user, court, path) WHERE quote = 1;
PRAGMA user_version = 4;
)sql";

// Version 5: the audit trail: one row per routed request (who reached which court, when, how),
// never a secret or a query string. Pruned after `[audit] retention_days`.
constexpr std::string_view schema_v4_to_v5 = R"sql(
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    user        TEXT NOT NULL,
    court       TEXT NOT NULL,
    route       TEXT NOT NULL,
    login       TEXT NOT NULL,
    client_code TEXT NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    status      INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    ms          INTEGER NOT NULL
);
CREATE INDEX audit_at ON audit (at);
PRAGMA user_version = 5;
)sql";

/// Runs `f`, turning SQLite's exceptions into `store_error` naming the database. Our own
/// `store_error`s pass through untouched.
template <class F>
auto guarded(const std::string& file, F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const SQLite::Exception& e) {
        throw store_error("database " + quote(file) + " failed: " + e.what());
    }
}

std::string blob(const SQLite::Column& c) {
    if (c.isNull()) return {};
    return std::string(static_cast<const char*>(c.getBlob()), static_cast<std::size_t>(c.getBytes()));
}

void bind_blob(SQLite::Statement& st, int index, const std::string& bytes) {
    st.bind(index, static_cast<const void*>(bytes.data()), static_cast<int>(bytes.size()));
}

bool user_exists(SQLite::Database& db, const std::string& name) {
    SQLite::Statement st(db, "SELECT 1 FROM users WHERE name = ?");
    st.bind(1, name);
    return st.executeStep();
}

void require_user(SQLite::Database& db, const std::string& name) {
    if (!user_exists(db, name)) throw store_error("user " + quote(name) + " does not exist");
}

/// The next revision from the store-wide counter; call inside the write transaction.
std::int64_t next_revision(SQLite::Database& db) {
    db.exec("UPDATE counters SET value = value + 1 WHERE name = 'revision'");
    return db.execAndGet("SELECT value FROM counters WHERE name = 'revision'").getInt64();
}

/// Sets the process umask for a scope: files SQLite creates (journal, WAL, SHM) start private.
/// The umask is process-wide, so this is only for the single-threaded startup path.
struct umask_guard {
    mode_t old;
    explicit umask_guard(mode_t m) : old(::umask(m)) {}
    ~umask_guard() { ::umask(old); }
    umask_guard(const umask_guard&) = delete;
    umask_guard& operator=(const umask_guard&) = delete;
};

/// Narrows an existing path's mode to `mode` when group or others have any access.
void tighten(const fs::path& p, mode_t mode, const char* what) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
        if (errno == ENOENT) return;
        throw store_error(std::string("cannot inspect ") + what + " " + quote(p.string()) + ": " +
                          std::strerror(errno));
    }
    if ((st.st_mode & 077) != 0 && ::chmod(p.c_str(), mode) != 0)
        throw store_error(std::string("cannot restrict ") + what + " " + quote(p.string()) + " to mode " +
                          (mode == 0700 ? "0700" : "0600") + ": " + std::strerror(errno));
}

// The ledger's and the trail's columns, in the order `bind_fee`/`read_fee` and
// `bind_audit`/`read_audit` use (from parameter or column `first` on).
constexpr const char* fee_columns =
    "at, user, court, login, client_code, description, criteria, pages, cents, quote, estimated, path";
constexpr const char* fee_insert_sql =
    "INSERT INTO fee_entries (at, user, court, login, client_code, description, criteria, pages, cents, quote, "
    "estimated, path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr const char* audit_columns = "at, user, court, route, login, client_code, method, path, status, bytes, ms";
constexpr const char* audit_insert_sql =
    "INSERT INTO audit (at, user, court, route, login, client_code, method, path, status, bytes, ms) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

void bind_fee(SQLite::Statement& st, const fees::entry& e) {
    st.bind(1, e.at);
    st.bind(2, e.user);
    st.bind(3, e.court);
    st.bind(4, e.login);
    st.bind(5, e.client_code);
    st.bind(6, e.description);
    st.bind(7, e.criteria);
    st.bind(8, e.pages);
    st.bind(9, e.cents);
    st.bind(10, e.quote ? 1 : 0);
    st.bind(11, e.estimated ? 1 : 0);
    st.bind(12, e.path);
}

fees::entry read_fee(const SQLite::Statement& st) {
    fees::entry e;
    e.at = st.getColumn(0).getInt64();
    e.user = st.getColumn(1).getString();
    e.court = st.getColumn(2).getString();
    e.login = st.getColumn(3).getString();
    e.client_code = st.getColumn(4).getString();
    e.description = st.getColumn(5).getString();
    e.criteria = st.getColumn(6).getString();
    e.pages = st.getColumn(7).getInt();
    e.cents = st.getColumn(8).getInt64();
    e.quote = st.getColumn(9).getInt() != 0;
    e.estimated = st.getColumn(10).getInt() != 0;
    e.path = st.getColumn(11).getString();
    return e;
}

void bind_audit(SQLite::Statement& st, const audit_record& r) {
    st.bind(1, r.at);
    st.bind(2, r.user);
    st.bind(3, r.court);
    st.bind(4, r.route);
    st.bind(5, r.login);
    st.bind(6, r.client_code);
    st.bind(7, r.method);
    st.bind(8, r.path);
    st.bind(9, r.status);
    st.bind(10, r.bytes);
    st.bind(11, r.ms);
}

audit_record read_audit(const SQLite::Statement& st) {
    audit_record r;
    r.at = st.getColumn(0).getInt64();
    r.user = st.getColumn(1).getString();
    r.court = st.getColumn(2).getString();
    r.route = st.getColumn(3).getString();
    r.login = st.getColumn(4).getString();
    r.client_code = st.getColumn(5).getString();
    r.method = st.getColumn(6).getString();
    r.path = st.getColumn(7).getString();
    r.status = st.getColumn(8).getInt();
    r.bytes = st.getColumn(9).getInt64();
    r.ms = st.getColumn(10).getInt64();
    return r;
}

/// Calls `f` with the statement standing on each row `sql` returns.
template <class F>
void for_each_row(SQLite::Database& db, const std::string& sql, F f) {
    SQLite::Statement st(db, sql);
    while (st.executeStep()) f(st);
}

/// Runs `sql` (prepared once) for every row of `rows`, `bind` setting its parameters.
template <class Row, class Bind>
void insert_each(SQLite::Database& db, const char* sql, const std::vector<Row>& rows, Bind bind) {
    SQLite::Statement st(db, sql);
    for (const auto& row : rows) {
        bind(st, row);
        st.exec();
        st.reset();
    }
}

/// Columns selected for an `ecf_login`, in the order `read_ecf` expects.
constexpr std::string_view ecf_columns = "court, login, password, revision, state, state_detail";

ecf_login read_ecf(const SQLite::Statement& st, const std::string& user, const secret_box& box,
                   const std::string& file, secrets mode) {
    ecf_login out;
    out.user = user;
    out.court = st.getColumn(0).getString();
    out.login = st.getColumn(1).getString();
    const std::string where = "user " + quote(user) + " at " + quote(out.court);
    if (mode == secrets::opened)
        out.password = unseal(box, file, blob(st.getColumn(2)), ecf_password_context(user, out.court),
                              "the CM/ECF password of " + where);
    out.revision = st.getColumn(3).getInt64();
    out.state = parse_state(st.getColumn(4).getString(), "the CM/ECF login of " + where);
    out.state_detail = st.getColumn(5).getString();
    return out;
}

} // namespace

std::string_view to_string(credential_state s) {
    switch (s) {
    case credential_state::active: return "active";
    case credential_state::failed: return "failed";
    case credential_state::mfa_required: return "mfa_required";
    }
    return "active";
}

std::string_view sqlite_store::schema_v1_sql() { return schema_v1; }

sqlite_store::sqlite_store(const std::string& db_file, secret_box box) : file_(db_file), box_(box) {
    guarded(file_, [&] {
        db_ = std::make_unique<SQLite::Database>(db_file, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE,
                                                 static_cast<int>(busy_timeout.count()));
        // WAL lets the daemon read while the CLI writes; the busy timeout (set above, before
        // anything touches the file) makes writers queue instead of failing with SQLITE_BUSY.
        db_->exec("PRAGMA journal_mode = WAL");
        db_->exec("PRAGMA foreign_keys = ON");
        // Zero deleted content so replaced ciphertext does not linger in free pages.
        db_->exec("PRAGMA secure_delete = ON");
        migrate();
    });
}

sqlite_store::~sqlite_store() = default;

void sqlite_store::migrate() {
    auto read_version = [&] { return db_->execAndGet("PRAGMA user_version").getInt(); };
    auto check = [&](int v) {
        if (v > schema_version)
            throw store_error("database " + quote(file_) + " has schema version " + std::to_string(v) +
                              ", newer than this courtroute understands (" + std::to_string(schema_version) +
                              "); upgrade courtroute");
        if (v < 0) throw store_error("database " + quote(file_) + " has an invalid schema version " + std::to_string(v));
    };
    int v = read_version();
    check(v);
    if (v == schema_version) return;
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    v = read_version(); // another process may have migrated while we waited for the lock
    check(v);
    if (v == 0) {
        db_->exec(std::string(schema_v1));
        v = 1;
    }
    if (v == 1) {
        db_->exec(std::string(schema_v1_to_v2));
        v = 2;
    }
    if (v == 2) {
        db_->exec(std::string(schema_v2_to_v3));
        v = 3;
    }
    if (v == 3) {
        db_->exec(std::string(schema_v3_to_v4));
        v = 4;
    }
    if (v == 4) {
        db_->exec(std::string(schema_v4_to_v5));
        v = 5;
    }
    tx.commit();
}

std::unique_ptr<store> store::open_state(const std::filesystem::path& state_dir,
                                         const std::filesystem::path& key_file) {
    const umask_guard mask(077);
    std::error_code ec;
    fs::create_directories(state_dir, ec);
    if (ec) throw store_error("cannot create state directory " + quote(state_dir.string()) + ": " + ec.message());
    if (!fs::is_directory(state_dir, ec))
        throw store_error("state directory " + quote(state_dir.string()) + " is not a directory");
    tighten(state_dir, 0700, "state directory");

    secret_box box = secret_box::from_key_file(key_file, true);
    return sqlite_store::open_file(state_dir / "courtroute.db", box);
}

std::unique_ptr<sqlite_store> sqlite_store::open_file(const fs::path& db_file, secret_box box) {
    const umask_guard mask(077);
    // Create the file ourselves so it is 0600 from its first byte, whatever SQLite would pick.
    const int fd = ::open(db_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) throw store_error("cannot create database " + quote(db_file.string()) + ": " + std::strerror(errno));
    ::close(fd);
    tighten(db_file, 0600, "database");

    auto s = std::make_unique<sqlite_store>(db_file.string(), box);
    for (const char* suffix : {"-wal", "-shm"}) tighten(db_file.string() + suffix, 0600, "database file");
    return s;
}

// --- users ---

std::string sqlite_store::add_user(const std::string& name) {
    check_user_name(name);
    return guarded(file_, [&] {
        SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
        if (user_exists(*db_, name)) throw store_error("user " + quote(name) + " already exists");
        std::string token = new_token();
        SQLite::Statement st(*db_, "INSERT INTO users (name, token_hash, created_at) VALUES (?, ?, ?)");
        st.bind(1, name);
        st.bind(2, token_hash(token));
        st.bind(3, unix_now());
        st.exec();
        tx.commit();
        return token;
    });
}

std::string sqlite_store::rotate_user(const std::string& name) {
    check_user_name(name);
    return guarded(file_, [&] {
        SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
        std::string token = new_token();
        SQLite::Statement st(*db_, "UPDATE users SET token_hash = ? WHERE name = ?");
        st.bind(1, token_hash(token));
        st.bind(2, name);
        if (st.exec() == 0) throw store_error("user " + quote(name) + " does not exist");
        tx.commit();
        return token;
    });
}

void sqlite_store::remove_user(const std::string& name) {
    check_user_name(name);
    guarded(file_, [&] {
        SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
        // Credentials and links go with it (ON DELETE CASCADE; foreign_keys is on).
        SQLite::Statement st(*db_, "DELETE FROM users WHERE name = ?");
        st.bind(1, name);
        if (st.exec() == 0) throw store_error("user " + quote(name) + " does not exist");
        tx.commit();
    });
}

std::vector<user_info> sqlite_store::users() const {
    return guarded(file_, [&] {
        std::vector<user_info> out;
        SQLite::Statement st(*db_, "SELECT name, created_at FROM users ORDER BY name");
        while (st.executeStep()) out.push_back({st.getColumn(0).getString(), st.getColumn(1).getInt64()});
        return out;
    });
}

bool sqlite_store::has_user(const std::string& name) const {
    if (!valid_user_name(name)) return false;
    return guarded(file_, [&] { return user_exists(*db_, name); });
}

std::optional<std::string> sqlite_store::user_for_token(std::string_view token) const {
    if (token.empty()) return std::nullopt;
    return guarded(file_, [&]() -> std::optional<std::string> {
        // Lookup by hash: the clear token is never stored, and equality on a hash of a
        // high-entropy token leaks nothing useful through timing.
        SQLite::Statement st(*db_, "SELECT name FROM users WHERE token_hash = ?");
        st.bind(1, token_hash(token));
        if (!st.executeStep()) return std::nullopt;
        return st.getColumn(0).getString();
    });
}

// --- PACER login ---

void sqlite_store::set_pacer(const pacer_login& login) {
    check_pacer_login(login);
    const std::string password = box_.seal(login.password, pacer_password_context(login.user));
    const std::string totp =
        login.totp_secret.empty() ? std::string() : box_.seal(login.totp_secret, pacer_totp_context(login.user));
    guarded(file_, [&] {
        SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
        require_user(*db_, login.user);
        const std::int64_t revision = next_revision(*db_);
        SQLite::Statement st(*db_, R"sql(
            INSERT INTO pacer_logins (user, login, password, client_code, shared, totp_secret, state,
                                      state_detail, password_set_at, revision)
            VALUES (?, ?, ?, ?, ?, ?, 'active', '', ?, ?)
            ON CONFLICT (user) DO UPDATE SET
                login = excluded.login, password = excluded.password, client_code = excluded.client_code,
                shared = excluded.shared, totp_secret = excluded.totp_secret, state = 'active',
                state_detail = '', password_set_at = excluded.password_set_at, revision = excluded.revision
        )sql");
        st.bind(1, login.user);
        st.bind(2, login.login);
        bind_blob(st, 3, password);
        st.bind(4, login.client_code);
        st.bind(5, login.shared ? 1 : 0);
        if (totp.empty())
            st.bind(6);
        else
            bind_blob(st, 6, totp);
        st.bind(7, login.password_set_at > 0 ? login.password_set_at : unix_now());
        st.bind(8, revision);
        st.exec();
        tx.commit();
    });
}

std::optional<pacer_login> sqlite_store::pacer(const std::string& user, secrets mode) const {
    check_user_name(user);
    return guarded(file_, [&]() -> std::optional<pacer_login> {
        SQLite::Statement st(*db_, R"sql(
            SELECT login, password, client_code, shared, totp_secret, revision, state, state_detail, password_set_at
            FROM pacer_logins WHERE user = ?
        )sql");
        st.bind(1, user);
        if (!st.executeStep()) return std::nullopt;
        pacer_login out;
        out.user = user;
        out.login = st.getColumn(0).getString();
        if (mode == secrets::opened)
            out.password = unseal(box_, file_, blob(st.getColumn(1)), pacer_password_context(user),
                                  "the PACER password of user " + quote(user));
        out.client_code = st.getColumn(2).getString();
        out.shared = st.getColumn(3).getInt() != 0;
        out.has_totp = !st.getColumn(4).isNull();
        if (out.has_totp && mode == secrets::opened)
            out.totp_secret = unseal(box_, file_, blob(st.getColumn(4)), pacer_totp_context(user),
                                     "the PACER TOTP secret of user " + quote(user));
        out.revision = st.getColumn(5).getInt64();
        out.state = parse_state(st.getColumn(6).getString(), "the PACER login of user " + quote(user));
        out.state_detail = st.getColumn(7).getString();
        out.password_set_at = st.getColumn(8).getInt64();
        return out;
    });
}

void sqlite_store::mark_pacer(const std::string& user, std::int64_t revision, credential_state state,
                       const std::string& detail) {
    check_user_name(user);
    guarded(file_, [&] {
        SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement st(*db_,
                             "UPDATE pacer_logins SET state = ?, state_detail = ? WHERE user = ? AND revision = ?");
        st.bind(1, std::string(to_string(state)));
        st.bind(2, detail);
        st.bind(3, user);
        st.bind(4, revision);
        st.exec(); // zero rows: the credential was replaced or removed since; nothing to mark
        tx.commit();
    });
}

// --- CM/ECF logins ---

void sqlite_store::set_ecf(const std::string& user, const std::string& court, const std::string& login,
                    const std::string& password) {
    check_ecf_login(user, court, login, password);
    const std::string sealed = box_.seal(password, ecf_password_context(user, court));
    guarded(file_, [&] {
        SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
        require_user(*db_, user);
        const std::int64_t revision = next_revision(*db_);
        SQLite::Statement st(*db_, R"sql(
            INSERT INTO ecf_logins (user, court, login, password, state, state_detail, password_set_at, revision)
            VALUES (?, ?, ?, ?, 'active', '', ?, ?)
            ON CONFLICT (user, court) DO UPDATE SET
                login = excluded.login, password = excluded.password, state = 'active', state_detail = '',
                password_set_at = excluded.password_set_at, revision = excluded.revision
        )sql");
        st.bind(1, user);
        st.bind(2, court);
        st.bind(3, login);
        bind_blob(st, 4, sealed);
        st.bind(5, unix_now());
        st.bind(6, revision);
        st.exec();
        tx.commit();
    });
}

std::optional<ecf_login> sqlite_store::ecf(const std::string& user, const std::string& court, secrets mode) const {
    check_user_name(user);
    check_court(court);
    return guarded(file_, [&]() -> std::optional<ecf_login> {
        SQLite::Statement st(*db_, "SELECT " + std::string(ecf_columns) +
                                       " FROM ecf_logins WHERE user = ? AND court = ?");
        st.bind(1, user);
        st.bind(2, court);
        if (!st.executeStep()) return std::nullopt;
        return read_ecf(st, user, box_, file_, mode);
    });
}

std::vector<ecf_login> sqlite_store::ecf_logins(const std::string& user, secrets mode) const {
    check_user_name(user);
    return guarded(file_, [&] {
        std::vector<ecf_login> all;
        SQLite::Statement st(*db_, "SELECT " + std::string(ecf_columns) +
                                       " FROM ecf_logins WHERE user = ? ORDER BY court");
        st.bind(1, user);
        while (st.executeStep()) all.push_back(read_ecf(st, user, box_, file_, mode));
        return all;
    });
}

bool sqlite_store::remove_ecf(const std::string& user, const std::string& court) {
    return delete_user_court("DELETE FROM ecf_logins WHERE user = ? AND court = ?", user, court);
}

void sqlite_store::mark_ecf(const std::string& user, const std::string& court, std::int64_t revision,
                     credential_state state, const std::string& detail) {
    check_user_name(user);
    check_court(court);
    guarded(file_, [&] {
        SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement st(*db_, "UPDATE ecf_logins SET state = ?, state_detail = ? "
                                   "WHERE user = ? AND court = ? AND revision = ?");
        st.bind(1, std::string(to_string(state)));
        st.bind(2, detail);
        st.bind(3, user);
        st.bind(4, court);
        st.bind(5, revision);
        st.exec(); // zero rows: replaced or removed since; a stale outcome is dropped
        tx.commit();
    });
}

// --- links ---

void sqlite_store::record_link(const std::string& user, const std::string& court) {
    check_user_name(user);
    check_court(court);
    guarded(file_, [&] {
        SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
        require_user(*db_, user);
        SQLite::Statement exists(*db_, "SELECT 1 FROM links WHERE user = ? AND court = ?");
        exists.bind(1, user);
        exists.bind(2, court);
        if (exists.executeStep())
            throw store_error("a link is already recorded for " + quote(user) + " at " + quote(court));
        SQLite::Statement ins(*db_, "INSERT INTO links (user, court, linked_at) VALUES (?, ?, ?)");
        ins.bind(1, user);
        ins.bind(2, court);
        ins.bind(3, unix_now());
        ins.exec();
        // After linking, the court-issued login no longer works: keep no dead secret around.
        SQLite::Statement del(*db_, "DELETE FROM ecf_logins WHERE user = ? AND court = ?");
        del.bind(1, user);
        del.bind(2, court);
        del.exec();
        tx.commit();
    });
}

bool sqlite_store::remove_link(const std::string& user, const std::string& court) {
    return delete_user_court("DELETE FROM links WHERE user = ? AND court = ?", user, court);
}

bool sqlite_store::delete_user_court(const char* sql, const std::string& user, const std::string& court) {
    check_user_name(user);
    check_court(court);
    return guarded(file_, [&] {
        SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement st(*db_, sql);
        st.bind(1, user);
        st.bind(2, court);
        const bool removed = st.exec() > 0;
        tx.commit();
        return removed;
    });
}

bool sqlite_store::linked(const std::string& user, const std::string& court) const {
    check_user_name(user);
    check_court(court);
    return guarded(file_, [&] {
        SQLite::Statement st(*db_, "SELECT 1 FROM links WHERE user = ? AND court = ?");
        st.bind(1, user);
        st.bind(2, court);
        return st.executeStep();
    });
}

std::vector<link_info> sqlite_store::links(const std::string& user) const {
    check_user_name(user);
    return guarded(file_, [&] {
        std::vector<link_info> out;
        SQLite::Statement st(*db_, "SELECT court, linked_at FROM links WHERE user = ? ORDER BY court");
        st.bind(1, user);
        while (st.executeStep()) out.push_back({user, st.getColumn(0).getString(), st.getColumn(1).getInt64()});
        return out;
    });
}

void sqlite_store::record_observation(const std::string& user, const std::string& court, bool filing_menus,
                               std::int64_t observed_at, std::string_view source) {
    check_user_name(user);
    check_court(court);
    guarded(file_, [&] {
        SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
        require_user(*db_, user);
        SQLite::Statement up(*db_,
                             "INSERT INTO link_observations (user, court, filing_menus, observed_at, source) "
                             "VALUES (?, ?, ?, ?, ?) ON CONFLICT (user, court) DO UPDATE SET "
                             "filing_menus = excluded.filing_menus, observed_at = excluded.observed_at, "
                             "source = excluded.source");
        up.bind(1, user);
        up.bind(2, court);
        up.bind(3, filing_menus ? 1 : 0);
        up.bind(4, observed_at);
        up.bind(5, std::string(source));
        up.exec();
        tx.commit();
    });
}

std::vector<link_observation> sqlite_store::observations(const std::string& user) const {
    check_user_name(user);
    return guarded(file_, [&] {
        std::vector<link_observation> out;
        SQLite::Statement st(*db_, "SELECT court, filing_menus, observed_at, source FROM link_observations "
                                   "WHERE user = ? ORDER BY court");
        st.bind(1, user);
        while (st.executeStep())
            out.push_back({st.getColumn(0).getString(), st.getColumn(1).getInt() != 0, st.getColumn(2).getInt64(),
                           st.getColumn(3).getString()});
        return out;
    });
}

void sqlite_store::set_busy_timeout(std::chrono::milliseconds wait) {
    guarded(file_, [&] { db_->setBusyTimeout(static_cast<int>(wait.count())); });
}

std::int64_t sqlite_store::data_version() const {
    return guarded(file_, [&] {
        if (!version_stmt_) version_stmt_ = std::make_unique<SQLite::Statement>(*db_, "PRAGMA data_version");
        version_stmt_->executeStep();
        auto version = version_stmt_->getColumn(0).getInt64();
        // Reset at once: a statement left on its row keeps a read transaction open, and a
        // stale snapshot makes this connection's next write fail with SQLITE_BUSY.
        version_stmt_->reset();
        return version;
    });
}

// --- fee ledger ---

void sqlite_store::sync_at_checkpoints_only() {
    guarded(file_, [&] {
        db_->exec("PRAGMA synchronous = NORMAL");
        // The audit trail appends all day: a small page cache keeps the daemon's memory flat.
        db_->exec("PRAGMA cache_size = -256");
    });
}

void sqlite_store::record_fee(const fees::entry& e) {
    guarded(file_, [&] {
        if (!fee_insert_) fee_insert_ = std::make_unique<SQLite::Statement>(*db_, fee_insert_sql);
        auto& st = *fee_insert_;
        st.reset();
        st.clearBindings();
        bind_fee(st, e);
        st.exec();
        st.reset();
    });
}

std::optional<std::int64_t> sqlite_store::charge_quote(const std::string& user, const std::string& court,
                                                const std::string& path, std::int64_t at) {
    return guarded(file_, [&]() -> std::optional<std::int64_t> {
        SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement find(*db_, "SELECT id, cents FROM fee_entries WHERE quote = 1 AND user = ? AND court = ? "
                                     "AND path = ? ORDER BY id DESC LIMIT 1");
        find.bind(1, user);
        find.bind(2, court);
        find.bind(3, path);
        if (!find.executeStep()) return std::nullopt;
        auto id = find.getColumn(0).getInt64();
        auto cents = find.getColumn(1).getInt64();
        SQLite::Statement up(*db_, "UPDATE fee_entries SET quote = 0, at = ? WHERE id = ?");
        up.bind(1, at);
        up.bind(2, id);
        up.exec();
        tx.commit();
        return cents;
    });
}

std::optional<std::int64_t> sqlite_store::latest_quote(const std::string& user, const std::string& court,
                                                const std::string& path) const {
    return guarded(file_, [&]() -> std::optional<std::int64_t> {
        SQLite::Statement st(*db_, "SELECT cents FROM fee_entries WHERE quote = 1 AND user = ? AND court = ? AND path = ? "
                                   "ORDER BY id DESC LIMIT 1");
        st.bind(1, user);
        st.bind(2, court);
        st.bind(3, path);
        if (!st.executeStep()) return std::nullopt;
        return st.getColumn(0).getInt64();
    });
}

std::vector<fees::entry> sqlite_store::fee_entries(const fee_filter& f) const {
    return guarded(file_, [&] {
        std::string sql = std::string("SELECT ") + fee_columns + " FROM fee_entries WHERE at >= ? AND at < ?";
        if (f.user) sql += " AND user = ?";
        if (f.client_code) sql += " AND client_code = ?";
        if (f.court) sql += " AND court = ?";
        sql += " ORDER BY at, id";
        SQLite::Statement st(*db_, sql);
        int i = 1;
        st.bind(i++, f.since);
        st.bind(i++, f.until);
        if (f.user) st.bind(i++, *f.user);
        if (f.client_code) st.bind(i++, *f.client_code);
        if (f.court) st.bind(i++, *f.court);
        std::vector<fees::entry> out;
        while (st.executeStep()) out.push_back(read_fee(st));
        return out;
    });
}

// --- audit trail ---

void sqlite_store::append_audit(const std::vector<audit_record>& rows) {
    if (rows.empty()) return;
    guarded(file_, [&] {
        SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
        if (!audit_insert_) audit_insert_ = std::make_unique<SQLite::Statement>(*db_, audit_insert_sql);
        auto& st = *audit_insert_;
        st.reset();
        for (auto& r : rows) {
            bind_audit(st, r);
            st.exec();
            st.reset();
        }
        tx.commit();
    });
}

std::vector<audit_record> sqlite_store::audit_records(const audit_filter& f) const {
    return guarded(file_, [&] {
        std::string sql = std::string("SELECT ") + audit_columns + " FROM audit WHERE at >= ?";
        if (f.user) sql += " AND user = ?";
        if (f.court) sql += " AND court = ?";
        sql += " ORDER BY at, id";
        SQLite::Statement st(*db_, sql);
        int i = 1;
        st.bind(i++, f.since);
        if (f.user) st.bind(i++, *f.user);
        if (f.court) st.bind(i++, *f.court);
        std::vector<audit_record> out;
        while (st.executeStep()) out.push_back(read_audit(st));
        return out;
    });
}

std::int64_t sqlite_store::prune_audit(std::int64_t before, int limit) {
    return guarded(file_, [&]() -> std::int64_t {
        SQLite::Statement st(*db_, "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < ? ORDER BY id LIMIT ?)");
        st.bind(1, before);
        st.bind(2, limit);
        return st.exec();
    });
}

// --- moving a whole store ---

store::dump sqlite_store::export_all() const {
    return guarded(file_, [&] {
        // One read transaction: one snapshot of every table, whatever the daemon writes meanwhile.
        SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::DEFERRED);
        dump d;
        using row = const SQLite::Statement&;
        for_each_row(*db_, "SELECT name, token_hash, created_at FROM users ORDER BY name", [&](row r) {
            d.users.push_back({r.getColumn(0).getString(), r.getColumn(1).getString(), r.getColumn(2).getInt64()});
        });
        for_each_row(*db_,
                     "SELECT user, login, password, client_code, shared, totp_secret, state, state_detail, revision, "
                     "password_set_at FROM pacer_logins ORDER BY user",
                     [&](row r) {
                         dump::pacer_row p;
                         p.user = r.getColumn(0).getString();
                         p.login = r.getColumn(1).getString();
                         p.password = blob(r.getColumn(2));
                         p.client_code = r.getColumn(3).getString();
                         p.shared = r.getColumn(4).getInt() != 0;
                         p.totp_secret = blob(r.getColumn(5));
                         p.state = parse_state(r.getColumn(6).getString(), "the PACER login of user " + quote(p.user));
                         p.state_detail = r.getColumn(7).getString();
                         p.revision = r.getColumn(8).getInt64();
                         p.password_set_at = r.getColumn(9).getInt64();
                         d.pacer.push_back(std::move(p));
                     });
        for_each_row(*db_,
                     "SELECT user, court, login, password, state, state_detail, revision, password_set_at "
                     "FROM ecf_logins ORDER BY user, court",
                     [&](row r) {
                         dump::ecf_row e;
                         e.user = r.getColumn(0).getString();
                         e.court = r.getColumn(1).getString();
                         e.login = r.getColumn(2).getString();
                         e.password = blob(r.getColumn(3));
                         e.state = parse_state(r.getColumn(4).getString(),
                                               "the CM/ECF login of user " + quote(e.user) + " at " + quote(e.court));
                         e.state_detail = r.getColumn(5).getString();
                         e.revision = r.getColumn(6).getInt64();
                         e.password_set_at = r.getColumn(7).getInt64();
                         d.ecf.push_back(std::move(e));
                     });
        for_each_row(*db_, "SELECT user, court, linked_at FROM links ORDER BY user, court", [&](row r) {
            d.links.push_back({r.getColumn(0).getString(), r.getColumn(1).getString(), r.getColumn(2).getInt64()});
        });
        for_each_row(*db_,
                     "SELECT user, court, filing_menus, observed_at, source FROM link_observations ORDER BY user, court",
                     [&](row r) {
                         d.observations.push_back({r.getColumn(0).getString(),
                                                   {r.getColumn(1).getString(), r.getColumn(2).getInt() != 0,
                                                    r.getColumn(3).getInt64(), r.getColumn(4).getString()}});
                     });
        // By id: the order they were written in, which `latest_quote` relies on.
        for_each_row(*db_, std::string("SELECT ") + fee_columns + " FROM fee_entries ORDER BY id",
                     [&](row r) { d.fees.push_back(read_fee(r)); });
        for_each_row(*db_, std::string("SELECT ") + audit_columns + " FROM audit ORDER BY id",
                     [&](row r) { d.audit.push_back(read_audit(r)); });
        d.revision_counter = db_->execAndGet("SELECT value FROM counters WHERE name = 'revision'").getInt64();
        tx.commit(); // it only read
        return d;
    });
}

void sqlite_store::import_all(const dump& d) {
    guarded(file_, [&] {
        SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
        // Nothing is merged: the ledger and the trail outlive their users, so they count too.
        SQLite::Statement held(*db_, "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM fee_entries), "
                                     "(SELECT count(*) FROM audit)");
        held.executeStep();
        if (held.getColumn(0).getInt64() + held.getColumn(1).getInt64() + held.getColumn(2).getInt64() > 0)
            throw store_error("database " + quote(file_) + " is not empty (users: " + held.getColumn(0).getString() +
                              ", fee entries: " + held.getColumn(1).getString() + ", audit records: " +
                              held.getColumn(2).getString() + "): copy only into a new store");
        held.reset();
        insert_each(*db_, "INSERT INTO users (name, token_hash, created_at) VALUES (?, ?, ?)", d.users,
                    [](SQLite::Statement& st, const dump::user_row& u) {
                        st.bind(1, u.name);
                        st.bind(2, u.token_hash);
                        st.bind(3, u.created_at);
                    });
        insert_each(*db_,
                    "INSERT INTO pacer_logins (user, login, password, client_code, shared, totp_secret, state, "
                    "state_detail, revision, password_set_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    d.pacer, [](SQLite::Statement& st, const dump::pacer_row& p) {
                        st.bind(1, p.user);
                        st.bind(2, p.login);
                        bind_blob(st, 3, p.password);
                        st.bind(4, p.client_code);
                        st.bind(5, p.shared ? 1 : 0);
                        if (p.totp_secret.empty())
                            st.bind(6);
                        else
                            bind_blob(st, 6, p.totp_secret);
                        st.bind(7, std::string(to_string(p.state)));
                        st.bind(8, p.state_detail);
                        st.bind(9, p.revision);
                        st.bind(10, p.password_set_at);
                    });
        insert_each(*db_,
                    "INSERT INTO ecf_logins (user, court, login, password, state, state_detail, revision, "
                    "password_set_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    d.ecf, [](SQLite::Statement& st, const dump::ecf_row& e) {
                        st.bind(1, e.user);
                        st.bind(2, e.court);
                        st.bind(3, e.login);
                        bind_blob(st, 4, e.password);
                        st.bind(5, std::string(to_string(e.state)));
                        st.bind(6, e.state_detail);
                        st.bind(7, e.revision);
                        st.bind(8, e.password_set_at);
                    });
        insert_each(*db_, "INSERT INTO links (user, court, linked_at) VALUES (?, ?, ?)", d.links,
                    [](SQLite::Statement& st, const link_info& l) {
                        st.bind(1, l.user);
                        st.bind(2, l.court);
                        st.bind(3, l.linked_at);
                    });
        insert_each(*db_,
                    "INSERT INTO link_observations (user, court, filing_menus, observed_at, source) "
                    "VALUES (?, ?, ?, ?, ?)",
                    d.observations, [](SQLite::Statement& st, const dump::observation_row& o) {
                        st.bind(1, o.user);
                        st.bind(2, o.seen.court);
                        st.bind(3, o.seen.filing_menus ? 1 : 0);
                        st.bind(4, o.seen.observed_at);
                        st.bind(5, o.seen.source);
                    });
        insert_each(*db_, fee_insert_sql, d.fees, bind_fee);
        insert_each(*db_, audit_insert_sql, d.audit, bind_audit);
        SQLite::Statement counter(*db_, "UPDATE counters SET value = max(value, ?) WHERE name = 'revision'");
        counter.bind(1, d.highest_revision());
        counter.exec();
        tx.commit();
    });
}

} // namespace courtroute
