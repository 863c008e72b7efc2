#include "store/pg_store.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <initializer_list>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include <libpq-fe.h>
#include <poll.h>

#include <thread>

#include "core/names.hpp"
#include "core/text.hpp"
#include "store/records.hpp"

namespace courtroute {
namespace {

using namespace store_records;

// The whole schema at version 5, the same tables and columns as the SQLite store's (booleans are
// BOOLEAN, BLOBs BYTEA, integers BIGINT). No PostgreSQL store predates version 5, so there is no
// upgrade path yet: later versions add steps after this one. `user` is a reserved word here and is
// quoted everywhere. Secrets (`password`, `totp_secret`) are sealed by `secret_box`; tokens are
// SHA-256 hex.
//
// `courtroute_changes` is what `data_version()` reads: statement-level triggers bump it on every
// write to the tables a daemon caches (users, credentials, links, observations), and tell
// listeners on channel `courtroute_changes`. The ledger, the audit trail and the revision counter
// are left out: the daemon writes them all day and caches none of them.
constexpr const char* schema_v5 = R"sql(
CREATE TABLE courtroute_meta (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
CREATE TABLE users (
    name       TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE TABLE pacer_logins (
    "user"          TEXT PRIMARY KEY REFERENCES users(name) ON DELETE CASCADE,
    login           TEXT NOT NULL,
    password        BYTEA NOT NULL,
    client_code     TEXT NOT NULL DEFAULT '',
    shared          BOOLEAN NOT NULL DEFAULT FALSE,
    totp_secret     BYTEA,
    state           TEXT NOT NULL DEFAULT 'active',
    revision        BIGINT NOT NULL DEFAULT 1,
    state_detail    TEXT NOT NULL DEFAULT '',
    password_set_at BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE ecf_logins (
    "user"          TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    court           TEXT NOT NULL,
    login           TEXT NOT NULL,
    password        BYTEA NOT NULL,
    state           TEXT NOT NULL DEFAULT 'active',
    revision        BIGINT NOT NULL DEFAULT 1,
    state_detail    TEXT NOT NULL DEFAULT '',
    password_set_at BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY ("user", court)
);
CREATE TABLE links (
    "user"    TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    court     TEXT NOT NULL,
    linked_at BIGINT NOT NULL,
    PRIMARY KEY ("user", court)
);
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('revision', 1);
CREATE TABLE link_observations (
    "user"       TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    court        TEXT NOT NULL,
    filing_menus BOOLEAN NOT NULL,
    observed_at  BIGINT NOT NULL,
    source       TEXT NOT NULL,
    PRIMARY KEY ("user", court)
);
CREATE TABLE fee_entries (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    "user"      TEXT NOT NULL,
    court       TEXT NOT NULL,
    login       TEXT NOT NULL,
    client_code TEXT NOT NULL,
    description TEXT NOT NULL,
    criteria    TEXT NOT NULL,
    pages       BIGINT NOT NULL,
    cents       BIGINT NOT NULL,
    quote       BOOLEAN NOT NULL,
    estimated   BOOLEAN NOT NULL,
    path        TEXT NOT NULL
);
CREATE INDEX fee_entries_at ON fee_entries (at);
CREATE INDEX fee_entries_quote ON fee_entries ("user", court, path) WHERE quote;
CREATE TABLE audit (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    "user"      TEXT NOT NULL,
    court       TEXT NOT NULL,
    route       TEXT NOT NULL,
    login       TEXT NOT NULL,
    client_code TEXT NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    status      BIGINT NOT NULL,
    bytes       BIGINT NOT NULL,
    ms          BIGINT NOT NULL
);
CREATE INDEX audit_at ON audit (at);
CREATE TABLE courtroute_changes (
    id      INT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO courtroute_changes (id, version) VALUES (1, 1);
-- The PACER session of each (user, client code), shared by every daemon: the token sealed like a
-- password, tied to the credential's revision (a replaced password voids it).
CREATE TABLE pacer_sessions (
    "user"      TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    client_code TEXT NOT NULL,
    revision    BIGINT NOT NULL,
    token       BYTEA NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY ("user", client_code)
);
CREATE FUNCTION courtroute_note_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v BIGINT;
BEGIN
    UPDATE courtroute_changes SET version = version + 1 WHERE id = 1 RETURNING version INTO v;
    PERFORM pg_notify('courtroute_changes', v::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER users_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION courtroute_note_change();
CREATE TRIGGER pacer_logins_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pacer_logins
    FOR EACH STATEMENT EXECUTE FUNCTION courtroute_note_change();
CREATE TRIGGER ecf_logins_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ecf_logins
    FOR EACH STATEMENT EXECUTE FUNCTION courtroute_note_change();
CREATE TRIGGER links_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON links
    FOR EACH STATEMENT EXECUTE FUNCTION courtroute_note_change();
CREATE TRIGGER link_observations_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON link_observations
    FOR EACH STATEMENT EXECUTE FUNCTION courtroute_note_change();
)sql";

/// The advisory lock every migration takes first ("courtrou" in ASCII): daemons starting together
/// queue on it, and all but the first find the schema current.
constexpr std::int64_t migration_lock = 0x636F'7572'7472'6F75;

/// How many rows one INSERT carries (the audit trail, `store copy`): at most 12 parameters a row
/// stays far below the protocol's 65535, and one round trip per 500 rows keeps batches cheap.
constexpr std::size_t insert_chunk = 500;

constexpr unsigned bytea_oid = 17; // pg_type.oid of bytea (catalog/pg_type_d.h)

// --- the same names, secrets and messages as sqlite_store ---

/// The store as messages name it (the conninfo holds no password by then).
std::string named(const std::string& where) { return "PostgreSQL database " + quote(where, 200); }

// --- conninfo without passwords ---

struct redacted_conninfo {
    std::string text;                 ///< fit for a message
    std::vector<std::string> secrets; ///< the passwords taken out, to scrub from libpq's messages
};

/// `postgresql://user:secret@host/db?password=x&sslmode=y` -> `postgresql://user@host/db?sslmode=y`.
/// The user part ends at the last '@' before the query: a password may hold '@' or '/' unescaped.
redacted_conninfo redact_url(std::string_view url) {
    redacted_conninfo out;
    const auto authority = url.find("://") + 3;
    std::string_view rest = url.substr(authority);
    std::string_view query;
    if (const auto q = rest.find('?'); q != std::string_view::npos) {
        query = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }
    out.text = std::string(url.substr(0, authority));
    if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
        const std::string_view userinfo = rest.substr(0, at);
        const auto colon = userinfo.find(':');
        if (colon != std::string_view::npos) out.secrets.emplace_back(userinfo.substr(colon + 1));
        out.text += userinfo.substr(0, colon);
        rest = rest.substr(at);
    }
    out.text += rest;
    std::string kept;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (istarts_with(item, "password=")) {
            out.secrets.emplace_back(item.substr(9));
            continue;
        }
        kept += (kept.empty() ? "" : "&") + std::string(item);
    }
    if (!kept.empty()) out.text += "?" + kept;
    return out;
}

/// `host=h password='a b' dbname=d` -> `host=h dbname=d`; nullopt when it does not parse.
std::optional<redacted_conninfo> redact_keywords(std::string_view s) {
    redacted_conninfo out;
    std::size_t i = 0;
    auto skip_space = [&] {
        while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    };
    for (skip_space(); i < s.size(); skip_space()) {
        const auto start = i;
        while (i < s.size() && s[i] != '=' && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
        const std::string_view key = s.substr(start, i - start);
        skip_space();
        if (i >= s.size() || s[i] != '=') return std::nullopt;
        ++i;
        skip_space();
        const auto value_start = i;
        const bool quoted = i < s.size() && s[i] == '\'';
        if (quoted) ++i;
        while (i < s.size() && (quoted ? s[i] != '\'' : !std::isspace(static_cast<unsigned char>(s[i]))))
            i += s[i] == '\\' && i + 1 < s.size() ? 2 : 1;
        if (quoted) {
            if (i >= s.size()) return std::nullopt;
            ++i;
        }
        if (iequals(key, "password")) {
            out.secrets.emplace_back(s.substr(value_start, i - value_start));
            continue;
        }
        out.text += (out.text.empty() ? "" : " ") + std::string(s.substr(start, i - start));
    }
    return out;
}

redacted_conninfo redact(std::string_view conninfo) {
    if (conninfo.starts_with("postgresql://") || conninfo.starts_with("postgres://")) return redact_url(conninfo);
    if (conninfo.find('=') == std::string_view::npos) return {std::string(conninfo), {}}; // a database name
    if (auto r = redact_keywords(conninfo)) return std::move(*r);
    // Unparsable: libpq will refuse it too. Show none of it rather than guess where a password is.
    return {"(an unparsable connection string)", {std::string(conninfo)}};
}

/// libpq's message on one line, with any of `secrets` blanked: a malformed conninfo can make
/// libpq quote the token it choked on, and that token may be part of a password.
std::string one_line(std::string_view msg, const std::vector<std::string>& secrets = {}) {
    std::string text(msg);
    for (const auto& secret : secrets) { // before the spaces are folded, which could split a match
        if (secret.empty()) continue;
        for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3))
            text.replace(at, secret.size(), "***");
    }
    std::string out;
    bool gap = false;
    for (const char c : trim(text)) {
        if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
            gap = !out.empty();
            continue;
        }
        if (gap) out += ' ';
        gap = false;
        out += c;
    }
    return sanitized(out, 400);
}

// --- text PostgreSQL accepts ---

/// The length of the valid UTF-8 sequence at `s[i]`, or 0. NUL counts as invalid: PostgreSQL
/// text cannot hold it.
std::size_t utf8_length(std::string_view s, std::size_t i) {
    const auto byte = [&](std::size_t k) -> unsigned { return k < s.size() ? static_cast<unsigned char>(s[k]) : 0; };
    const unsigned c = byte(i);
    if (c == 0 || c < 0x80) return c == 0 ? 0 : 1;
    // RFC 3629: the lead byte gives the length; the second byte's range rules out overlong forms,
    // surrogates and code points past U+10FFFF.
    const std::size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    const unsigned lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
    const unsigned hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
    if (c < 0xC2 || c > 0xF4 || byte(i + 1) < lo || byte(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < n; ++k)
        if ((byte(i + k) & 0xC0) != 0x80) return 0;
    return n;
}

/// SQLite keeps any bytes in TEXT; PostgreSQL refuses invalid UTF-8 and NUL, and would fail the
/// whole statement. Such bytes (an odd request path in an audit batch) become U+FFFD instead.
std::string utf8_text(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        const auto n = utf8_length(s, i);
        out += n == 0 ? std::string_view("\xEF\xBF\xBD") : s.substr(i, n);
        i += n == 0 ? 1 : n;
    }
    return out;
}

} // namespace

namespace pg_detail {

/// One statement parameter, sent as text except BYTEA (binary: sealed secrets go as raw bytes,
/// never through an escaping step).
struct param {
    param(const std::string& s) : value(utf8_text(s)) {}
    param(std::string_view s) : value(utf8_text(s)) {}
    param(const char* s) : value(utf8_text(s)) {}
    param(std::int64_t n) : value(std::to_string(n)) {}
    param(int n) : value(std::to_string(n)) {}
    param(std::string v, bool is_binary, bool null_value) : value(std::move(v)), binary(is_binary), is_null(null_value) {}
    static param boolean(bool b) { return {b ? "true" : "false"}; }
    static param bytea(std::string bytes) { return {std::move(bytes), true, false}; }
    static param null(bool is_bytea = false) { return {std::string(), is_bytea, true}; }

