#pragma once
/// What the two store test files (test_store.cpp for SQLite, test_pg_store.cpp for PostgreSQL)
/// share: keys, sample credentials, the store_error check, and `everything`, the whole of what a
/// store answers as text (two stores that answer every read alike give the same text).
#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "store/store.hpp"

namespace courtroute::store_test {

/// A deterministic 32-byte key, different for each `fill`.
inline std::array<unsigned char, 32> key_of(unsigned char fill) {
    std::array<unsigned char, 32> k{};
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<unsigned char>(fill * 7 + i);
    return k;
}

inline std::string read_all(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

inline pacer_login make_pacer(const std::string& user, const std::string& password, const std::string& totp = "") {
    pacer_login p;
    p.user = user;
    p.login = user + "-pacer";
    p.password = password;
    p.client_code = "firm-42";
    p.shared = false;
    p.totp_secret = totp;
    return p;
}

/// Expects `f` to throw store_error whose message contains `needle`; returns the message.
template <class F>
std::string expect_store_error(F&& f, const std::string& needle) {
    try {
        f();
        ADD_FAILURE() << "expected store_error containing: " << needle;
    } catch (const store_error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        return e.what();
    }
    return {};
}

/// Everything the read methods return, secrets opened, as text.
inline std::string everything(const store& s) {
    std::ostringstream out;
    for (const auto& u : s.users()) {
        out << "user " << u.name << ' ' << u.created_at << '\n';
        if (auto p = s.pacer(u.name))
            out << " pacer " << p->login << ' ' << p->password << ' ' << p->client_code << ' ' << p->shared << ' '
                << p->totp_secret << ' ' << p->has_totp << ' ' << p->revision << ' ' << to_string(p->state) << ' '
                << p->state_detail << ' ' << p->password_set_at << '\n';
        for (const auto& e : s.ecf_logins(u.name))
            out << " ecf " << e.court << ' ' << e.login << ' ' << e.password << ' ' << e.revision << ' '
                << to_string(e.state) << ' ' << e.state_detail << '\n';
        for (const auto& l : s.links(u.name)) out << " link " << l.court << ' ' << l.linked_at << '\n';
        for (const auto& o : s.observations(u.name))
            out << " seen " << o.court << ' ' << o.filing_menus << ' ' << o.observed_at << ' ' << o.source << '\n';
    }
    for (const auto& e : s.fee_entries({}))
        out << "fee " << e.at << ' ' << e.user << ' ' << e.court << ' ' << e.login << ' ' << e.client_code << ' '
            << e.description << ' ' << e.criteria << ' ' << e.pages << ' ' << e.cents << ' ' << e.quote << ' '
            << e.estimated << ' ' << e.path << '\n';
    for (const auto& r : s.audit_records({}))
        out << "audit " << r.at << ' ' << r.user << ' ' << r.court << ' ' << r.route << ' ' << r.login << ' '
            << r.client_code << ' ' << r.method << ' ' << r.path << ' ' << r.status << ' ' << r.bytes << ' ' << r.ms
            << '\n';
    return out.str();
}

} // namespace courtroute::store_test
