#include <gtest/gtest.h>

#include "store_test_support.hpp"
#include "test_support.hpp"

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include "core/text.hpp"
#include "store/sqlite_store.hpp"

using namespace courtroute;
namespace fs = std::filesystem;
using namespace courtroute::store_test;

namespace {

sqlite_store memory_store() { return sqlite_store(":memory:", secret_box{key_of(1)}); }

using test::temp_dir;

mode_t mode_of(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return 0;
    return st.st_mode & 07777;
}

/// Every regular file under `dir`, concatenated (db, -wal, -shm, key).
std::string all_bytes_under(const fs::path& dir, std::set<std::string>* names = nullptr) {
    std::string all;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        if (!e.is_regular_file()) continue;
        if (names) names->insert(e.path().filename().string());
        all += read_all(e.path());
    }
    return all;
}


} // namespace

TEST(StoreNames, ValidUserName) {
    EXPECT_TRUE(valid_user_name("alice"));
    EXPECT_TRUE(valid_user_name("A.b_c-9"));
    EXPECT_TRUE(valid_user_name(std::string(64, 'a')));
    EXPECT_FALSE(valid_user_name(""));
    EXPECT_FALSE(valid_user_name(std::string(65, 'a')));
    EXPECT_FALSE(valid_user_name("a b"));
    EXPECT_FALSE(valid_user_name("a:b"));
    EXPECT_FALSE(valid_user_name("al/ice"));
    EXPECT_FALSE(valid_user_name("ali\nce"));
}

TEST(StoreUsers, AddRotateRemoveList) {
    auto s = memory_store();
    EXPECT_TRUE(s.users().empty());
    const auto t_alice = s.add_user("alice");
    const auto t_bob = s.add_user("bob");
    EXPECT_NE(t_alice, t_bob);
    const auto users = s.users();
    ASSERT_EQ(users.size(), 2u);
    EXPECT_EQ(users[0].name, "alice");
    EXPECT_EQ(users[1].name, "bob");
    EXPECT_GT(users[0].created_at, 1600000000);
    EXPECT_LE(users[0].created_at, unix_now());
    EXPECT_TRUE(s.has_user("alice"));
    EXPECT_FALSE(s.has_user("carol"));
    EXPECT_FALSE(s.has_user("bad name"));

    EXPECT_EQ(s.user_for_token(t_alice), "alice");
    EXPECT_EQ(s.user_for_token(t_bob), "bob");
    EXPECT_FALSE(s.user_for_token(""));
    EXPECT_FALSE(s.user_for_token("crt_nope"));
    EXPECT_FALSE(s.user_for_token(t_alice + "x"));

    const auto t_alice2 = s.rotate_user("alice");
    EXPECT_NE(t_alice2, t_alice);
    EXPECT_FALSE(s.user_for_token(t_alice)); // the old token stops at once
    EXPECT_EQ(s.user_for_token(t_alice2), "alice");
    EXPECT_EQ(s.user_for_token(t_bob), "bob");

    s.remove_user("bob");
    EXPECT_FALSE(s.has_user("bob"));
    EXPECT_FALSE(s.user_for_token(t_bob));
    ASSERT_EQ(s.users().size(), 1u);
}

TEST(StoreUsers, TokenShape) {
    auto s = memory_store();
    std::set<std::string> seen;
    for (int i = 0; i < 20; ++i) {
        const auto t = s.add_user("u" + std::to_string(i));
        ASSERT_EQ(t.rfind("crt_", 0), 0u) << "token prefix";
        EXPECT_EQ(t.size(), 4u + 43u); // 32 bytes in unpadded base64
        for (const char c : t.substr(4))
            EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << "bad token char";
        EXPECT_TRUE(seen.insert(t).second);
    }
}

TEST(StoreUsers, OnlyTheTokenHashIsStored) {
    temp_dir dir;
    const auto file = (dir.path() / "t.db").string();
    std::string token;
    {
        sqlite_store s(file, secret_box{key_of(1)});
        token = s.add_user("alice");
    }
    SQLite::Database db(file);
    EXPECT_EQ(db.execAndGet("SELECT token_hash FROM users WHERE name = 'alice'").getString(),
              hex_encode(sha256(token)));
    EXPECT_EQ(all_bytes_under(dir.path()).find(token.substr(4)), std::string::npos);
}

TEST(StoreUsers, DuplicateAndBadNamesRefused) {
    auto s = memory_store();
    (void)s.add_user("alice");
    expect_store_error([&] { (void)s.add_user("alice"); }, "user 'alice' already exists");
    expect_store_error([&] { (void)s.add_user(""); }, "invalid user name");
    expect_store_error([&] { (void)s.add_user("a b"); }, "invalid user name 'a b'");
    expect_store_error([&] { (void)s.add_user(std::string(65, 'x')); }, "invalid user name");
    expect_store_error([&] { (void)s.add_user("evil\nline"); }, "invalid user name 'evil?line'");
    expect_store_error([&] { (void)s.rotate_user("bob"); }, "user 'bob' does not exist");
    expect_store_error([&] { s.remove_user("bob"); }, "user 'bob' does not exist");
    EXPECT_EQ(s.users().size(), 1u);
}