    std::string value;
    bool binary = false;
    bool is_null = false;
};

/// Owns a PGresult; values read as text (the default result format).
class result {
public:
    explicit result(PGresult* r) : r_(r) {}
    ~result() { PQclear(r_); }
    result(result&& other) noexcept : r_(std::exchange(other.r_, nullptr)) {}
    result(const result&) = delete;
    result& operator=(const result&) = delete;
    result& operator=(result&&) = delete;

    [[nodiscard]] int rows() const { return PQntuples(r_); }
    [[nodiscard]] bool empty() const { return rows() == 0; }
    [[nodiscard]] bool is_null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
    [[nodiscard]] std::string text(int row, int col) const {
        return {PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col))};
    }
    [[nodiscard]] bool boolean(int row, int col) const { return text(row, col) == "t"; }
    [[nodiscard]] std::int64_t int64(int row, int col) const { return number(PQgetvalue(r_, row, col), col); }
    /// A BYTEA column, decoded from its text form (hex). Empty when NULL.
    [[nodiscard]] std::string bytes(int row, int col) const {
        if (is_null(row, col)) return {};
        std::size_t n = 0;
        const auto* escaped = reinterpret_cast<const unsigned char*>(PQgetvalue(r_, row, col));
        std::unique_ptr<unsigned char, decltype(&PQfreemem)> raw{PQunescapeBytea(escaped, &n), &PQfreemem};
        if (!raw) throw store_error("cannot decode the BYTEA column " + quote(PQfname(r_, col)) + " (out of memory)");
        return {reinterpret_cast<const char*>(raw.get()), n};
    }
    [[nodiscard]] const PGresult* get() const { return r_; }
    /// Rows an INSERT, UPDATE or DELETE touched.
    [[nodiscard]] std::int64_t affected() const { return number(PQcmdTuples(r_), -1); }

private:
    [[nodiscard]] std::int64_t number(const char* s, int col) const {
        const std::string_view v(s);
        std::int64_t n = 0;
        const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec != std::errc{} || end != v.data() + v.size())
            throw store_error("PostgreSQL returned " + quote(v) + " where a number was expected" +
                              (col >= 0 ? " (column " + quote(PQfname(r_, col)) + ")" : std::string()));
        return n;
    }

    PGresult* r_;
};

