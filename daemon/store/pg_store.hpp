#pragma once
/// The firm-wide store (PostgreSQL via libpq): one database shared by several daemons and CLIs.
/// It behaves like sqlite_store method for method: the same checks and messages, the same
/// sealing of secrets (`secret_box`, same contexts), tokens kept as SHA-256 hex only.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "store/store.hpp"

struct pg_conn; // libpq's PGconn; libpq-fe.h stays out of this header

namespace courtroute {

namespace pg_detail {
class session; // a checked handle on the connection (pg_store.cpp)
}

class pg_store final : public store {
public:
    /// Connects with libpq `conninfo` (a postgresql:// URL or key=value string; the password is
    /// passed separately, never inside conninfo when it comes from a file) and migrates the
    /// schema. An empty `password` leaves libpq's own sources (the URL, PGPASSWORD, .pgpass).
    pg_store(const std::string& conninfo, const std::string& password, secret_box box);
    ~pg_store() override;

    /// `conninfo` fit for a message: a URL's `:password@` and any `password` key or query
    /// parameter removed.
    [[nodiscard]] static std::string redact_conninfo(std::string_view conninfo);

    [[nodiscard]] std::unique_ptr<change_feed> changes() const override;
    [[nodiscard]] bool shares_sessions() const override { return true; }
    [[nodiscard]] std::optional<shared_session> pacer_session(const std::string& user, const std::string& client_code,
                                                              std::int64_t revision, std::int64_t now) override;
    void put_pacer_session(const std::string& user, const std::string& client_code, std::int64_t revision,
                           const std::string& token, std::int64_t expires_at) override;
    void drop_pacer_session(const std::string& user, const std::string& client_code, const std::string& token) override;
    [[nodiscard]] bool try_login_lease(std::string_view key) override;
    void release_login_lease(std::string_view key) override;

    [[nodiscard]] std::string add_user(const std::string& name) override;
    [[nodiscard]] std::string rotate_user(const std::string& name) override;
    void remove_user(const std::string& name) override;
    [[nodiscard]] std::vector<user_info> users() const override;
    [[nodiscard]] bool has_user(const std::string& name) const override;
    [[nodiscard]] std::optional<std::string> user_for_token(std::string_view token) const override;
    void set_pacer(const pacer_login& login) override;
    [[nodiscard]] std::optional<pacer_login> pacer(const std::string& user, secrets mode = secrets::opened) const override;
    void mark_pacer(const std::string& user, std::int64_t revision, credential_state state, const std::string& detail) override;
    void set_ecf(const std::string& user, const std::string& court, const std::string& login,
                 const std::string& password) override;
    [[nodiscard]] std::optional<ecf_login> ecf(const std::string& user, const std::string& court,
                                               secrets mode = secrets::opened) const override;
    [[nodiscard]] std::vector<ecf_login> ecf_logins(const std::string& user, secrets mode = secrets::opened) const override;
    bool remove_ecf(const std::string& user, const std::string& court) override;
    void mark_ecf(const std::string& user, const std::string& court, std::int64_t revision, credential_state state,
                  const std::string& detail) override;
    void record_link(const std::string& user, const std::string& court) override;
    bool remove_link(const std::string& user, const std::string& court) override;
    [[nodiscard]] bool linked(const std::string& user, const std::string& court) const override;
    [[nodiscard]] std::vector<link_info> links(const std::string& user) const override;
    void record_observation(const std::string& user, const std::string& court, bool filing_menus,
                            std::int64_t observed_at, std::string_view source) override;
    [[nodiscard]] std::vector<link_observation> observations(const std::string& user) const override;
    void record_fee(const fees::entry& e) override;
    std::optional<std::int64_t> charge_quote(const std::string& user, const std::string& court, const std::string& path, std::int64_t at) override;
    [[nodiscard]] std::optional<std::int64_t> latest_quote(const std::string& user, const std::string& court,
                                                           const std::string& path) const override;
    [[nodiscard]] std::vector<fees::entry> fee_entries(const fee_filter& f) const override;
    void append_audit(const std::vector<audit_record>& rows) override;
    [[nodiscard]] std::vector<audit_record> audit_records(const audit_filter& f) const override;
    std::int64_t prune_audit(std::int64_t before, int limit) override;
    /// The `courtroute_changes` counter, bumped by triggers on every credential, user, link or
    /// observation write (not the ledger, the audit trail or the revision counter). Unlike
    /// SQLite's `data_version` it also moves on this connection's own commits.
    [[nodiscard]] std::int64_t data_version() const override;
    /// A no-op: see pg_store.cpp.
    void sync_at_checkpoints_only() override;
    /// `SET lock_timeout`; 0 means "fail at once", which PostgreSQL spells 1 ms (its 0 = wait forever).
    void set_busy_timeout(std::chrono::milliseconds wait) override;
    /// Shared PACER sessions are not exported: they expire, and the new store starts without.
    [[nodiscard]] dump export_all() const override;
    void import_all(const dump& d) override;

private:
    /// The connection for the next statements. A connection the server dropped (restart,
    /// failover) is reconnected first, with the lock timeout set again.
    [[nodiscard]] pg_detail::session db() const;
    /// Brings the schema to `schema_version`, once, even when several processes start together.
    void migrate();
    /// Runs a DELETE with user and court parameters; true when a row went.
    bool delete_user_court(const char* sql, const std::string& user, const std::string& court);

    std::string where_;                   ///< the conninfo without any password, for messages
    pg_conn* conn_ = nullptr;
    secret_box box_;
    std::int64_t lock_timeout_ms_ = busy_timeout.count();
};

} // namespace courtroute