TEST(StorePacer, RoundTripWithTotpAndFlags) {
    auto s = memory_store();
    (void)s.add_user("alice");
    (void)s.add_user("bob");
    EXPECT_FALSE(s.pacer("alice"));

    auto in = make_pacer("alice", "p@ss:word w/ spaces", "JBSWY3DPEHPK3PXP");
    in.shared = true;
    in.client_code = "matter-7";
    const auto before = unix_now();
    s.set_pacer(in);
    auto out = s.pacer("alice");
    ASSERT_TRUE(out);
    EXPECT_EQ(out->user, "alice");
    EXPECT_EQ(out->login, "alice-pacer");
    EXPECT_EQ(out->password, "p@ss:word w/ spaces");
    EXPECT_EQ(out->client_code, "matter-7");
    EXPECT_TRUE(out->shared);
    EXPECT_EQ(out->totp_secret, "JBSWY3DPEHPK3PXP");
    EXPECT_EQ(out->state, credential_state::active);
    EXPECT_EQ(out->state_detail, "");
    EXPECT_GE(out->password_set_at, before);
    EXPECT_LE(out->password_set_at, unix_now());

    auto in2 = make_pacer("bob", "bobpw");
    s.set_pacer(in2);
    out = s.pacer("bob");
    ASSERT_TRUE(out);
    EXPECT_EQ(out->password, "bobpw");
    EXPECT_FALSE(out->shared);
    EXPECT_EQ(out->totp_secret, "");
    EXPECT_EQ(out->client_code, "firm-42");

    // Replacing drops the TOTP secret when none is given.
    s.set_pacer(make_pacer("alice", "new"));
    EXPECT_EQ(s.pacer("alice")->totp_secret, "");
    EXPECT_EQ(s.pacer("alice")->password, "new");
    EXPECT_FALSE(s.pacer("alice")->shared);
}

TEST(StorePacer, MissingUserAndEmptyFieldsRefused) {
    auto s = memory_store();
    expect_store_error([&] { s.set_pacer(make_pacer("bob", "pw")); }, "user 'bob' does not exist");
    (void)s.add_user("bob");
    auto p = make_pacer("bob", "");
    expect_store_error([&] { s.set_pacer(p); }, "'bob'");
    p = make_pacer("bob", "pw");
    p.login = "";
    expect_store_error([&] { s.set_pacer(p); }, "'bob'");
    expect_store_error([&] { (void)s.pacer("no such"); }, "invalid user name");
}

TEST(StorePacer, RevisionBumpsAndStaleMarksAreIgnored) {
    auto s = memory_store();
    (void)s.add_user("alice");
    s.set_pacer(make_pacer("alice", "one"));
    const auto r1 = s.pacer("alice")->revision;

    s.mark_pacer("alice", r1, credential_state::failed, "Invalid username or password");
    auto p = s.pacer("alice");
    EXPECT_EQ(p->state, credential_state::failed);
    EXPECT_EQ(p->state_detail, "Invalid username or password");
    EXPECT_EQ(to_string(p->state), "failed");

    s.set_pacer(make_pacer("alice", "two"));
    p = s.pacer("alice");
    const auto r2 = p->revision;
    EXPECT_GT(r2, r1);
    EXPECT_EQ(p->state, credential_state::active); // reset on replace
    EXPECT_EQ(p->state_detail, "");

    // A login attempt made with the old credential must not mark the new one.
    s.mark_pacer("alice", r1, credential_state::failed, "stale");
    p = s.pacer("alice");
    EXPECT_EQ(p->state, credential_state::active);
    EXPECT_EQ(p->state_detail, "");

    s.mark_pacer("alice", r2, credential_state::mfa_required, "one-time code requested");
    p = s.pacer("alice");
    EXPECT_EQ(p->state, credential_state::mfa_required);
    EXPECT_EQ(p->state_detail, "one-time code requested");
    EXPECT_EQ(p->revision, r2); // marking does not bump

    s.mark_pacer("nobody", 1, credential_state::failed, "x"); // no row: nothing happens
}

TEST(StoreEcf, RoundTripListRemove) {
    auto s = memory_store();
    (void)s.add_user("alice");
    EXPECT_FALSE(s.ecf("alice", "azb"));
    s.set_ecf("alice", "azb", "alice_azb", "azb-pass");
    s.set_ecf("alice", "cacb", "alice_cacb", "cacb-pass");
    auto e = s.ecf("alice", "azb");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->user, "alice");
    EXPECT_EQ(e->court, "azb");
    EXPECT_EQ(e->login, "alice_azb");
    EXPECT_EQ(e->password, "azb-pass");
    EXPECT_EQ(e->state, credential_state::active);

    const auto all = s.ecf_logins("alice");
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].court, "azb");
    EXPECT_EQ(all[1].court, "cacb");
    EXPECT_EQ(all[1].password, "cacb-pass");

    EXPECT_TRUE(s.remove_ecf("alice", "azb"));
    EXPECT_FALSE(s.remove_ecf("alice", "azb"));
    EXPECT_FALSE(s.ecf("alice", "azb"));
    EXPECT_EQ(s.ecf_logins("alice").size(), 1u);

    expect_store_error([&] { s.set_ecf("bob", "azb", "l", "p"); }, "user 'bob' does not exist");
    expect_store_error([&] { s.set_ecf("alice", "AZB", "l", "p"); }, "invalid court id 'AZB'");
    expect_store_error([&] { s.set_ecf("alice", "", "l", "p"); }, "invalid court id");
    expect_store_error([&] { s.set_ecf("alice", "a-b", "l", "p"); }, "invalid court id");
    expect_store_error([&] { s.set_ecf("alice", std::string(17, 'a'), "l", "p"); }, "invalid court id");
    expect_store_error([&] { (void)s.ecf("alice", "az b"); }, "invalid court id");
}