/// The connection plus the name messages use. Every failure becomes a `store_error` naming the
/// store and the server's primary message: never its DETAIL, which can echo row values.
class session {
public:
    session(PGconn* conn, const std::string& where) : conn_(conn), where_(&where) {}

    result exec(const std::string& sql, std::initializer_list<param> params = {}) const {
        return run(sql, std::span<const param>(params.begin(), params.size()));
    }
    result exec(const std::string& sql, const std::vector<param>& params) const { return run(sql, params); }
    /// Several statements, no parameters (the schema).
    void script(const char* sql) const { (void)check(result{PQexec(conn_, sql)}); }
    [[nodiscard]] PGconn* conn() const { return conn_; }

private:
    result run(const std::string& sql, std::span<const param> params) const {
        std::vector<const char*> values;
        std::vector<int> lengths, formats;
        std::vector<Oid> types;
        for (const auto& p : params) {
            values.push_back(p.is_null ? nullptr : p.value.data());
            lengths.push_back(static_cast<int>(p.value.size()));
            formats.push_back(p.binary ? 1 : 0);
            types.push_back(p.binary ? bytea_oid : 0); // 0: the server infers it from the column
        }
        return check(result{PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), types.data(),
                                         values.data(), lengths.data(), formats.data(), 0)});
    }

    result check(result r) const {
        const PGresult* raw = r.get(); // null only when libpq ran out of memory or lost the connection
        const auto status = raw ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return r;
        const char* primary = raw ? PQresultErrorField(raw, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
        throw store_error(named(*where_) + " failed: " + one_line(primary ? primary : PQerrorMessage(conn_)));
    }

    PGconn* conn_;
    const std::string* where_;
};

} // namespace pg_detail

