#pragma once
/// Opening the store a config names: the embedded SQLite store under the state directory, or a
/// firm's PostgreSQL server shared by several daemons (issue 14). Both seal secrets with the
/// same key file, so every daemon on one PostgreSQL store must hold the same key.
#include <filesystem>
#include <memory>
#include <string_view>

#include "store/store.hpp"

namespace courtroute {

/// Where the store is and how to open it.
struct store_location {
    std::string_view url;                  ///< empty: SQLite under `state_dir`; else postgresql://USER@HOST[:PORT]/DB
    std::filesystem::path password_file;   ///< PostgreSQL only; empty: libpq's own PGPASSWORD or ~/.pgpass
    std::filesystem::path state_dir;       ///< SQLite's folder (created 0700)
    std::filesystem::path key_file;        ///< the sealing key (created for the embedded store when missing)
};

/// Opens (and migrates) the store. Throws store_error or crypto_error naming what failed; never a secret.
[[nodiscard]] std::unique_ptr<store> open_store(const store_location& where);

} // namespace courtroute
