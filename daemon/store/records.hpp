#pragma once
/// What every store implementation does alike, so the two never drift: name checks and their
/// messages, the stored credential states, user tokens (only their hash is stored), and the
/// sealing contexts that bind each secret to its user (and court). Internal to daemon/store.
#include <string>
#include <string_view>

#include "store/crypto.hpp"
#include "store/store.hpp"

namespace courtroute::store_records {

/// Throws store_error unless `name` is a valid local user name.
void check_user_name(std::string_view name);
/// Throws store_error unless `court` is a valid court id.
void check_court(std::string_view court);
/// Throws store_error unless `login` may be stored: a valid user name, a login name and a
/// password, a valid client code when there is one.
void check_pacer_login(const pacer_login& login);
/// Throws store_error unless a CM/ECF login of `user` at `court` may be stored.
void check_ecf_login(const std::string& user, const std::string& court, const std::string& login,
                     const std::string& password);
/// A stored credential state; throws store_error naming `where` for anything else.
[[nodiscard]] credential_state parse_state(const std::string& s, const std::string& where);

/// `crt_` + 32 random bytes in unpadded base64url: no ':' (Basic auth splits on it), no '='.
[[nodiscard]] std::string new_token();
/// What the store keeps of a token: its SHA-256, hex.
[[nodiscard]] std::string token_hash(std::string_view token);

// The associated data each secret is sealed with: a sealed value moved to another row never opens.
[[nodiscard]] std::string pacer_password_context(const std::string& user);
[[nodiscard]] std::string pacer_totp_context(const std::string& user);
[[nodiscard]] std::string ecf_password_context(const std::string& user, const std::string& court);

/// Opens a sealed column value of the store called `store_name`. A value that will not open is
/// never returned as garbage: it means another key file (or a row moved between users).
[[nodiscard]] std::string unseal(const secret_box& box, const std::string& store_name, const std::string& sealed,
                                 const std::string& context, const std::string& what);

} // namespace courtroute::store_records