namespace {

using pg_detail::param;
using pg_detail::result;
using pg_detail::session;

/// BEGIN ... COMMIT, rolled back when left without `commit()` (an exception on the way).
class transaction {
public:
    explicit transaction(const session& s) : s_(s) { (void)s_.exec("BEGIN"); }
    ~transaction() {
        if (!done_) PQclear(PQexec(s_.conn(), "ROLLBACK")); // best effort: a lost connection rolls back anyway
    }
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;
    void commit() {
        (void)s_.exec("COMMIT");
        done_ = true;
    }

private:
    const session& s_;
    bool done_ = false;
};

/// Inside a write transaction: the user's row is share-locked until commit, so a concurrent
/// `remove_user` waits instead of leaving a credential without its user.
void require_user(const session& s, const std::string& name) {
    if (s.exec(R"sql(SELECT 1 FROM users WHERE name = $1 FOR KEY SHARE)sql", {name}).empty())
        throw store_error("user " + quote(name) + " does not exist");
}

/// The next revision from the store-wide counter; call inside the write transaction.
std::int64_t next_revision(const session& s) {
    return s.exec("UPDATE counters SET value = value + 1 WHERE name = 'revision' RETURNING value").int64(0, 0);
}

/// "$first, ..., $(first+n-1)" in parentheses.
std::string placeholders(std::size_t first, std::size_t n) {
    std::string out = "(";
    for (std::size_t i = 0; i < n; ++i) out += (i ? ", $" : "$") + std::to_string(first + i);
    return out + ")";
}

/// Appends ` AND <column> = $n` with its parameter when the filter field is set.
void filter_on(std::string& sql, std::vector<param>& params, const char* column,
               const std::optional<std::string>& value) {
    if (!value) return;
    params.emplace_back(*value);
    sql += std::string(" AND ") + column + " = $" + std::to_string(params.size());
}

/// Columns selected for an `ecf_login`, in the order `read_ecf` expects.
constexpr std::string_view ecf_columns = "court, login, password, revision, state, state_detail";

ecf_login read_ecf(const result& r, int row, const std::string& user, const secret_box& box,
                   const std::string& where, secrets mode) {
    ecf_login out;
    out.user = user;
    out.court = r.text(row, 0);
    out.login = r.text(row, 1);
    const std::string what = "user " + quote(user) + " at " + quote(out.court);
    if (mode == secrets::opened)
        out.password = unseal(box, where, r.bytes(row, 2), ecf_password_context(user, out.court),
                              "the CM/ECF password of " + what);
    out.revision = r.int64(row, 3);
    out.state = parse_state(r.text(row, 4), "the CM/ECF login of " + what);
    out.state_detail = r.text(row, 5);
    return out;
}

constexpr std::string_view fee_columns =
    R"sql(at, "user", court, login, client_code, description, criteria, pages, cents, quote, estimated, path)sql";

fees::entry read_fee(const result& r, int i) {
    return {r.int64(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.text(i, 4), r.text(i, 5), r.text(i, 6),
            static_cast<int>(r.int64(i, 7)), r.int64(i, 8), r.boolean(i, 9), r.boolean(i, 10), r.text(i, 11)};
}

constexpr std::string_view audit_columns =
    R"sql(at, "user", court, route, login, client_code, method, path, status, bytes, ms)sql";

audit_record read_audit(const result& r, int i) {
    return {r.int64(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.text(i, 4), r.text(i, 5), r.text(i, 6),
            r.text(i, 7), static_cast<int>(r.int64(i, 8)), r.int64(i, 9), r.int64(i, 10)};
}

/// A ledger line's or an audit record's parameters, in `fee_columns` / `audit_columns` order.
void fee_values(std::vector<param>& out, const fees::entry& e) {
    out.insert(out.end(), {e.at, e.user, e.court, e.login, e.client_code, e.description, e.criteria, e.pages, e.cents,
                           param::boolean(e.quote), param::boolean(e.estimated), e.path});
}
void audit_values(std::vector<param>& out, const audit_record& r) {
    out.insert(out.end(), {r.at, r.user, r.court, r.route, r.login, r.client_code, r.method, r.path, r.status, r.bytes,
                           r.ms});
}

/// INSERTs `rows` into `table (columns)`, `insert_chunk` rows a statement; `values` appends one
/// row's parameters.
template <class Row, class Values>
void insert_rows(const session& s, std::string_view table, std::string_view columns, const std::vector<Row>& rows,
                 Values values) {
    for (std::size_t first = 0; first < rows.size(); first += insert_chunk) {
        const auto n = std::min(insert_chunk, rows.size() - first);
        std::string sql = "INSERT INTO " + std::string(table) + " (" + std::string(columns) + ") VALUES ";
        std::vector<param> params;
        for (std::size_t i = 0; i < n; ++i) {
            const auto before = params.size();
            values(params, rows[first + i]);
            sql += (i ? ", " : "") + placeholders(before + 1, params.size() - before);
        }
        (void)s.exec(sql, params);
    }
}

std::string lock_timeout_text(std::int64_t ms) { return std::to_string(ms) + "ms"; }

} // namespace

std::string pg_store::redact_conninfo(std::string_view conninfo) { return redact(conninfo).text; }

pg_store::pg_store(const std::string& conninfo, const std::string& password, secret_box box)
    : box_(box) {
    auto hidden = redact(conninfo);
    where_ = std::move(hidden.text);
    hidden.secrets.push_back(password);
    // libpq applies keywords in order, a later one overriding: connect_timeout comes before the
    // expanded `dbname` (a default the URL may override), the password and the rest after it.
    // An empty password is skipped by libpq, leaving the URL's, PGPASSWORD or ~/.pgpass.
    const char* const keys[] = {"connect_timeout", "dbname", "password", "application_name", "client_encoding",
                                nullptr};
    const char* const values[] = {"5", conninfo.c_str(), password.c_str(), "courtroute", "UTF8", nullptr};
    conn_ = PQconnectdbParams(keys, values, 1);
    if (!conn_) throw store_error("cannot connect to " + named(where_) + ": out of memory");
    try {
        if (PQstatus(conn_) != CONNECTION_OK)
            throw store_error("cannot connect to " + named(where_) + ": " +
                              one_line(PQerrorMessage(conn_), hidden.secrets));
        // Server NOTICEs would go to stderr unformatted; nothing the store runs needs them.
        PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
        set_busy_timeout(busy_timeout);
        migrate();
    } catch (...) {
        PQfinish(conn_);
        throw;
    }
}

pg_store::~pg_store() { PQfinish(conn_); }

session pg_store::db() const {
    if (PQstatus(conn_) == CONNECTION_BAD) {
        // The last statement failed because the server went away; this one gets a new connection.
        PQreset(conn_);
        if (PQstatus(conn_) != CONNECTION_OK)
            throw store_error("lost the connection to " + named(where_) +
                              " and cannot reconnect: " + one_line(PQerrorMessage(conn_)));
        (void)session(conn_, where_).exec("SELECT set_config('lock_timeout', $1, false)",
                                          {lock_timeout_text(lock_timeout_ms_)});
    }
    return {conn_, where_};
}

void pg_store::migrate() {
    const auto s = db();
    transaction tx(s);
    (void)s.exec("SELECT pg_advisory_xact_lock($1)", {migration_lock});
    // Looked up rather than CREATE TABLE IF NOT EXISTS: a role without CREATE rights can open a
    // current store.
    std::int64_t v = 0; // none: an empty database
    if (s.exec("SELECT to_regclass('courtroute_meta') IS NOT NULL").boolean(0, 0)) {
        const auto r = s.exec("SELECT value FROM courtroute_meta WHERE name = 'schema_version'");
        v = r.empty() ? -1 : r.int64(0, 0);
    }
    if (v > schema_version)
        throw store_error("database " + quote(where_, 200) + " has schema version " + std::to_string(v) +
                          ", newer than this courtroute understands (" + std::to_string(schema_version) +
                          "); upgrade courtroute");
    if (v == schema_version) return; // current: the transaction rolls back, having changed nothing
    if (v != 0)
        throw store_error("database " + quote(where_, 200) + " has an invalid schema version " + std::to_string(v));
    s.script(schema_v5);
    (void)s.exec("INSERT INTO courtroute_meta (name, value) VALUES ('schema_version', $1)", {schema_version});
    tx.commit();
}

// --- users ---

std::string pg_store::add_user(const std::string& name) {
    check_user_name(name);
    std::string token = new_token();
    const auto r = db().exec(R"sql(INSERT INTO users (name, token_hash, created_at) VALUES ($1, $2, $3)
                                   ON CONFLICT (name) DO NOTHING)sql",
                             {name, token_hash(token), unix_now()});
    if (r.affected() == 0) throw store_error("user " + quote(name) + " already exists");
    return token;
}

std::string pg_store::rotate_user(const std::string& name) {
    check_user_name(name);
    std::string token = new_token();
    if (db().exec("UPDATE users SET token_hash = $1 WHERE name = $2", {token_hash(token), name}).affected() == 0)
        throw store_error("user " + quote(name) + " does not exist");
    return token;
}

void pg_store::remove_user(const std::string& name) {
    check_user_name(name);
    // Credentials, links and observations go with it (ON DELETE CASCADE), in this one statement.
    if (db().exec("DELETE FROM users WHERE name = $1", {name}).affected() == 0)
        throw store_error("user " + quote(name) + " does not exist");
}

std::vector<user_info> pg_store::users() const {
    // COLLATE "C": byte order, as SQLite sorts, whatever the database's locale.
    const auto r = db().exec(R"sql(SELECT name, created_at FROM users ORDER BY name COLLATE "C")sql");
    std::vector<user_info> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), r.int64(i, 1)});
    return out;
}