TEST(StoreEcf, RevisionBumpsStaleMarksIgnoredAndNeverReused) {
    auto s = memory_store();
    (void)s.add_user("alice");
    s.set_ecf("alice", "azb", "l", "one");
    const auto r1 = s.ecf("alice", "azb")->revision;
    s.mark_ecf("alice", "azb", r1, credential_state::failed, "Login failed");
    EXPECT_EQ(s.ecf("alice", "azb")->state, credential_state::failed);
    EXPECT_EQ(s.ecf("alice", "azb")->state_detail, "Login failed");

    s.set_ecf("alice", "azb", "l", "two");
    auto e = s.ecf("alice", "azb");
    const auto r2 = e->revision;
    EXPECT_GT(r2, r1);
    EXPECT_EQ(e->state, credential_state::active);
    EXPECT_EQ(e->state_detail, "");
    s.mark_ecf("alice", "azb", r1, credential_state::failed, "stale");
    EXPECT_EQ(s.ecf("alice", "azb")->state, credential_state::active);

    // Removed and stored again: the revision still grows, so an attempt made before the
    // removal cannot mark the new credential.
    EXPECT_TRUE(s.remove_ecf("alice", "azb"));
    s.set_ecf("alice", "azb", "l", "three");
    EXPECT_GT(s.ecf("alice", "azb")->revision, r2);
    s.mark_ecf("alice", "azb", r2, credential_state::failed, "stale");
    EXPECT_EQ(s.ecf("alice", "azb")->state, credential_state::active);
}

TEST(StoreLinks, RecordDeletesEcfLoginAndRefusesDuplicate) {
    auto s = memory_store();
    (void)s.add_user("alice");
    s.set_ecf("alice", "azb", "l", "azb-pass");
    s.set_ecf("alice", "cacb", "l", "cacb-pass");
    EXPECT_FALSE(s.linked("alice", "azb"));

    const auto before = unix_now();
    s.record_link("alice", "azb");
    EXPECT_TRUE(s.linked("alice", "azb"));
    EXPECT_FALSE(s.ecf("alice", "azb"));     // deleted with the link
    EXPECT_TRUE(s.ecf("alice", "cacb"));     // other courts untouched
    const auto links = s.links("alice");
    ASSERT_EQ(links.size(), 1u);
    EXPECT_EQ(links[0].user, "alice");
    EXPECT_EQ(links[0].court, "azb");
    EXPECT_GE(links[0].linked_at, before);

    expect_store_error([&] { s.record_link("alice", "azb"); }, "a link is already recorded for 'alice' at 'azb'");
    expect_store_error([&] { s.record_link("bob", "azb"); }, "user 'bob' does not exist");
    expect_store_error([&] { s.record_link("alice", "AZB"); }, "invalid court id");

    EXPECT_TRUE(s.remove_link("alice", "azb"));
    EXPECT_FALSE(s.remove_link("alice", "azb"));
    EXPECT_FALSE(s.linked("alice", "azb"));
    EXPECT_TRUE(s.links("alice").empty());
}

TEST(StoreUsers, RemoveCascades) {
    auto s = memory_store();
    (void)s.add_user("alice");
    (void)s.add_user("bob");
    s.set_pacer(make_pacer("alice", "pw", "JBSWY3DPEHPK3PXP"));
    s.set_ecf("alice", "azb", "l", "p");
    s.record_link("alice", "cacb");
    s.set_pacer(make_pacer("bob", "bobpw"));
    s.set_ecf("bob", "azb", "l", "p");

    s.remove_user("alice");
    (void)s.add_user("alice"); // a new user of the same name inherits nothing
    EXPECT_FALSE(s.pacer("alice"));
    EXPECT_FALSE(s.ecf("alice", "azb"));
    EXPECT_TRUE(s.ecf_logins("alice").empty());
    EXPECT_FALSE(s.linked("alice", "cacb"));
    EXPECT_TRUE(s.links("alice").empty());
    EXPECT_TRUE(s.pacer("bob"));
    EXPECT_TRUE(s.ecf("bob", "azb"));
}

TEST(StoreCrypto, WrongKeyIsAnErrorNotGarbage) {
    temp_dir dir;
    const auto file = (dir.path() / "k.db").string();
    const std::string pw = "Sup3rSecretPw!";
    {
        sqlite_store s(file, secret_box{key_of(1)});
        (void)s.add_user("alice");
        s.set_pacer(make_pacer("alice", pw, "JBSWY3DPEHPK3PXP"));
        s.set_ecf("alice", "azb", "l", pw);
    }
    sqlite_store other(file, secret_box{key_of(2)});
    EXPECT_TRUE(other.has_user("alice")); // non-secret data still readable
    for (auto f : std::initializer_list<std::function<void()>>{[&] { (void)other.pacer("alice"); },
                                                               [&] { (void)other.ecf("alice", "azb"); },
                                                               [&] { (void)other.ecf_logins("alice"); }}) {
        try {
            f();
            ADD_FAILURE() << "expected store_error";
        } catch (const store_error& e) {
            const std::string msg = e.what();
            EXPECT_NE(msg.find("cannot decrypt"), std::string::npos) << msg;
            EXPECT_NE(msg.find("wrong key file?"), std::string::npos) << msg;
            EXPECT_NE(msg.find("'alice'"), std::string::npos) << msg;
            EXPECT_EQ(msg.find(pw), std::string::npos);
        }
    }
}

