#include "store/records.hpp"

#include <utility>

#include "core/names.hpp"
#include "core/text.hpp"

namespace courtroute::store_records {

void check_user_name(std::string_view name) {
    if (!valid_user_name(name))
        throw store_error("invalid user name " + quote(name) + ": use 1 to 64 letters, digits, '.', '_' or '-'");
}

void check_court(std::string_view court) {
    if (!valid_court_id(court))
        throw store_error("invalid court id " + quote(court) + ": use 1 to 16 lower-case letters and digits");
}

void check_pacer_login(const pacer_login& login) {
    check_user_name(login.user);
    if (login.login.empty()) throw store_error("the PACER login name for user " + quote(login.user) + " is empty");
    if (login.password.empty()) throw store_error("the PACER password for user " + quote(login.user) + " is empty");
    if (!login.client_code.empty() && !valid_client_code(login.client_code))
        throw store_error("invalid client code " + quote(login.client_code) + " for user " + quote(login.user) +
                          ": use " + std::string(client_code_rule));
}

void check_ecf_login(const std::string& user, const std::string& court, const std::string& login,
                     const std::string& password) {
    check_user_name(user);
    check_court(court);
    if (login.empty())
        throw store_error("the CM/ECF login name for user " + quote(user) + " at " + quote(court) + " is empty");
    if (password.empty())
        throw store_error("the CM/ECF password for user " + quote(user) + " at " + quote(court) + " is empty");
}

credential_state parse_state(const std::string& s, const std::string& where) {
    if (s == "active") return credential_state::active;
    if (s == "failed") return credential_state::failed;
    if (s == "mfa_required") return credential_state::mfa_required;
    throw store_error("unknown credential state " + quote(s) + " stored for " + where);
}

std::string new_token() {
    std::string b64 = base64_encode(random_bytes(32));
    std::string out = "crt_";
    for (const char c : b64) {
        if (c == '=') break;
        out += c == '+' ? '-' : c == '/' ? '_' : c;
    }
    return out;
}

std::string token_hash(std::string_view token) { return hex_encode(sha256(token)); }

std::string pacer_password_context(const std::string& user) { return "pacer.password:" + user; }
std::string pacer_totp_context(const std::string& user) { return "pacer.totp:" + user; }
std::string ecf_password_context(const std::string& user, const std::string& court) {
    return "ecf.password:" + user + ":" + court;
}

std::string unseal(const secret_box& box, const std::string& store_name, const std::string& sealed,
                   const std::string& context, const std::string& what) {
    auto plain = box.open(sealed, context);
    if (!plain) throw store_error("cannot decrypt " + what + " in " + quote(store_name, 200) + " (wrong key file?)");
    return std::move(*plain);
}

} // namespace courtroute::store_records