bool pg_store::has_user(const std::string& name) const {
    if (!valid_user_name(name)) return false;
    return !db().exec("SELECT 1 FROM users WHERE name = $1", {name}).empty();
}

std::optional<std::string> pg_store::user_for_token(std::string_view token) const {
    if (token.empty()) return std::nullopt;
    // Lookup by hash: the clear token is never stored, and equality on a hash of a high-entropy
    // token leaks nothing useful through timing.
    const auto r = db().exec("SELECT name FROM users WHERE token_hash = $1", {token_hash(token)});
    if (r.empty()) return std::nullopt;
    return r.text(0, 0);
}

// --- PACER login ---

void pg_store::set_pacer(const pacer_login& login) {
    check_pacer_login(login);
    std::string password = box_.seal(login.password, pacer_password_context(login.user));
    std::string totp =
        login.totp_secret.empty() ? std::string() : box_.seal(login.totp_secret, pacer_totp_context(login.user));
    const auto s = db();
    transaction tx(s);
    require_user(s, login.user);
    const std::int64_t revision = next_revision(s);
    (void)s.exec(R"sql(
        INSERT INTO pacer_logins ("user", login, password, client_code, shared, totp_secret, state,
                                  state_detail, password_set_at, revision)
        VALUES ($1, $2, $3, $4, $5, $6, 'active', '', $7, $8)
        ON CONFLICT ("user") DO UPDATE SET
            login = excluded.login, password = excluded.password, client_code = excluded.client_code,
            shared = excluded.shared, totp_secret = excluded.totp_secret, state = 'active',
            state_detail = '', password_set_at = excluded.password_set_at, revision = excluded.revision
    )sql",
                 {login.user, login.login, param::bytea(std::move(password)), login.client_code,
                  param::boolean(login.shared), totp.empty() ? param::null(true) : param::bytea(std::move(totp)),
                  login.password_set_at > 0 ? login.password_set_at : unix_now(), revision});
    tx.commit();
}

std::optional<pacer_login> pg_store::pacer(const std::string& user, secrets mode) const {
    check_user_name(user);
    const auto r = db().exec(R"sql(
        SELECT login, password, client_code, shared, totp_secret, revision, state, state_detail, password_set_at
        FROM pacer_logins WHERE "user" = $1
    )sql",
                             {user});
    if (r.empty()) return std::nullopt;
    pacer_login out;
    out.user = user;
    out.login = r.text(0, 0);
    if (mode == secrets::opened)
        out.password = unseal(box_, where_, r.bytes(0, 1), pacer_password_context(user),
                              "the PACER password of user " + quote(user));
    out.client_code = r.text(0, 2);
    out.shared = r.boolean(0, 3);
    out.has_totp = !r.is_null(0, 4);
    if (out.has_totp && mode == secrets::opened)
        out.totp_secret = unseal(box_, where_, r.bytes(0, 4), pacer_totp_context(user),
                                 "the PACER TOTP secret of user " + quote(user));
    out.revision = r.int64(0, 5);
    out.state = parse_state(r.text(0, 6), "the PACER login of user " + quote(user));
    out.state_detail = r.text(0, 7);
    out.password_set_at = r.int64(0, 8);
    return out;
}

void pg_store::mark_pacer(const std::string& user, std::int64_t revision, credential_state state,
                          const std::string& detail) {
    check_user_name(user);
    // Zero rows: the credential was replaced or removed since; a stale outcome marks nothing.
    (void)db().exec(R"sql(UPDATE pacer_logins SET state = $1, state_detail = $2 WHERE "user" = $3 AND revision = $4)sql",
                    {to_string(state), detail, user, revision});
}

// --- CM/ECF logins ---

void pg_store::set_ecf(const std::string& user, const std::string& court, const std::string& login,
                       const std::string& password) {
    check_ecf_login(user, court, login, password);
    std::string sealed = box_.seal(password, ecf_password_context(user, court));
    const auto s = db();
    transaction tx(s);
    require_user(s, user);
    const std::int64_t revision = next_revision(s);
    (void)s.exec(R"sql(
        INSERT INTO ecf_logins ("user", court, login, password, state, state_detail, password_set_at, revision)
        VALUES ($1, $2, $3, $4, 'active', '', $5, $6)
        ON CONFLICT ("user", court) DO UPDATE SET
            login = excluded.login, password = excluded.password, state = 'active', state_detail = '',
            password_set_at = excluded.password_set_at, revision = excluded.revision
    )sql",
                 {user, court, login, param::bytea(std::move(sealed)), unix_now(), revision});
    tx.commit();
}

std::optional<ecf_login> pg_store::ecf(const std::string& user, const std::string& court, secrets mode) const {
    check_user_name(user);
    check_court(court);
    const auto r = db().exec("SELECT " + std::string(ecf_columns) + R"sql( FROM ecf_logins WHERE "user" = $1 AND court = $2)sql",
                             {user, court});
    if (r.empty()) return std::nullopt;
    return read_ecf(r, 0, user, box_, where_, mode);
}

std::vector<ecf_login> pg_store::ecf_logins(const std::string& user, secrets mode) const {
    check_user_name(user);
    const auto r = db().exec("SELECT " + std::string(ecf_columns) +
                                 R"sql( FROM ecf_logins WHERE "user" = $1 ORDER BY court COLLATE "C")sql",
                             {user});
    std::vector<ecf_login> all;
    for (int i = 0; i < r.rows(); ++i) all.push_back(read_ecf(r, i, user, box_, where_, mode));
    return all;
}

bool pg_store::remove_ecf(const std::string& user, const std::string& court) {
    return delete_user_court(R"sql(DELETE FROM ecf_logins WHERE "user" = $1 AND court = $2)sql", user, court);
}