TEST(StoreCrypto, CiphertextMovedToAnotherUserDoesNotOpen) {
    temp_dir dir;
    const auto file = (dir.path() / "m.db").string();
    {
        sqlite_store s(file, secret_box{key_of(1)});
        (void)s.add_user("alice");
        (void)s.add_user("mallory");
        s.set_pacer(make_pacer("alice", "alice-pw"));
        s.set_pacer(make_pacer("mallory", "mallory-pw"));
    }
    {
        SQLite::Database db(file, SQLite::OPEN_READWRITE);
        db.exec("UPDATE pacer_logins SET password = (SELECT password FROM pacer_logins WHERE user = 'alice') "
                "WHERE user = 'mallory'");
    }
    sqlite_store s(file, secret_box{key_of(1)});
    EXPECT_EQ(s.pacer("alice")->password, "alice-pw");
    expect_store_error([&] { (void)s.pacer("mallory"); }, "cannot decrypt");
}

TEST(StoreState, EncryptionAtRestAndPermissions) {
    temp_dir tmp;
    const auto state = tmp.path() / "state" / "courtroute";
    const auto key = state / "secret.key";
    const std::string password = "Pw-7f3c9a1e-do-not-leak";
    const std::string totp = "KRSXG5CTMVRXEZLUKN2XAZLSON2GS3TH";
    const std::string ecf_password = "Ecf-pw-0b5d22e8-hidden";
    const std::string new_password = "Pw-NEW-4e6a0c11-replaced";
    const std::string login_name = "visible-login-name-91";

    const mode_t old = ::umask(022); // a typical permissive umask must not leak into the files
    auto s = store::open_state(state, key);
    ::umask(old);

    EXPECT_EQ(mode_of(state), 0700u);
    EXPECT_EQ(mode_of(state / "courtroute.db"), 0600u);
    EXPECT_EQ(mode_of(key), 0600u);

    (void)s->add_user("alice");
    pacer_login p = make_pacer("alice", password, totp);
    p.login = login_name;
    s->set_pacer(p);
    s->set_ecf("alice", "azb", "alice_azb", ecf_password);
    ASSERT_EQ(s->pacer("alice")->password, password);

    auto assert_clean = [&](const char* when) {
        std::set<std::string> names;
        const auto bytes = all_bytes_under(state, &names);
        EXPECT_TRUE(names.count("courtroute.db")) << when;
        EXPECT_TRUE(names.count("secret.key")) << when;
        // The scan works: the non-secret login name is there in clear.
        EXPECT_NE(bytes.find(login_name), std::string::npos) << when;
        EXPECT_EQ(bytes.find(password), std::string::npos) << when << ": PACER password found in clear";
        EXPECT_EQ(bytes.find(totp), std::string::npos) << when << ": TOTP secret found in clear";
        EXPECT_EQ(bytes.find(ecf_password), std::string::npos) << when << ": CM/ECF password found in clear";
        EXPECT_EQ(bytes.find(new_password), std::string::npos) << when << ": new password found in clear";
        for (const auto& n : names) {
            const auto m = mode_of(state / n);
            EXPECT_EQ(m & 077, 0u) << when << ": " << n << " mode " << std::oct << m;
        }
    };
    {
        std::set<std::string> names;
        (void)all_bytes_under(state, &names);
        EXPECT_TRUE(names.count("courtroute.db-wal")) << "expected WAL mode";
    }
    assert_clean("after storing");
    {
        SQLite::Database db((state / "courtroute.db").string(), SQLite::OPEN_READWRITE, 5000);
        db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    assert_clean("after checkpoint");
    p.password = new_password;
    s->set_pacer(p);
    assert_clean("after replacing the password");
    EXPECT_EQ(s->pacer("alice")->password, new_password);
    s.reset();
    assert_clean("after close");

    // Reopening uses the same key file and reads the secrets back.
    s = store::open_state(state, key);
    EXPECT_EQ(s->pacer("alice")->password, new_password);
    EXPECT_EQ(s->pacer("alice")->totp_secret, totp);
    EXPECT_EQ(s->ecf("alice", "azb")->password, ecf_password);
}

TEST(StoreState, TightensExistingStateDirAndDb) {
    temp_dir tmp;
    const auto state = tmp.path() / "loose";
    fs::create_directory(state);
    ASSERT_EQ(::chmod(state.c_str(), 0755), 0);
    {
        std::ofstream(state / "courtroute.db").flush();
    }
    ASSERT_EQ(::chmod((state / "courtroute.db").c_str(), 0644), 0);
    auto s = store::open_state(state, state / "secret.key");
    EXPECT_EQ(mode_of(state), 0700u);
    EXPECT_EQ(mode_of(state / "courtroute.db"), 0600u);
    (void)s->add_user("alice");
    EXPECT_TRUE(s->has_user("alice"));
}

TEST(StoreState, LooseKeyFileRefused) {
    temp_dir tmp;
    const auto key = tmp.path() / "secret.key";
    {
        std::ofstream(key, std::ios::binary) << std::string(32, 'k');
    }
    ASSERT_EQ(::chmod(key.c_str(), 0644), 0);
    try {
        (void)store::open_state(tmp.path() / "state", key);
        FAIL() << "expected crypto_error";
    } catch (const crypto_error& e) {
        EXPECT_NE(std::string(e.what()).find(key.string()), std::string::npos) << e.what();
    }
}

TEST(StoreMigration, V1DatabaseIsUpgradedWithDataPreserved) {
    temp_dir tmp;
    const auto file = (tmp.path() / "old.db").string();
    secret_box box{key_of(3)};
    const std::string token = "crt_legacy-token-from-v1";
    {
        SQLite::Database db(file, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        db.exec(std::string(sqlite_store::schema_v1_sql()));
        ASSERT_EQ(db.execAndGet("PRAGMA user_version").getInt(), 1);
        SQLite::Statement u(db, "INSERT INTO users (name, token_hash, created_at) VALUES (?, ?, ?)");
        for (const char* name : {"alice", "bob"}) {
            u.bind(1, name);
            u.bind(2, hex_encode(sha256(std::string(token) + (name[0] == 'a' ? "" : "-bob"))));
            u.bind(3, static_cast<std::int64_t>(1700000000));
            u.exec();
            u.reset();
        }
        const auto pw = box.seal("v1-pacer-pw", "pacer.password:alice");
        const auto totp = box.seal("JBSWY3DPEHPK3PXP", "pacer.totp:alice");
        SQLite::Statement p(db, "INSERT INTO pacer_logins (user, login, password, client_code, shared, totp_secret, "
                                "state) VALUES ('alice', 'alice-pacer', ?, 'cc1', 1, ?, 'failed')");
        p.bind(1, static_cast<const void*>(pw.data()), static_cast<int>(pw.size()));
        p.bind(2, static_cast<const void*>(totp.data()), static_cast<int>(totp.size()));
        p.exec();
        const auto epw = box.seal("v1-ecf-pw", "ecf.password:alice:azb");
        SQLite::Statement e(db, "INSERT INTO ecf_logins (user, court, login, password, state) "
                                "VALUES ('alice', 'azb', 'alice_azb', ?, 'active')");
        e.bind(1, static_cast<const void*>(epw.data()), static_cast<int>(epw.size()));
        e.exec();
        db.exec("INSERT INTO links (user, court, linked_at) VALUES ('alice', 'cacb', 1700000100)");
    }
    {
        sqlite_store s(file, box);
        EXPECT_EQ(s.user_for_token(token), "alice");
        EXPECT_EQ(s.user_for_token(token + "-bob"), "bob");
        ASSERT_EQ(s.users().size(), 2u);
        EXPECT_EQ(s.users()[0].created_at, 1700000000);
        auto p = s.pacer("alice");
        ASSERT_TRUE(p);
        EXPECT_EQ(p->login, "alice-pacer");
        EXPECT_EQ(p->password, "v1-pacer-pw");
        EXPECT_EQ(p->totp_secret, "JBSWY3DPEHPK3PXP");
        EXPECT_EQ(p->client_code, "cc1");
        EXPECT_TRUE(p->shared);
        EXPECT_EQ(p->state, credential_state::failed);
        EXPECT_EQ(p->state_detail, "");
        EXPECT_EQ(p->password_set_at, 0); // unknown for v1 rows
        const auto r = p->revision;
        auto e = s.ecf("alice", "azb");
        ASSERT_TRUE(e);
        EXPECT_EQ(e->password, "v1-ecf-pw");
        EXPECT_EQ(e->login, "alice_azb");
        EXPECT_TRUE(s.linked("alice", "cacb"));
        EXPECT_EQ(s.links("alice")[0].linked_at, 1700000100);

        // Migrated rows take part in revisions like new ones.
        s.mark_pacer("alice", r, credential_state::active, "");
        EXPECT_EQ(s.pacer("alice")->state, credential_state::active);
        s.set_pacer(make_pacer("alice", "v2-pw"));
        EXPECT_GT(s.pacer("alice")->revision, r);
        // Foreign keys still cascade after the migration.
        s.remove_user("alice");
        EXPECT_FALSE(s.linked("alice", "cacb"));
    }
    {
        SQLite::Database db(file);
        EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(), store::schema_version);
        EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(), 5);
        EXPECT_EQ(db.execAndGet("SELECT count(*) FROM audit").getInt(), 0) << "v5: the audit trail";
        EXPECT_EQ(db.execAndGet("SELECT count(*) FROM fee_entries").getInt(), 0) << "v4: the fee ledger";
    }
    sqlite_store again(file, box); // already current: opens without migrating again
    EXPECT_TRUE(again.has_user("bob"));
}

