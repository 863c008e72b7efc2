#pragma once
/// The embedded store (SQLite via SQLiteCpp): one file under the state directory. Safe to use
/// from several processes at once (WAL, busy timeout): the CLI writes while the daemon reads.
#include <memory>

#include "store/store.hpp"

namespace SQLite { class Database; class Statement; }

namespace courtroute {

class sqlite_store final : public store {
public:
    /// Opens (creating if needed) the database at `db_file` and migrates it. `":memory:"` works.
    sqlite_store(const std::string& db_file, secret_box box);
    ~sqlite_store() override;
    /// The SQL that created schema version 1 (it ends by setting `user_version` to 1). Kept in
    /// the code because migration starts from it; tests use it to build a real old database.
    [[nodiscard]] static std::string_view schema_v1_sql();
    /// Opens (creating it with mode 0600 from its first byte, as `store::open_state` does) the
    /// database at `db_file`: for `courtroute store copy --to sqlite:PATH`.
    [[nodiscard]] static std::unique_ptr<sqlite_store> open_file(const std::filesystem::path& db_file, secret_box box);

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
    [[nodiscard]] std::int64_t data_version() const override;
    void sync_at_checkpoints_only() override;
    void set_busy_timeout(std::chrono::milliseconds wait) override;
    [[nodiscard]] dump export_all() const override;
    void import_all(const dump& d) override;

private:
    /// Runs `sql` (a DELETE with user and court parameters) in its own transaction; true when a row went.
    bool delete_user_court(const char* sql, const std::string& user, const std::string& court);
    /// Brings the schema to `schema_version` (creating it on an empty database).
    void migrate();

    std::string file_; ///< the database path, for error messages
    std::unique_ptr<SQLite::Database> db_;
    secret_box box_;
    /// `PRAGMA data_version`, prepared once: the daemon asks on every request. Declared after
    /// `db_` so it is finalized before the database closes.
    mutable std::unique_ptr<SQLite::Statement> version_stmt_;
    /// The ledger's and the audit trail's INSERTs, prepared once (the daemon writes them often).
    std::unique_ptr<SQLite::Statement> fee_insert_, audit_insert_;
};

} // namespace courtroute