void pg_store::mark_ecf(const std::string& user, const std::string& court, std::int64_t revision,
                        credential_state state, const std::string& detail) {
    check_user_name(user);
    check_court(court);
    // Zero rows: replaced or removed since; a stale outcome is dropped.
    (void)db().exec(R"sql(UPDATE ecf_logins SET state = $1, state_detail = $2
                          WHERE "user" = $3 AND court = $4 AND revision = $5)sql",
                    {to_string(state), detail, user, court, revision});
}

// --- links ---

void pg_store::record_link(const std::string& user, const std::string& court) {
    check_user_name(user);
    check_court(court);
    const auto s = db();
    transaction tx(s);
    require_user(s, user);
    const auto inserted = s.exec(R"sql(INSERT INTO links ("user", court, linked_at) VALUES ($1, $2, $3)
                                       ON CONFLICT ("user", court) DO NOTHING)sql",
                                 {user, court, unix_now()});
    if (inserted.affected() == 0)
        throw store_error("a link is already recorded for " + quote(user) + " at " + quote(court));
    // After linking, the court-issued login no longer works: keep no dead secret around.
    (void)s.exec(R"sql(DELETE FROM ecf_logins WHERE "user" = $1 AND court = $2)sql", {user, court});
    tx.commit();
}

bool pg_store::remove_link(const std::string& user, const std::string& court) {
    return delete_user_court(R"sql(DELETE FROM links WHERE "user" = $1 AND court = $2)sql", user, court);
}

bool pg_store::delete_user_court(const char* sql, const std::string& user, const std::string& court) {
    check_user_name(user);
    check_court(court);
    return db().exec(sql, {user, court}).affected() > 0;
}

bool pg_store::linked(const std::string& user, const std::string& court) const {
    check_user_name(user);
    check_court(court);
    return !db().exec(R"sql(SELECT 1 FROM links WHERE "user" = $1 AND court = $2)sql", {user, court}).empty();
}

std::vector<link_info> pg_store::links(const std::string& user) const {
    check_user_name(user);
    const auto r =
        db().exec(R"sql(SELECT court, linked_at FROM links WHERE "user" = $1 ORDER BY court COLLATE "C")sql", {user});
    std::vector<link_info> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back({user, r.text(i, 0), r.int64(i, 1)});
    return out;
}

void pg_store::record_observation(const std::string& user, const std::string& court, bool filing_menus,
                                  std::int64_t observed_at, std::string_view source) {
    check_user_name(user);
    check_court(court);
    const auto s = db();
    transaction tx(s);
    require_user(s, user);
    (void)s.exec(R"sql(
        INSERT INTO link_observations ("user", court, filing_menus, observed_at, source) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT ("user", court) DO UPDATE SET
            filing_menus = excluded.filing_menus, observed_at = excluded.observed_at, source = excluded.source
    )sql",
                 {user, court, param::boolean(filing_menus), observed_at, source});
    tx.commit();
}

std::vector<link_observation> pg_store::observations(const std::string& user) const {
    check_user_name(user);
    const auto r = db().exec(R"sql(SELECT court, filing_menus, observed_at, source FROM link_observations
                                   WHERE "user" = $1 ORDER BY court COLLATE "C")sql",
                             {user});
    std::vector<link_observation> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), r.boolean(i, 1), r.int64(i, 2), r.text(i, 3)});
    return out;
}

// --- connection settings ---

void pg_store::set_busy_timeout(std::chrono::milliseconds wait) {
    // PostgreSQL's lock_timeout 0 waits forever; the store's 0 means "fail at once": 1 ms.
    const std::int64_t ms = std::max<std::int64_t>(wait.count(), 1);
    (void)db().exec("SELECT set_config('lock_timeout', $1, false)", {lock_timeout_text(ms)});
    lock_timeout_ms_ = ms;
}

std::int64_t pg_store::data_version() const {
    return db().exec("SELECT version FROM courtroute_changes WHERE id = 1").int64(0, 0);
}

void pg_store::sync_at_checkpoints_only() {
    // Deliberately nothing. SQLite's NORMAL sync loses only this machine's last commits to a power
    // cut. Here the server flushes its WAL once for all clients' concurrent commits (group commit),
    // so a commit costs little more than the round trip, and `synchronous_commit = off` would let a
    // server crash lose writes already reported done (fees, marks) for every daemon at once.
}

// --- fee ledger ---

void pg_store::record_fee(const fees::entry& e) {
    std::vector<param> params;
    fee_values(params, e);
    (void)db().exec("INSERT INTO fee_entries (" + std::string(fee_columns) + ") VALUES " + placeholders(1, params.size()),
                    params);
}

std::optional<std::int64_t> pg_store::charge_quote(const std::string& user, const std::string& court,
                                                   const std::string& path, std::int64_t at) {
    // One statement: the latest quote is locked, re-checked and turned into a charge atomically,
    // so two daemons fetching the same PDF charge it once.
    const auto r = db().exec(R"sql(
        UPDATE fee_entries SET quote = FALSE, at = $4
        WHERE quote AND id = (SELECT id FROM fee_entries WHERE quote AND "user" = $1 AND court = $2 AND path = $3
                              ORDER BY id DESC LIMIT 1 FOR UPDATE)
        RETURNING cents
    )sql",
                             {user, court, path, at});
    if (r.empty()) return std::nullopt;
    return r.int64(0, 0);
}

std::optional<std::int64_t> pg_store::latest_quote(const std::string& user, const std::string& court,
                                                   const std::string& path) const {
    const auto r = db().exec(R"sql(SELECT cents FROM fee_entries WHERE quote AND "user" = $1 AND court = $2
                                   AND path = $3 ORDER BY id DESC LIMIT 1)sql",
                             {user, court, path});
    if (r.empty()) return std::nullopt;
    return r.int64(0, 0);
}

std::vector<fees::entry> pg_store::fee_entries(const fee_filter& f) const {
    std::vector<param> params{f.since, f.until};
    std::string sql = "SELECT " + std::string(fee_columns) + " FROM fee_entries WHERE at >= $1 AND at < $2";
    filter_on(sql, params, R"("user")", f.user);
    filter_on(sql, params, "client_code", f.client_code);
    filter_on(sql, params, "court", f.court);
    const auto r = db().exec(sql + " ORDER BY at, id", params);
    std::vector<fees::entry> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(read_fee(r, i));
    return out;
}

// --- audit trail ---