TEST(StoreObservations, RecordReplaceAndCascade) {
    temp_dir tmp;
    sqlite_store s((tmp.path() / "obs.db").string(), secret_box{key_of(1)});
    (void)s.add_user("alice");
    EXPECT_TRUE(s.observations("alice").empty());
    s.record_observation("alice", "azb", false, 1700000000, "page");
    s.record_observation("alice", "cacb", true, 1700000050, "verify");
    s.record_observation("alice", "azb", true, 1700000100, "verify");  // replaces
    auto o = s.observations("alice");
    ASSERT_EQ(o.size(), 2u);
    EXPECT_EQ(o[0].court, "azb");
    EXPECT_TRUE(o[0].filing_menus);
    EXPECT_EQ(o[0].observed_at, 1700000100);
    EXPECT_EQ(o[0].source, "verify");
    EXPECT_EQ(o[1].court, "cacb");
    expect_store_error([&] { s.record_observation("nobody", "azb", true, 1, "page"); }, "nobody");
    expect_store_error([&] { s.record_observation("alice", "AZB;", true, 1, "page"); }, "court");
    s.remove_user("alice");
    (void)s.add_user("alice");
    EXPECT_TRUE(s.observations("alice").empty()) << "removing a user removes what was observed for them";
}

TEST(StoreMigration, FreshDatabaseIsCurrent) {
    temp_dir tmp;
    const auto file = (tmp.path() / "new.db").string();
    { sqlite_store s(file, secret_box{key_of(1)}); }
    SQLite::Database db(file);
    EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(), store::schema_version);
    EXPECT_EQ(db.execAndGet("PRAGMA journal_mode").getString(), "wal");
}

