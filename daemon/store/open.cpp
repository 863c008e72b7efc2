#include "store/open.hpp"

#include <algorithm>
#include <fstream>
#include <sys/stat.h>

#include "core/text.hpp"
#include "store/pg_store.hpp"

namespace courtroute {
namespace {

/// The first line of the password file (a trailing newline is not part of the password). The
/// file must not be readable by others: it opens the firm's whole store.
std::string read_password(const std::filesystem::path& file) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0)
        throw store_error("cannot read the store's password file " + quote(file.string()) + ": it does not exist");
    if (st.st_mode & 0077)
        throw store_error("the store's password file " + quote(file.string()) +
                          " is readable by others: chmod 600 it (it opens the firm's whole store)");
    std::ifstream in(file, std::ios::binary);
    if (!in) throw store_error("cannot read the store's password file " + quote(file.string()));
    std::string line;
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) throw store_error("the store's password file " + quote(file.string()) + " is empty");
    return line;
}

} // namespace

std::unique_ptr<store> open_store(const store_location& where) {
    if (where.url.empty()) return store::open_state(where.state_dir, where.key_file);
    // Every daemon on the server must seal and open with the same key: never invent one here.
    std::error_code ec;
    if (!std::filesystem::exists(where.key_file, ec))
        throw store_error("the PostgreSQL store needs the firm's key file " + quote(where.key_file.string()) +
                          " on every machine: copy it (mode 0600) from the machine that first used the store; for a "
                          "new store create it with: head -c 32 /dev/urandom > FILE && chmod 600 FILE");
    secret_box box = secret_box::from_key_file(where.key_file, false);
    std::string password = where.password_file.empty() ? std::string() : read_password(where.password_file);
    auto s = std::make_unique<pg_store>(std::string(where.url), password, box);
    std::fill(password.begin(), password.end(), '\0');
    return s;
}

} // namespace courtroute