void pg_store::append_audit(const std::vector<audit_record>& rows) {
    if (rows.empty()) return;
    const auto s = db();
    transaction tx(s);
    insert_rows(s, "audit", audit_columns, rows, audit_values);
    tx.commit();
}

std::vector<audit_record> pg_store::audit_records(const audit_filter& f) const {
    std::vector<param> params{f.since};
    std::string sql = "SELECT " + std::string(audit_columns) + " FROM audit WHERE at >= $1";
    filter_on(sql, params, R"("user")", f.user);
    filter_on(sql, params, "court", f.court);
    const auto r = db().exec(sql + " ORDER BY at, id", params);
    std::vector<audit_record> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(read_audit(r, i));
    return out;
}

std::int64_t pg_store::prune_audit(std::int64_t before, int limit) {
    // A negative limit means none, as in SQLite (PostgreSQL refuses one; LIMIT NULL is LIMIT ALL).
    return db()
        .exec("DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < $1 ORDER BY id LIMIT $2)",
              {before, limit < 0 ? param::null() : param(limit)})
        .affected();
}

// --- moving a whole store ---

store::dump pg_store::export_all() const {
    const auto s = db();
    transaction tx(s);
    // One snapshot of every table, whatever the daemons write meanwhile.
    (void)s.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    const auto for_each_row = [&](const std::string& sql, auto f) {
        const auto r = s.exec(sql);
        for (int i = 0; i < r.rows(); ++i) f(r, i);
    };
    dump d;
    for_each_row(R"sql(SELECT name, token_hash, created_at FROM users ORDER BY name COLLATE "C")sql",
                 [&](const result& r, int i) { d.users.push_back({r.text(i, 0), r.text(i, 1), r.int64(i, 2)}); });
    for_each_row(R"sql(SELECT "user", login, password, client_code, shared, totp_secret, state, state_detail, revision,
                              password_set_at FROM pacer_logins ORDER BY "user" COLLATE "C")sql",
                 [&](const result& r, int i) {
                     d.pacer.push_back({r.text(i, 0), r.text(i, 1), r.bytes(i, 2), r.text(i, 3), r.boolean(i, 4),
                                        r.bytes(i, 5),
                                        parse_state(r.text(i, 6), "the PACER login of user " + quote(r.text(i, 0))),
                                        r.text(i, 7), r.int64(i, 8), r.int64(i, 9)});
                 });
    for_each_row(R"sql(SELECT "user", court, login, password, state, state_detail, revision, password_set_at
                       FROM ecf_logins ORDER BY "user" COLLATE "C", court COLLATE "C")sql",
                 [&](const result& r, int i) {
                     d.ecf.push_back({r.text(i, 0), r.text(i, 1), r.text(i, 2), r.bytes(i, 3),
                                      parse_state(r.text(i, 4), "the CM/ECF login of user " + quote(r.text(i, 0)) +
                                                                    " at " + quote(r.text(i, 1))),
                                      r.text(i, 5), r.int64(i, 6), r.int64(i, 7)});
                 });
    for_each_row(R"sql(SELECT "user", court, linked_at FROM links ORDER BY "user" COLLATE "C", court COLLATE "C")sql",
                 [&](const result& r, int i) { d.links.push_back({r.text(i, 0), r.text(i, 1), r.int64(i, 2)}); });
    for_each_row(R"sql(SELECT "user", court, filing_menus, observed_at, source FROM link_observations
                       ORDER BY "user" COLLATE "C", court COLLATE "C")sql",
                 [&](const result& r, int i) {
                     d.observations.push_back(
                         {r.text(i, 0), {r.text(i, 1), r.boolean(i, 2), r.int64(i, 3), r.text(i, 4)}});
                 });
    // By id: the order they were written in, which `latest_quote` relies on.
    for_each_row("SELECT " + std::string(fee_columns) + " FROM fee_entries ORDER BY id",
                 [&](const result& r, int i) { d.fees.push_back(read_fee(r, i)); });
    for_each_row("SELECT " + std::string(audit_columns) + " FROM audit ORDER BY id",
                 [&](const result& r, int i) { d.audit.push_back(read_audit(r, i)); });
    d.revision_counter = s.exec("SELECT value FROM counters WHERE name = 'revision'").int64(0, 0);
    tx.commit();
    return d;
}

void pg_store::import_all(const dump& d) {
    const auto s = db();
    transaction tx(s);
    // Two copies into the same new store queue here; the second then finds it not empty.
    (void)s.exec("SELECT pg_advisory_xact_lock($1)", {migration_lock});
    // Nothing is merged: the ledger and the trail outlive their users, so they count too.
    const auto held = s.exec("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM fee_entries), "
                             "(SELECT count(*) FROM audit)");
    if (held.int64(0, 0) + held.int64(0, 1) + held.int64(0, 2) > 0)
        throw store_error(named(where_) + " is not empty (users: " + held.text(0, 0) + ", fee entries: " +
                          held.text(0, 1) + ", audit records: " + held.text(0, 2) + "): copy only into a new store");
    insert_rows(s, "users", "name, token_hash, created_at", d.users,
                [](std::vector<param>& out, const dump::user_row& u) {
                    out.insert(out.end(), {u.name, u.token_hash, u.created_at});
                });
    insert_rows(s, "pacer_logins",
                R"sql("user", login, password, client_code, shared, totp_secret, state, state_detail, revision,
                      password_set_at)sql",
                d.pacer, [](std::vector<param>& out, const dump::pacer_row& p) {
                    out.insert(out.end(), {p.user, p.login, param::bytea(p.password), p.client_code,
                                           param::boolean(p.shared),
                                           p.totp_secret.empty() ? param::null(true) : param::bytea(p.totp_secret),
                                           to_string(p.state), p.state_detail, p.revision, p.password_set_at});
                });
    insert_rows(s, "ecf_logins", R"sql("user", court, login, password, state, state_detail, revision, password_set_at)sql",
                d.ecf, [](std::vector<param>& out, const dump::ecf_row& e) {
                    out.insert(out.end(), {e.user, e.court, e.login, param::bytea(e.password), to_string(e.state),
                                           e.state_detail, e.revision, e.password_set_at});
                });
    insert_rows(s, "links", R"sql("user", court, linked_at)sql", d.links,
                [](std::vector<param>& out, const link_info& l) {
                    out.insert(out.end(), {l.user, l.court, l.linked_at});
                });
    insert_rows(s, "link_observations", R"sql("user", court, filing_menus, observed_at, source)sql", d.observations,
                [](std::vector<param>& out, const dump::observation_row& o) {
                    out.insert(out.end(), {o.user, o.seen.court, param::boolean(o.seen.filing_menus),
                                           o.seen.observed_at, o.seen.source});
                });
    insert_rows(s, "fee_entries", fee_columns, d.fees, fee_values);
    insert_rows(s, "audit", audit_columns, d.audit, audit_values);
    (void)s.exec("UPDATE counters SET value = GREATEST(value, $1) WHERE name = 'revision'", {d.highest_revision()});
    tx.commit();
}