TEST(StoreMigration, NewerVersionRefused) {
    temp_dir tmp;
    const auto file = (tmp.path() / "future.db").string();
    { sqlite_store s(file, secret_box{key_of(1)}); }
    {
        SQLite::Database db(file, SQLite::OPEN_READWRITE);
        db.exec("PRAGMA user_version = " + std::to_string(store::schema_version + 1));
    }
    expect_store_error([&] { sqlite_store s(file, secret_box{key_of(1)}); }, file);
    expect_store_error([&] { sqlite_store s(file, secret_box{key_of(1)}); }, "newer");
}

TEST(StoreMigration, UnopenableDatabaseIsAStoreError) {
    temp_dir tmp;
    const auto file = (tmp.path() / "no-such-dir" / "x.db").string();
    expect_store_error([&] { sqlite_store s(file, secret_box{key_of(1)}); }, file);
    const auto junk = tmp.path() / "junk.db";
    std::ofstream(junk) << std::string(4096, 'j');
    expect_store_error([&] { sqlite_store s(junk.string(), secret_box{key_of(1)}); }, junk.string());
}

TEST(StoreConcurrency, DataVersionSeesOtherConnectionsCommits) {
    temp_dir tmp;
    const auto file = (tmp.path() / "dv.db").string();
    sqlite_store reader(file, secret_box{key_of(1)});
    sqlite_store writer(file, secret_box{key_of(1)});
    const auto v0 = reader.data_version();
    EXPECT_EQ(reader.data_version(), v0); // stable while nothing changes
    (void)writer.add_user("alice");
    const auto v1 = reader.data_version();
    EXPECT_NE(v1, v0);
    EXPECT_TRUE(reader.has_user("alice"));
    writer.set_ecf("alice", "azb", "l", "p");
    EXPECT_NE(reader.data_version(), v1);
}

TEST(StoreConcurrency, ChildProcessWritesWhileParentReads) {
    temp_dir tmp;
    const auto state = tmp.path() / "state";
    const auto key = state / "secret.key";
    {
        // Create schema and key first, then close: no SQLite connection crosses the fork.
        auto s = store::open_state(state, key);
    }
    constexpr int n_users = 100; // 2 writes each: 200 write transactions
    // The child starts writing only once the parent holds its connection and its first
    // data_version, so the two really overlap.
    int go[2];
    ASSERT_EQ(::pipe(go), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        int rc = 0;
        try {
            ::close(go[1]);
            auto s = store::open_state(state, key);
            char byte = 0;
            if (::read(go[0], &byte, 1) != 1) ::_exit(2);
            for (int i = 0; i < n_users; ++i) {
                const std::string name = "u" + std::to_string(i);
                (void)s->add_user(name);
                s->set_ecf(name, "azb", name + "_azb", "pw-" + name);
            }
        } catch (const std::exception& e) {
            // No secrets in these messages (store_error never holds one).
            std::fprintf(stderr, "child failed: %s\n", e.what());
            rc = 1;
        }
        ::_exit(rc); // skip gtest and static destructors in the child
    }

    int reads = 0;
    std::string parent_error;
    int status = 0;
    std::int64_t first_version = 0;
    std::int64_t last_version = 0;
    try {
        auto s = store::open_state(state, key);
        (void)s->add_user("parent");
        first_version = s->data_version();
        ::close(go[0]);
        EXPECT_EQ(::write(go[1], "g", 1), 1);
        ::close(go[1]);
        go[1] = -1;
        std::size_t last_seen = 0;
        for (;;) {
            const pid_t done = ::waitpid(child, &status, WNOHANG);
            const auto users = s->users();
            EXPECT_GE(users.size(), last_seen); // never goes backwards
            last_seen = users.size();
            if (!users.empty()) (void)s->ecf_logins(users.back().name);
            // An occasional write of our own: two writers must queue on the busy timeout.
            if (reads % 4 == 0) s->set_ecf("parent", "azb", "parent_azb", "pw-" + std::to_string(reads));
            ++reads;
            if (done == child) break;
        }
        last_version = s->data_version();
        const auto users = s->users();
        ASSERT_EQ(users.size(), static_cast<std::size_t>(n_users) + 1); // + "parent"
        for (int i = 0; i < n_users; ++i) {
            const std::string name = "u" + std::to_string(i);
            auto e = s->ecf(name, "azb");
            ASSERT_TRUE(e) << name;
            EXPECT_EQ(e->password, "pw-" + name);
        }
    } catch (const std::exception& e) {
        parent_error = e.what();
        if (go[1] >= 0) ::close(go[1]); // the child sees EOF and exits
        ::waitpid(child, &status, 0);
    }
    EXPECT_EQ(parent_error, "");
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "the writing child failed (see stderr)";
    EXPECT_GT(reads, 1);
    if (parent_error.empty()) {
        EXPECT_NE(last_version, first_version);
    }
}

TEST(StoreFees, LedgerLinesQuotesBecomeChargesAndFilters) {
    sqlite_store s(":memory:", secret_box{key_of(9)});
    (void)s.add_user("alice");
    fees::entry docket{1000, "alice", "azb", "alice01", "m/1", "Docket Report", "1:24", 3, 30, false, false,
                       "/cgi-bin/DktRpt.pl"};
    fees::entry quote{1010, "alice", "azd", "alice01", "m/2", "Image 4-1", "2:24", 12, 120, true, false, "/doc1/77"};
    fees::entry other{2000, "bob", "azb", "bob01", "", "Docket Report", "1:24", 1, 10, false, false, "/cgi-bin/DktRpt.pl"};
    s.record_fee(docket);
    s.record_fee(quote);
    s.record_fee(other);
    EXPECT_FALSE(s.charge_quote("alice", "azd", "/doc1/78", 1020)) << "no quote for that document";
    EXPECT_FALSE(s.charge_quote("bob", "azd", "/doc1/77", 1020)) << "another user's quote";
    EXPECT_EQ(s.charge_quote("alice", "azd", "/doc1/77", 1030), 120);
    EXPECT_FALSE(s.charge_quote("alice", "azd", "/doc1/77", 1040)) << "charged once";
    auto all = s.fee_entries({});
    ASSERT_EQ(all.size(), 3u);
    EXPECT_FALSE(all[1].quote);
    EXPECT_EQ(all[1].at, 1030);
    store::fee_filter only;
    only.user = "alice";
    only.client_code = "m/2";
    auto mine = s.fee_entries(only);
    ASSERT_EQ(mine.size(), 1u);
    EXPECT_EQ(mine[0].cents, 120);
    store::fee_filter window;
    window.since = 1500;
    window.until = 2001;
    EXPECT_EQ(s.fee_entries(window).size(), 1u);
    s.remove_user("alice");  // the firm still owes what was charged
    EXPECT_EQ(s.fee_entries({}).size(), 3u);
}

TEST(StoreAudit, AppendFilterAndPruneInChunks) {
    sqlite_store s(":memory:", secret_box{key_of(10)});
    std::vector<audit_record> rows;
    for (int i = 0; i < 25; ++i)
        rows.push_back({1000 + i, i % 2 ? "alice" : "bob", i % 3 ? "azb" : "azd", "pacer", "alice01", "m/1", "GET",
                        "/cgi-bin/DktRpt.pl", 200, 1234, 12});
    s.append_audit(rows);
    EXPECT_EQ(s.audit_records({}).size(), 25u);
    store::audit_filter f;
    f.user = "alice";
    f.court = "azb";
    for (auto& r : s.audit_records(f)) {
        EXPECT_EQ(r.user, "alice");
        EXPECT_EQ(r.court, "azb");
    }
    f = {};
    f.since = 1020;
    EXPECT_EQ(s.audit_records(f).size(), 5u);
    EXPECT_EQ(s.prune_audit(1010, 4), 4) << "a chunk at a time";
    EXPECT_EQ(s.prune_audit(1010, 100), 6);
    EXPECT_EQ(s.prune_audit(1010, 100), 0);
    EXPECT_EQ(s.audit_records({}).size(), 15u);
}