// --- shared PACER sessions and the firm-wide login lease ---

namespace {

std::string pacer_session_context(const std::string& user, const std::string& client_code) {
    return "pacer.session:" + user + ":" + client_code;
}

/// The advisory lock key of a lease name: 63 bits of its SHA-256 (collisions only serialise two
/// logins that did not need it).
std::int64_t lease_key(std::string_view name) {
    auto digest = sha256(name);
    std::uint64_t k = 0;
    for (int i = 0; i < 8; ++i) k = (k << 8) | static_cast<unsigned char>(digest[static_cast<std::size_t>(i)]);
    return static_cast<std::int64_t>(k >> 1);
}

} // namespace

std::optional<store::shared_session> pg_store::pacer_session(const std::string& user, const std::string& client_code,
                                                             std::int64_t revision, std::int64_t now) {
    const auto s = db();
    auto r = s.exec(R"sql(SELECT token, expires_at FROM pacer_sessions
                          WHERE "user" = $1 AND client_code = $2 AND revision = $3 AND expires_at > $4)sql",
                    {user, client_code, revision, now});
    if (r.empty()) return std::nullopt;
    return shared_session{unseal(box_, where_, r.bytes(0, 0), pacer_session_context(user, client_code),
                                 "the shared PACER session of user " + quote(user)),
                          r.int64(0, 1)};
}

void pg_store::put_pacer_session(const std::string& user, const std::string& client_code, std::int64_t revision,
                                 const std::string& token, std::int64_t expires_at) {
    std::string sealed = box_.seal(token, pacer_session_context(user, client_code));
    const auto s = db();
    (void)s.exec(R"sql(
        INSERT INTO pacer_sessions ("user", client_code, revision, token, expires_at)
        SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM users WHERE name = $1)
        ON CONFLICT ("user", client_code) DO UPDATE SET
            revision = excluded.revision, token = excluded.token, expires_at = excluded.expires_at
    )sql",
                 {user, client_code, revision, param::bytea(std::move(sealed)), expires_at});
}

void pg_store::drop_pacer_session(const std::string& user, const std::string& client_code, const std::string& token) {
    const auto s = db();
    auto r = s.exec(R"sql(SELECT token FROM pacer_sessions WHERE "user" = $1 AND client_code = $2)sql",
                    {user, client_code});
    if (r.empty()) return;
    // Only the session the court refused: another daemon may already have published a new one.
    auto held = box_.open(r.bytes(0, 0), pacer_session_context(user, client_code));
    if (held && *held != token) return;
    (void)s.exec(R"sql(DELETE FROM pacer_sessions WHERE "user" = $1 AND client_code = $2)sql", {user, client_code});
}

bool pg_store::try_login_lease(std::string_view key) {
    const auto s = db();
    return s.exec("SELECT pg_try_advisory_lock($1)", {lease_key(key)}).boolean(0, 0);
}

void pg_store::release_login_lease(std::string_view key) {
    const auto s = db();
    (void)s.exec("SELECT pg_advisory_unlock($1)", {lease_key(key)});
}

// --- LISTEN courtroute_changes ---

namespace {

/// A second connection, made with the store's own parameters (PQconninfo: the password too,
/// never written anywhere), that LISTENs on the channel the change triggers notify.
class pg_change_feed final : public store::change_feed {
public:
    pg_change_feed(pg_conn* like, std::string where) : where_(std::move(where)) {
        std::vector<const char*> keys, values;
        std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> opts{PQconninfo(like), &PQconninfoFree};
        for (auto* o = opts.get(); o && o->keyword; ++o) {
            if (!o->val) continue;
            keys.push_back(o->keyword);
            values.push_back(o->val);
        }
        keys.push_back(nullptr);
        values.push_back(nullptr);
        conn_ = PQconnectdbParams(keys.data(), values.data(), 0);
        if (!conn_ || PQstatus(conn_) != CONNECTION_OK || !listen()) {
            std::string why = conn_ ? one_line(PQerrorMessage(conn_)) : "out of memory";
            if (conn_) PQfinish(conn_);
            throw store_error("cannot listen for changes at " + named(where_) + ": " + why);
        }
        PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
    }
    ~pg_change_feed() override { PQfinish(conn_); }
    pg_change_feed(const pg_change_feed&) = delete;
    pg_change_feed& operator=(const pg_change_feed&) = delete;

    bool wait(std::chrono::milliseconds wait) override {
        if (PQstatus(conn_) != CONNECTION_OK) {
            // The server went away: try again now and then; once back, whatever changed counts.
            std::this_thread::sleep_for(wait);
            PQreset(conn_);
            return PQstatus(conn_) == CONNECTION_OK && listen();
        }
        if (drain()) return true;
        pollfd pfd{PQsocket(conn_), POLLIN, 0};
        if (pfd.fd < 0) return false;
        if (::poll(&pfd, 1, static_cast<int>(wait.count())) <= 0) return false;
        return drain();
    }

private:
    bool listen() {
        PGresult* r = PQexec(conn_, "LISTEN courtroute_changes");
        bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        return ok;
    }
    /// Reads what arrived; true when it held a notification (or the connection broke).
    bool drain() {
        if (!PQconsumeInput(conn_)) return true;
        bool any = false;
        while (PGnotify* n = PQnotifies(conn_)) {
            any = true;
            PQfreemem(n);
        }
        return any;
    }

    pg_conn* conn_ = nullptr;
    std::string where_;
};

} // namespace

std::unique_ptr<store::change_feed> pg_store::changes() const {
    return std::make_unique<pg_change_feed>(conn_, where_);
}

} // namespace courtroute