TEST(StoreCopy, ExportImportKeepsEveryRowSealedTokensAndTheRevisionCounter) {
    temp_dir dir("copy");
    sqlite_store src(":memory:", secret_box{key_of(11)});
    const auto t_alice = src.add_user("alice");
    const auto t_bob = src.add_user("bob");
    src.set_pacer(make_pacer("alice", "Alice-pacer-pw-0001", "JBSWY3DPEHPK3PXP"));
    auto bob = make_pacer("bob", "Bob-pacer-pw-00002");
    bob.shared = true;
    bob.client_code = "";
    bob.password_set_at = 1700000000;
    src.set_pacer(bob);
    src.mark_pacer("bob", src.pacer("bob")->revision, credential_state::failed, "Invalid username or password");
    src.set_ecf("alice", "azb", "alice_azb", "ecf-azb-pw");
    src.set_ecf("alice", "cacb", "alice_cacb", "ecf-cacb-pw");
    src.mark_ecf("alice", "cacb", src.ecf("alice", "cacb")->revision, credential_state::failed, "locked");
    src.set_ecf("bob", "nysd", "bob_nysd", "ecf-nysd-pw");
    src.record_link("bob", "nysd");
    src.set_ecf("bob", "txsd", "bob_txsd", "gone-pw");
    ASSERT_TRUE(src.remove_ecf("bob", "txsd")); // its revision is now the counter's, held by no row
    src.record_observation("alice", "azb", true, 1700000100, "page");
    src.record_observation("bob", "nysd", false, 1700000200, "verify");
    src.record_fee({1000, "alice", "azb", "alice-pacer", "firm-42", "Docket Report", "1:24", 3, 30, false, false,
                    "/cgi-bin/DktRpt.pl"});
    src.record_fee({1010, "alice", "azb", "alice-pacer", "firm-42", "Image 4-1", "1:24", 12, 120, true, false, "/doc1/77"});
    src.record_fee({1020, "bob", "nysd", "bob-pacer", "", "Image 9-1", "2:24", 5, 50, true, false, "/doc1/90"});
    src.record_fee({1030, "bob", "nysd", "bob-pacer", "", "Docket Report", "2:24", 30, 300, false, true, "/cgi-bin/DktRpt.pl"});
    ASSERT_EQ(src.charge_quote("bob", "nysd", "/doc1/90", 1040), 50); // a charged quote moves in time, not in order
    std::vector<audit_record> trail;
    for (int i = 0; i < 40; ++i)
        trail.push_back({2000 + i % 7, i % 2 ? "alice" : "bob", "azb", "pacer", "alice-pacer", "firm-42", "GET",
                         "/cgi-bin/iquery.pl?" + std::to_string(i), 200, 100 + i, i});
    src.append_audit(trail);

    const auto d = src.export_all();
    EXPECT_EQ(d.users.size(), 2u);
    EXPECT_EQ(d.pacer.size(), 2u);
    EXPECT_EQ(d.ecf.size(), 2u) << "the linked court's login went with the link";
    EXPECT_EQ(d.links.size(), 1u);
    EXPECT_EQ(d.observations.size(), 2u);
    EXPECT_EQ(d.fees.size(), 4u);
    EXPECT_EQ(d.audit.size(), 40u);
    EXPECT_EQ(d.audit[1].path, trail[1].path) << "the trail in the order it was written";
    std::int64_t highest_row = 0;
    for (const auto& p : d.pacer) highest_row = std::max(highest_row, p.revision);
    for (const auto& e : d.ecf) highest_row = std::max(highest_row, e.revision);
    EXPECT_GT(d.revision_counter, highest_row);
    // Nothing in the dump is in clear: the secrets are the sealed bytes as stored.
    for (const auto& p : d.pacer) {
        EXPECT_EQ(p.password.find("pacer-pw"), std::string::npos);
        EXPECT_EQ(p.totp_secret.find("JBSWY3DP"), std::string::npos);
    }
    EXPECT_FALSE(d.pacer[0].totp_secret.empty());
    EXPECT_TRUE(d.pacer[1].totp_secret.empty());

    // Into a new file store made 0600, under the same key.
    const auto file = dir.path() / "copy.db";
    auto dst = sqlite_store::open_file(file, secret_box{key_of(11)});
    EXPECT_EQ(mode_of(file), 0600u);
    dst->import_all(d);
    EXPECT_EQ(everything(*dst), everything(src));
    EXPECT_NE(everything(*dst).find("Alice-pacer-pw-0001"), std::string::npos) << "the passwords open";
    EXPECT_EQ(dst->export_all().pacer[0].password, d.pacer[0].password) << "copied sealed, never sealed again";
    EXPECT_EQ(dst->user_for_token(t_alice), "alice");
    EXPECT_EQ(dst->user_for_token(t_bob), "bob");
    EXPECT_EQ(dst->latest_quote("alice", "azb", "/doc1/77"), 120);
    EXPECT_FALSE(dst->latest_quote("bob", "nysd", "/doc1/90")) << "charged already";
    EXPECT_TRUE(dst->linked("bob", "nysd"));

    // The counter goes on past the copied one, even past a revision no row holds any more.
    dst->set_pacer(make_pacer("alice", "Alice-new-pw-00003"));
    EXPECT_GT(dst->pacer("alice")->revision, d.revision_counter);

    // Only into a new store: one holding a user (or, after removing it, its ledger) is refused whole.
    expect_store_error([&] { dst->import_all(d); }, "is not empty (users: 2");
    sqlite_store other(":memory:", secret_box{key_of(11)});
    (void)other.add_user("carol");
    expect_store_error([&] { other.import_all(d); }, "is not empty (users: 1, fee entries: 0, audit records: 0)");
    EXPECT_EQ(other.users().size(), 1u);
    other.remove_user("carol");
    other.record_fee({1, "carol", "azb", "c", "", "Docket Report", "", 1, 10, false, false, "/x"});
    expect_store_error([&] { other.import_all(d); }, "fee entries: 1");
    EXPECT_TRUE(other.users().empty()) << "nothing of a refused copy stays";

    // An empty store copies to an empty store.
    sqlite_store empty(":memory:", secret_box{key_of(11)});
    sqlite_store empty_copy(":memory:", secret_box{key_of(11)});
    empty_copy.import_all(empty.export_all());
    EXPECT_EQ(everything(empty_copy), "");
}
