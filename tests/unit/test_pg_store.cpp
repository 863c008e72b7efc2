// pg_store against a real PostgreSQL 15 server, started once per test process in a private
// temporary directory (initdb + pg_ctl, trust authentication, 127.0.0.1 on a free port). Each
// test gets its own database. Without the server binaries the tests are skipped.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "core/text.hpp"
#include "store/pg_store.hpp"
#include "store_test_support.hpp"
#include "store/sqlite_store.hpp"

using namespace courtroute;
namespace fs = std::filesystem;
using namespace courtroute::store_test;
using namespace std::chrono_literals;

namespace {

const fs::path pg_bin = "/usr/lib/postgresql/15/bin";

/// A TCP port nobody listens on right now (bound to port 0, then released).
int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) ::close(fd);
    return port;
}

/// Runs `argv` (an absolute program path first) in `cwd` with its output appended to `log`, as
/// the `postgres` user when we are root (PostgreSQL refuses to run as root). The exit status, or
/// -1. No shell: the arguments need no quoting.
int run(std::vector<std::string> argv, const fs::path& cwd, const fs::path& log) {
    if (::geteuid() == 0) argv.insert(argv.begin(), {"/usr/sbin/runuser", "-u", "postgres", "--"});
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd < 0 || ::dup2(fd, 1) < 0 || ::dup2(fd, 2) < 0 || ::chdir(cwd.c_str()) != 0) ::_exit(126);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// A plain libpq connection for looking behind the store's back.
class raw_conn {
public:
    explicit raw_conn(const std::string& url) : c_(PQconnectdb(url.c_str())) {}
    ~raw_conn() { PQfinish(c_); }
    raw_conn(const raw_conn&) = delete;
    raw_conn& operator=(const raw_conn&) = delete;

    [[nodiscard]] bool ok() const { return PQstatus(c_) == CONNECTION_OK; }
    [[nodiscard]] std::string error() const { return PQerrorMessage(c_); }
    [[nodiscard]] PGconn* get() const { return c_; }

    /// Every row's cells as text; a failure is reported to gtest and gives no rows.
    std::vector<std::vector<std::string>> query(const std::string& sql) {
        std::unique_ptr<PGresult, decltype(&PQclear)> r{PQexec(c_, sql.c_str()), &PQclear};
        const auto st = PQresultStatus(r.get());
        std::vector<std::vector<std::string>> rows;
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
            ADD_FAILURE() << sql << ": " << PQresultErrorMessage(r.get());
            return rows;
        }
        for (int i = 0; i < PQntuples(r.get()); ++i) {
            rows.emplace_back();
            for (int j = 0; j < PQnfields(r.get()); ++j)
                rows.back().emplace_back(PQgetvalue(r.get(), i, j), static_cast<std::size_t>(PQgetlength(r.get(), i, j)));
        }
        return rows;
    }
    /// The first cell, or "".
    std::string scalar(const std::string& sql) {
        auto rows = query(sql);
        return rows.empty() || rows[0].empty() ? std::string() : rows[0][0];
    }

private:
    PGconn* c_;
};

/// The PostgreSQL server of this test process, started on first use.
class pg_server {
public:
    static pg_server& get() {
        static pg_server s;
        return s;
    }
    ~pg_server() { stop(); }
    pg_server(const pg_server&) = delete;
    pg_server& operator=(const pg_server&) = delete;

    /// Why the tests are skipped (the server binaries are not installed), or "".
    [[nodiscard]] const std::string& skip_reason() const { return skip_; }
    /// Why the server did not start, or "".
    [[nodiscard]] const std::string& error() const { return error_; }
    [[nodiscard]] int port() const { return port_; }
    [[nodiscard]] const std::string& version() const { return version_; }
    [[nodiscard]] bool started() const { return started_; }

    /// The URL of database `db` as the trusted superuser.
    [[nodiscard]] std::string url(const std::string& db) const {
        return "postgresql://courtroute@127.0.0.1:" + std::to_string(port_) + "/" + db;
    }
    /// A fresh, empty database for one test; its name.
    std::string new_database() {
        const std::string name = "t_" + std::to_string(++databases_);
        (void)admin_->query("CREATE DATABASE " + name);
        return name;
    }

    void stop() {
        if (!started_) return;
        started_ = false;
        admin_.reset();
        (void)run({(pg_bin / "pg_ctl").string(), "-D", (dir_ / "data").string(), "-m", "immediate", "-w", "stop"},
                  dir_, dir_ / "setup.log");
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

private:
    pg_server() { start(); }

    void start() {
        if (!fs::exists(pg_bin / "initdb") || !fs::exists(pg_bin / "pg_ctl")) {
            skip_ = "no PostgreSQL 15 server in " + pg_bin.string() + " (apt-get install postgresql-15)";
            return;
        }
        char tmpl[] = "/tmp/courtroute-pg-XXXXXX";
        if (!::mkdtemp(tmpl)) {
            error_ = "mkdtemp failed";
            return;
        }
        dir_ = tmpl;
        if (::geteuid() == 0) {
            const passwd* pw = ::getpwnam("postgres");
            if (!pw || ::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
                error_ = "running as root, but cannot hand " + dir_.string() + " to the postgres user";
                return;
            }
        }
        ::chmod(dir_.c_str(), 0700);
        // --locale=C: the machine's locale may not be generated; the store sorts with COLLATE "C" anyway.
        if (run({(pg_bin / "initdb").string(), "-D", (dir_ / "data").string(), "-A", "trust", "-U", "courtroute",
                 "--no-sync", "-E", "UTF8", "--locale=C"},
                dir_, dir_ / "setup.log") != 0) {
            error_ = "initdb failed: " + read_all(dir_ / "setup.log");
            return;
        }
        for (int attempt = 0; attempt < 3 && !started_; ++attempt) { // a port may be taken meanwhile
            port_ = free_port();
            const std::string options = "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) + " -k " +
                                        dir_.string() + " -c fsync=off";
            started_ = run({(pg_bin / "pg_ctl").string(), "-D", (dir_ / "data").string(), "-o", options, "-w", "-l",
                            (dir_ / "server.log").string(), "start"},
                           dir_, dir_ / "setup.log") == 0;
        }
        if (!started_) {
            error_ = "pg_ctl start failed: " + read_all(dir_ / "setup.log") + read_all(dir_ / "server.log");
            return;
        }
        admin_ = std::make_unique<raw_conn>(url("postgres"));
        if (!admin_->ok()) {
            error_ = "cannot connect to the test server: " + admin_->error();
            return;
        }
        const int v = PQserverVersion(admin_->get());
        version_ = std::to_string(v / 10000) + "." + std::to_string(v % 10000);
    }

    std::string skip_, error_, version_;
    fs::path dir_;
    int port_ = 0;
    bool started_ = false;
    int databases_ = 0;
    std::unique_ptr<raw_conn> admin_;
};

/// Stops the server after the last test and says what ran against it.
class pg_environment : public testing::Environment {
public:
    void TearDown() override {
        auto& srv = pg_server::get();
        if (!srv.started()) return;
        const auto* u = testing::UnitTest::GetInstance();
        std::printf("pg_store: %d tests (%d passed, %d failed, %d skipped) against PostgreSQL %s on 127.0.0.1:%d\n",
                    u->test_to_run_count(), u->successful_test_count(), u->failed_test_count(),
                    u->skipped_test_count(), srv.version().c_str(), srv.port());
        srv.stop();
    }
};
[[maybe_unused]] testing::Environment* const environment = testing::AddGlobalTestEnvironment(new pg_environment);

/// Raw bytes of a BYTEA cell read as text (`\x0a1b...`).
std::string unhex_bytea(const std::string& cell) {
    std::size_t n = 0;
    std::unique_ptr<unsigned char, decltype(&PQfreemem)> raw{
        PQunescapeBytea(reinterpret_cast<const unsigned char*>(cell.c_str()), &n), &PQfreemem};
    return raw ? std::string(reinterpret_cast<const char*>(raw.get()), n) : std::string();
}


class PgStore : public testing::Test {
protected:
    void SetUp() override {
        auto& srv = pg_server::get();
        if (!srv.skip_reason().empty()) GTEST_SKIP() << srv.skip_reason();
        ASSERT_EQ(srv.error(), "");
        url_ = srv.url(srv.new_database());
    }
    [[nodiscard]] std::unique_ptr<pg_store> open(unsigned char key = 1) const {
        return std::make_unique<pg_store>(url_, "", secret_box{key_of(key)});
    }
    std::string url_;
};

} // namespace

TEST(PgStoreRedact, PasswordsLeaveUrlsAndKeywordStrings) {
    EXPECT_EQ(pg_store::redact_conninfo("postgresql://alice:s3cret@db.example:5432/courtroute?sslmode=require"),
              "postgresql://alice@db.example:5432/courtroute?sslmode=require");
    EXPECT_EQ(pg_store::redact_conninfo("postgres://alice:p@ss/w:rd@db/x"), "postgres://alice@db/x");
    EXPECT_EQ(pg_store::redact_conninfo("postgresql://db/x?password=hunter2&sslmode=verify-full"),
              "postgresql://db/x?sslmode=verify-full");
    EXPECT_EQ(pg_store::redact_conninfo("postgresql://alice@db/x"), "postgresql://alice@db/x");
    EXPECT_EQ(pg_store::redact_conninfo("host=db user=alice password='a b\\' c' dbname=x"), "host=db user=alice dbname=x");
    EXPECT_EQ(pg_store::redact_conninfo("host=db password = hunter2 dbname=x"), "host=db dbname=x");
    EXPECT_EQ(pg_store::redact_conninfo("courtroute"), "courtroute");
    EXPECT_EQ(pg_store::redact_conninfo("host=db password='unterminated").find("unterminated"), std::string::npos);
}

TEST_F(PgStore, UsersAddRotateRemove) {
    auto s = open();
    EXPECT_TRUE(s->users().empty());
    const auto t_alice = s->add_user("alice");
    const auto t_bob = s->add_user("Bob");
    EXPECT_EQ(t_alice.rfind("crt_", 0), 0u);
    EXPECT_EQ(t_alice.size(), 4u + 43u);
    const auto users = s->users();
    ASSERT_EQ(users.size(), 2u);
    EXPECT_EQ(users[0].name, "Bob") << "byte order, as SQLite sorts";
    EXPECT_EQ(users[1].name, "alice");
    EXPECT_GT(users[0].created_at, 1600000000);
    EXPECT_LE(users[0].created_at, unix_now());
    EXPECT_TRUE(s->has_user("alice"));
    EXPECT_FALSE(s->has_user("carol"));
    EXPECT_FALSE(s->has_user("bad name"));

    EXPECT_EQ(s->user_for_token(t_alice), "alice");
    EXPECT_EQ(s->user_for_token(t_bob), "Bob");
    EXPECT_FALSE(s->user_for_token(""));
    EXPECT_FALSE(s->user_for_token(t_alice + "x"));
    const auto t_alice2 = s->rotate_user("alice");
    EXPECT_NE(t_alice2, t_alice);
    EXPECT_FALSE(s->user_for_token(t_alice)) << "the old token stops at once";
    EXPECT_EQ(s->user_for_token(t_alice2), "alice");

    s->remove_user("Bob");
    EXPECT_FALSE(s->has_user("Bob"));
    EXPECT_FALSE(s->user_for_token(t_bob));
    EXPECT_EQ(s->users().size(), 1u);

    expect_store_error([&] { (void)s->add_user("alice"); }, "user 'alice' already exists");
    expect_store_error([&] { (void)s->add_user("a b"); }, "invalid user name 'a b'");
    expect_store_error([&] { (void)s->add_user("evil\nline"); }, "invalid user name 'evil?line'");
    expect_store_error([&] { (void)s->rotate_user("bob"); }, "user 'bob' does not exist");
    expect_store_error([&] { s->remove_user("bob"); }, "user 'bob' does not exist");
}

TEST_F(PgStore, OnlyTheTokenHashAndSealedSecretsAreStored) {
    auto s = open();
    const auto token = s->add_user("alice");
    const std::string pw = "Pw-7f3c9a1e-do-not-leak", totp = "KRSXG5CTMVRXEZLUKN2XAZLSON2GS3TH";
    const std::string ecf_pw = "Ecf-pw-0b5d22e8-hidden";
    s->set_pacer(make_pacer("alice", pw, totp));
    s->set_ecf("alice", "azb", "alice_azb", ecf_pw);

    raw_conn raw(url_);
    ASSERT_TRUE(raw.ok()) << raw.error();
    EXPECT_EQ(raw.scalar("SELECT token_hash FROM users WHERE name = 'alice'"), hex_encode(sha256(token)));
    std::string everything;
    for (const char* table : {"users", "pacer_logins", "ecf_logins"})
        for (auto& row : raw.query(std::string("SELECT row_to_json(t)::text FROM ") + table + " t")) everything += row[0];
    EXPECT_NE(everything.find("alice_azb"), std::string::npos) << "the scan sees clear columns";
    for (const auto& secret : {token.substr(4), pw, totp, ecf_pw})
        EXPECT_EQ(everything.find(secret), std::string::npos) << "found in clear";

    // The same sealed blobs as the SQLite store: nonce || ciphertext || tag under the same contexts.
    secret_box box{key_of(1)};
    EXPECT_EQ(box.open(unhex_bytea(raw.scalar(R"(SELECT password FROM pacer_logins WHERE "user" = 'alice')")),
                       "pacer.password:alice"),
              pw);
    EXPECT_EQ(box.open(unhex_bytea(raw.scalar(R"(SELECT totp_secret FROM pacer_logins WHERE "user" = 'alice')")),
                       "pacer.totp:alice"),
              totp);
    EXPECT_EQ(box.open(unhex_bytea(raw.scalar(R"(SELECT password FROM ecf_logins WHERE "user" = 'alice')")),
                       "ecf.password:alice:azb"),
              ecf_pw);
}

TEST_F(PgStore, PacerSealedOpenedRevisionsAndStaleMarks) {
    auto s = open();
    (void)s->add_user("alice");
    EXPECT_FALSE(s->pacer("alice"));
    expect_store_error([&] { s->set_pacer(make_pacer("bob", "pw")); }, "user 'bob' does not exist");
    expect_store_error([&] { s->set_pacer(make_pacer("alice", "")); }, "'alice'");
    auto in = make_pacer("alice", "p@ss:word w/ spaces", "JBSWY3DPEHPK3PXP");
    in.shared = true;
    const auto before = unix_now();
    s->set_pacer(in);
    auto p = s->pacer("alice");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->login, "alice-pacer");
    EXPECT_EQ(p->password, "p@ss:word w/ spaces");
    EXPECT_EQ(p->totp_secret, "JBSWY3DPEHPK3PXP");
    EXPECT_EQ(p->client_code, "firm-42");
    EXPECT_TRUE(p->shared);
    EXPECT_TRUE(p->has_totp);
    EXPECT_GE(p->password_set_at, before);
    const auto sealed = s->pacer("alice", secrets::sealed);
    EXPECT_EQ(sealed->password, "");
    EXPECT_EQ(sealed->totp_secret, "");
    EXPECT_TRUE(sealed->has_totp);

    const auto r1 = p->revision;
    s->mark_pacer("alice", r1, credential_state::failed, "Invalid username or password");
    EXPECT_EQ(s->pacer("alice")->state, credential_state::failed);
    EXPECT_EQ(s->pacer("alice")->state_detail, "Invalid username or password");
    s->set_ecf("alice", "azb", "l", "p"); // takes a revision from the same store-wide counter
    const auto ecf_revision = s->ecf("alice", "azb")->revision;
    EXPECT_GT(ecf_revision, r1);
    s->set_pacer(make_pacer("alice", "two"));
    p = s->pacer("alice");
    EXPECT_GT(p->revision, ecf_revision);
    EXPECT_EQ(p->state, credential_state::active);
    EXPECT_FALSE(p->has_totp) << "replacing drops the TOTP secret when none is given";
    s->mark_pacer("alice", r1, credential_state::failed, "stale");
    EXPECT_EQ(s->pacer("alice")->state, credential_state::active) << "a stale attempt marks nothing";
    s->mark_pacer("alice", p->revision, credential_state::mfa_required, "one-time code requested");
    EXPECT_EQ(s->pacer("alice")->state, credential_state::mfa_required);
    EXPECT_EQ(s->pacer("alice")->revision, p->revision) << "marking does not bump";
    s->mark_pacer("nobody", 1, credential_state::failed, "x");
}

TEST_F(PgStore, EcfLoginsListRemoveAndRevisionsNeverReused) {
    auto s = open();
    (void)s->add_user("alice");
    s->set_ecf("alice", "cacb", "alice_cacb", "cacb-pass");
    s->set_ecf("alice", "azb", "alice_azb", "azb-pass");
    auto e = s->ecf("alice", "azb");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->login, "alice_azb");
    EXPECT_EQ(e->password, "azb-pass");
    EXPECT_EQ(s->ecf("alice", "azb", secrets::sealed)->password, "");
    const auto all = s->ecf_logins("alice");
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].court, "azb");
    EXPECT_EQ(all[1].password, "cacb-pass");

    const auto r1 = e->revision;
    s->mark_ecf("alice", "azb", r1, credential_state::failed, "Login failed");
    EXPECT_EQ(s->ecf("alice", "azb")->state, credential_state::failed);
    EXPECT_TRUE(s->remove_ecf("alice", "azb"));
    EXPECT_FALSE(s->remove_ecf("alice", "azb"));
    EXPECT_FALSE(s->ecf("alice", "azb"));
    s->set_ecf("alice", "azb", "l", "again");
    EXPECT_GT(s->ecf("alice", "azb")->revision, r1);
    s->mark_ecf("alice", "azb", r1, credential_state::failed, "stale");
    EXPECT_EQ(s->ecf("alice", "azb")->state, credential_state::active);

    expect_store_error([&] { s->set_ecf("bob", "azb", "l", "p"); }, "user 'bob' does not exist");
    expect_store_error([&] { s->set_ecf("alice", "AZB", "l", "p"); }, "invalid court id 'AZB'");
    expect_store_error([&] { s->set_ecf("alice", "azb", "l", ""); }, "is empty");
}

TEST_F(PgStore, LinksDeleteTheEcfLoginAndRemoveUserCascades) {
    auto s = open();
    (void)s->add_user("alice");
    s->set_pacer(make_pacer("alice", "pw"));
    s->set_ecf("alice", "azb", "l", "azb-pass");
    s->set_ecf("alice", "cacb", "l", "cacb-pass");
    const auto before = unix_now();
    s->record_link("alice", "azb");
    EXPECT_TRUE(s->linked("alice", "azb"));
    EXPECT_FALSE(s->ecf("alice", "azb")) << "deleted with the link";
    EXPECT_TRUE(s->ecf("alice", "cacb"));
    const auto links = s->links("alice");
    ASSERT_EQ(links.size(), 1u);
    EXPECT_EQ(links[0].court, "azb");
    EXPECT_GE(links[0].linked_at, before);
    expect_store_error([&] { s->record_link("alice", "azb"); }, "a link is already recorded for 'alice' at 'azb'");
    expect_store_error([&] { s->record_link("bob", "azb"); }, "user 'bob' does not exist");
    EXPECT_TRUE(s->remove_link("alice", "azb"));
    EXPECT_FALSE(s->remove_link("alice", "azb"));
    EXPECT_FALSE(s->linked("alice", "azb"));

    s->record_link("alice", "ohnd");
    s->record_observation("alice", "ohnd", true, 1700000000, "page");
    s->remove_user("alice");
    (void)s->add_user("alice"); // a new user of the same name inherits nothing
    EXPECT_FALSE(s->pacer("alice"));
    EXPECT_TRUE(s->ecf_logins("alice").empty());
    EXPECT_TRUE(s->links("alice").empty());
    EXPECT_TRUE(s->observations("alice").empty());
}

TEST_F(PgStore, Observations) {
    auto s = open();
    (void)s->add_user("alice");
    s->record_observation("alice", "azb", false, 1700000000, "page");
    s->record_observation("alice", "cacb", true, 1700000050, "verify");
    s->record_observation("alice", "azb", true, 1700000100, "verify"); // replaces
    const auto o = s->observations("alice");
    ASSERT_EQ(o.size(), 2u);
    EXPECT_EQ(o[0].court, "azb");
    EXPECT_TRUE(o[0].filing_menus);
    EXPECT_EQ(o[0].observed_at, 1700000100);
    EXPECT_EQ(o[0].source, "verify");
    EXPECT_EQ(o[1].court, "cacb");
    expect_store_error([&] { s->record_observation("nobody", "azb", true, 1, "page"); }, "nobody");
    expect_store_error([&] { s->record_observation("alice", "AZB;", true, 1, "page"); }, "court");
}

TEST_F(PgStore, FeeLedgerQuotesChargesAndFilters) {
    auto s = open();
    (void)s->add_user("alice");
    const fees::entry docket{1000, "alice", "azb", "alice01", "m/1", "Docket Report", "1:24", 3, 30, false, false,
                             "/cgi-bin/DktRpt.pl"};
    const fees::entry old_quote{1005, "alice", "azd", "alice01", "m/2", "Image 4-1", "2:24", 11, 110, true, false,
                                "/doc1/77"};
    const fees::entry quote{1010, "alice", "azd", "alice01", "m/2", "Image 4-1", "2:24", 12, 120, true, true,
                            "/doc1/77"};
    const fees::entry other{2000, "bob", "azb", "bob01", "", "Docket Report", "1:24", 1, 10, false, false,
                            "/cgi-bin/DktRpt.pl"};
    for (const auto& e : {docket, old_quote, quote, other}) s->record_fee(e);
    EXPECT_EQ(s->latest_quote("alice", "azd", "/doc1/77"), 120);
    EXPECT_FALSE(s->latest_quote("alice", "azd", "/doc1/78"));
    EXPECT_FALSE(s->charge_quote("bob", "azd", "/doc1/77", 1020)) << "another user's quote";
    EXPECT_EQ(s->charge_quote("alice", "azd", "/doc1/77", 1030), 120) << "the latest quote";
    EXPECT_EQ(s->latest_quote("alice", "azd", "/doc1/77"), 110);
    EXPECT_EQ(s->charge_quote("alice", "azd", "/doc1/77", 1040), 110);
    EXPECT_FALSE(s->charge_quote("alice", "azd", "/doc1/77", 1050)) << "each charged once";

    const auto all = s->fee_entries({});
    ASSERT_EQ(all.size(), 4u);
    EXPECT_EQ(all[0].description, "Docket Report");
    EXPECT_EQ(all[1].at, 1030);
    EXPECT_FALSE(all[1].quote);
    EXPECT_TRUE(all[1].estimated);
    EXPECT_EQ(all[1].pages, 12);
    EXPECT_EQ(all[1].path, "/doc1/77");
    store::fee_filter f;
    f.user = "alice";
    EXPECT_EQ(s->fee_entries(f).size(), 3u);
    f.client_code = "m/2";
    EXPECT_EQ(s->fee_entries(f).size(), 2u);
    f = {};
    f.court = "azb";
    EXPECT_EQ(s->fee_entries(f).size(), 2u);
    f.client_code = "";
    ASSERT_EQ(s->fee_entries(f).size(), 1u);
    EXPECT_EQ(s->fee_entries(f)[0].user, "bob");
    f = {};
    f.since = 1030;
    f.until = 2000;
    EXPECT_EQ(s->fee_entries(f).size(), 2u) << "since <= at < until";
    s->remove_user("alice"); // the firm still owes what was charged
    EXPECT_EQ(s->fee_entries({}).size(), 4u);
}

TEST_F(PgStore, AuditThousandRowsFiltersAndPrune) {
    auto s = open();
    std::vector<audit_record> rows;
    for (int i = 0; i < 1000; ++i)
        rows.push_back({1000 + i, i % 2 ? "alice" : "bob", i % 3 ? "azb" : "azd", "pacer", "alice01", "m/1", "GET",
                        "/cgi-bin/DktRpt.pl", 200, 1234 + i, 12});
    rows.push_back({5000, "alice", "azb", "pacer", "", "", "GET", std::string("/odd\xff\0path", 10), 404, 0, 1});
    s->append_audit(rows);
    s->append_audit({});
    const auto all = s->audit_records({});
    ASSERT_EQ(all.size(), 1001u);
    EXPECT_EQ(all[0].at, 1000);
    EXPECT_EQ(all[999].bytes, 1234 + 999);
    EXPECT_EQ(all[1000].path, "/odd\xEF\xBF\xBD\xEF\xBF\xBDpath") << "bytes PostgreSQL text cannot hold become U+FFFD";
    EXPECT_EQ(all[1000].status, 404);
    store::audit_filter f;
    f.user = "alice";
    EXPECT_EQ(s->audit_records(f).size(), 501u);
    f.court = "azd";
    for (const auto& r : s->audit_records(f)) EXPECT_TRUE(r.user == "alice" && r.court == "azd");
    EXPECT_EQ(s->audit_records(f).size(), 167u);
    f = {};
    f.since = 1990;
    EXPECT_EQ(s->audit_records(f).size(), 11u);
    EXPECT_EQ(s->prune_audit(1100, 40), 40) << "a chunk at a time";
    EXPECT_EQ(s->prune_audit(1100, 1000), 60);
    EXPECT_EQ(s->prune_audit(1100, 1000), 0);
    EXPECT_EQ(s->audit_records({}).size(), 901u);
    EXPECT_EQ(s->audit_records({}).front().at, 1100);
}

TEST_F(PgStore, DataVersionMovesOnAnotherConnectionsWritesAndNotifies) {
    auto reader = open();
    auto writer = open();
    raw_conn listener(url_);
    ASSERT_TRUE(listener.ok());
    (void)listener.query("LISTEN courtroute_changes");

    const auto v0 = reader->data_version();
    (void)reader->users();
    (void)reader->has_user("alice");
    EXPECT_EQ(reader->data_version(), v0) << "reads change nothing";
    (void)writer->add_user("alice");
    const auto v1 = reader->data_version();
    EXPECT_NE(v1, v0);
    writer->record_fee({1, "alice", "azb", "l", "", "d", "c", 1, 10, false, false, "/p"});
    writer->append_audit({{1, "alice", "azb", "pacer", "l", "", "GET", "/p", 200, 1, 1}});
    EXPECT_EQ(reader->data_version(), v1) << "the ledger and the audit trail are not watched";
    writer->set_ecf("alice", "azb", "l", "p");
    const auto v2 = reader->data_version();
    EXPECT_NE(v2, v1);
    writer->record_observation("alice", "azb", true, 1, "page");
    EXPECT_NE(reader->data_version(), v2);

    // LISTENers hear every change, with the version as payload.
    std::string last_payload;
    const auto deadline = std::chrono::steady_clock::now() + 2s;
    while (last_payload != std::to_string(reader->data_version()) && std::chrono::steady_clock::now() < deadline) {
        const int fd = PQsocket(listener.get());
        fd_set set;
        FD_ZERO(&set);
        FD_SET(fd, &set);
        timeval tv{0, 100'000};
        (void)::select(fd + 1, &set, nullptr, nullptr, &tv);
        PQconsumeInput(listener.get());
        while (PGnotify* n = PQnotifies(listener.get())) {
            EXPECT_STREQ(n->relname, "courtroute_changes");
            last_payload = n->extra;
            PQfreemem(n);
        }
    }
    EXPECT_EQ(last_payload, std::to_string(reader->data_version()));
}

TEST_F(PgStore, SecretsDoNotOpenWithAnotherKeyOrInAnotherRow) {
    const std::string pw = "Sup3rSecretPw!";
    {
        auto s = open(1);
        (void)s->add_user("alice");
        (void)s->add_user("mallory");
        s->set_pacer(make_pacer("alice", pw, "JBSWY3DPEHPK3PXP"));
        s->set_pacer(make_pacer("mallory", "mallory-pw"));
        s->set_ecf("alice", "azb", "l", pw);
    }
    auto other = open(2);
    EXPECT_TRUE(other->has_user("alice")) << "non-secret data still readable";
    EXPECT_EQ(other->pacer("alice", secrets::sealed)->login, "alice-pacer");
    for (const auto& f : std::vector<std::function<void()>>{[&] { (void)other->pacer("alice"); },
                                                            [&] { (void)other->ecf("alice", "azb"); },
                                                            [&] { (void)other->ecf_logins("alice"); }}) {
        const auto msg = expect_store_error(f, "(wrong key file?)");
        EXPECT_NE(msg.find("cannot decrypt"), std::string::npos) << msg;
        EXPECT_NE(msg.find("'alice'"), std::string::npos) << msg;
        EXPECT_EQ(msg.find(pw), std::string::npos);
    }
    raw_conn raw(url_);
    (void)raw.query(R"(UPDATE pacer_logins SET password = (SELECT password FROM pacer_logins WHERE "user" = 'alice')
                       WHERE "user" = 'mallory')");
    auto s = open(1);
    EXPECT_EQ(s->pacer("alice")->password, pw);
    expect_store_error([&] { (void)s->pacer("mallory"); }, "cannot decrypt");
}

TEST_F(PgStore, MigrationRunsOnceEvenWhenDaemonsStartTogether) {
    std::vector<std::thread> threads;
    std::atomic<int> opened{0};
    std::vector<std::string> errors(4);
    for (std::size_t i = 0; i < errors.size(); ++i)
        threads.emplace_back([&, i] {
            try {
                auto s = open();
                ++opened;
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
        });
    for (auto& t : threads) t.join();
    for (const auto& e : errors) EXPECT_EQ(e, "");
    EXPECT_EQ(opened.load(), 4);

    {
        auto s = open();
        (void)s->add_user("alice");
        s->set_pacer(make_pacer("alice", "pw"));
    }
    auto again = open(); // current: opens without migrating again, data kept
    EXPECT_EQ(again->pacer("alice")->password, "pw");
    raw_conn raw(url_);
    EXPECT_EQ(raw.scalar("SELECT value FROM courtroute_meta WHERE name = 'schema_version'"),
              std::to_string(store::schema_version));
    EXPECT_EQ(raw.scalar("SELECT count(*) FROM counters"), "1");
    EXPECT_EQ(raw.scalar("SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%_changed'"), "5");
    again->sync_at_checkpoints_only(); // a no-op here
    EXPECT_TRUE(again->has_user("alice"));
}

TEST_F(PgStore, NewerSchemaRefused) {
    { auto s = open(); }
    raw_conn raw(url_);
    (void)raw.query("UPDATE courtroute_meta SET value = " + std::to_string(store::schema_version + 1));
    const auto msg = expect_store_error([&] { auto s = open(); }, "newer than this courtroute understands");
    EXPECT_NE(msg.find(url_), std::string::npos) << msg;
    EXPECT_NE(msg.find("schema version 6"), std::string::npos) << msg;
}

TEST_F(PgStore, ConnectionErrorsNameTheUrlWithoutThePassword) {
    const int port = free_port();
    const std::string secret = "Hunter2-in-url", separate = "Separate-pw-93";
    const std::string url = "postgresql://courtroute:" + secret + "@127.0.0.1:" + std::to_string(port) + "/t";
    const auto start = std::chrono::steady_clock::now();
    auto msg = expect_store_error([&] { pg_store s(url, separate, secret_box{key_of(1)}); },
                                  "postgresql://courtroute@127.0.0.1:" + std::to_string(port) + "/t");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 6s);
    EXPECT_EQ(msg.find(secret), std::string::npos) << msg;
    EXPECT_EQ(msg.find(separate), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line";

    const std::string keywords = "host=127.0.0.1 port=" + std::to_string(port) + " password=" + secret;
    msg = expect_store_error([&] { pg_store s(keywords, "", secret_box{key_of(1)}); }, "host=127.0.0.1");
    EXPECT_EQ(msg.find(secret), std::string::npos) << msg;

    msg = expect_store_error([&] { pg_store s("postgresql://courtroute:" + secret + "@127.0.0.1:" +
                                                  std::to_string(pg_server::get().port()) + "/no_such_db",
                                              "", secret_box{key_of(1)}); },
                             "no_such_db");
    EXPECT_EQ(msg.find(secret), std::string::npos) << msg;
    msg = expect_store_error([&] { pg_store s("postgresql://u:" + secret + "@[bad", "", secret_box{key_of(1)}); },
                             "postgresql://u@[bad");
    EXPECT_EQ(msg.find(secret), std::string::npos) << msg;
}

TEST_F(PgStore, LockTimeoutFailsFastAndTheConnectionRecovers) {
    auto s = open();
    (void)s->add_user("alice");
    s->set_pacer(make_pacer("alice", "pw"));
    const auto revision = s->pacer("alice")->revision;
    raw_conn holder(url_);
    (void)holder.query("BEGIN");
    (void)holder.query(R"(SELECT 1 FROM pacer_logins WHERE "user" = 'alice' FOR UPDATE)");
    s->set_busy_timeout(0ms);
    const auto start = std::chrono::steady_clock::now();
    expect_store_error([&] { s->mark_pacer("alice", revision, credential_state::failed, "x"); }, "lock timeout");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
    (void)holder.query("ROLLBACK");
    s->set_busy_timeout(store::busy_timeout);
    s->mark_pacer("alice", revision, credential_state::failed, "x");
    EXPECT_EQ(s->pacer("alice")->state, credential_state::failed);

    // The server drops the store's connection: that statement fails, the next one reconnects.
    raw_conn admin(url_);
    (void)admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'courtroute' "
                      "AND datname = current_database()");
    for (int i = 0; i < 100 && admin.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                            "'courtroute' AND datname = current_database()") != "0";
         ++i)
        std::this_thread::sleep_for(20ms);
    try {
        (void)s->users();
    } catch (const store_error& e) {
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
    EXPECT_EQ(s->users().size(), 1u);
}

TEST_F(PgStore, SharedPacerSessionsAndLoginLeases) {
    auto a = open(), b = open();
    EXPECT_TRUE(a->shares_sessions());
    (void)a->add_user("alice");
    const auto now = unix_now();
    EXPECT_FALSE(b->pacer_session("alice", "", 7, now));
    a->put_pacer_session("alice", "", 7, "tok-one", now + 3600);
    auto got = b->pacer_session("alice", "", 7, now);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->token, "tok-one");
    EXPECT_EQ(got->expires_at, now + 3600);
    EXPECT_FALSE(b->pacer_session("alice", "", 8, now)) << "another revision: a replaced password voids it";
    EXPECT_FALSE(b->pacer_session("alice", "matter-1", 7, now)) << "per client code";
    EXPECT_FALSE(b->pacer_session("alice", "", 7, now + 3600)) << "expired";
    // Sealed at rest: the token is not in the table.
    raw_conn raw(url_);
    EXPECT_EQ(raw.query("SELECT position('tok-one' in encode(token, 'escape')) FROM pacer_sessions").at(0).at(0), "0");
    // Withdrawn only when it is still the refused token.
    b->drop_pacer_session("alice", "", "tok-other");
    EXPECT_TRUE(a->pacer_session("alice", "", 7, now));
    b->drop_pacer_session("alice", "", "tok-one");
    EXPECT_FALSE(a->pacer_session("alice", "", 7, now));
    // Publishing for a removed user does nothing (and does not fail).
    a->put_pacer_session("ghost", "", 1, "tok", now + 60);
    EXPECT_FALSE(a->pacer_session("ghost", "", 1, now));
    // The lease: one holder at a time; a closed connection releases it.
    EXPECT_TRUE(a->try_login_lease("pacer:alice:"));
    EXPECT_FALSE(b->try_login_lease("pacer:alice:"));
    EXPECT_TRUE(b->try_login_lease("pacer:bob:"));
    a->release_login_lease("pacer:alice:");
    EXPECT_TRUE(b->try_login_lease("pacer:alice:"));
    b.reset();
    // The server lets go once the holder's backend has seen the connection close: a moment later.
    bool taken = false;
    for (auto until = std::chrono::steady_clock::now() + 5s; !taken && std::chrono::steady_clock::now() < until;) {
        taken = a->try_login_lease("pacer:alice:");
        if (!taken) std::this_thread::sleep_for(20ms);
    }
    EXPECT_TRUE(taken) << "a dead holder leaves no stuck lease";
}

TEST_F(PgStore, CopySqliteToPostgresAndBackIsEqual) {
    sqlite_store src(":memory:", secret_box{key_of(1)});
    const auto token = src.add_user("alice");
    (void)src.add_user("Bob");
    src.set_pacer(make_pacer("alice", "Alice-pacer-pw-0001", "JBSWY3DPEHPK3PXP"));
    src.set_pacer(make_pacer("Bob", "Bob-pacer-pw-00002"));
    src.mark_pacer("Bob", src.pacer("Bob")->revision, credential_state::mfa_required, "one-time code requested");
    src.set_ecf("alice", "azb", "alice_azb", "ecf-azb-pw");
    src.set_ecf("alice", "nysd", "alice_nysd", "ecf-nysd-pw");
    src.record_link("alice", "nysd");
    src.record_observation("alice", "nysd", true, 1700000100, "verify");
    src.record_fee({1000, "alice", "azb", "alice-pacer", "firm-42", "Image 4-1", "1:24", 12, 120, true, false, "/doc1/77"});
    src.record_fee({1001, "Bob", "azb", "Bob-pacer", "", "Docket Report", "1:24", 2, 20, false, true, "/cgi-bin/DktRpt.pl"});
    std::vector<audit_record> trail; // more than one INSERT's worth of rows
    for (int i = 0; i < 1234; ++i)
        trail.push_back({2000 + i % 10, i % 2 ? "alice" : "Bob", "azb", "pacer", "alice-pacer", "", "GET",
                         "/cgi-bin/iquery.pl", 200, i, 1});
    src.append_audit(trail);
    const auto d = src.export_all();

    auto pg = open();
    pg->import_all(d);
    EXPECT_EQ(everything(*pg), everything(src));
    EXPECT_EQ(pg->user_for_token(token), "alice");
    EXPECT_EQ(pg->latest_quote("alice", "azb", "/doc1/77"), 120);
    const auto from_pg = pg->export_all();
    EXPECT_EQ(from_pg.pacer.at(0).password, d.pacer.at(0).password) << "copied sealed, never sealed again";
    EXPECT_EQ(from_pg.pacer.at(0).totp_secret, d.pacer.at(0).totp_secret);
    EXPECT_EQ(from_pg.revision_counter, d.revision_counter);
    expect_store_error([&] { pg->import_all(d); }, "is not empty (users: 2, fee entries: 2, audit records: 1234)");

    // Shared sessions expire: a copy of the PostgreSQL store starts without them.
    pg->put_pacer_session("alice", "", pg->pacer("alice")->revision, "tok-live", unix_now() + 3600);
    sqlite_store back(":memory:", secret_box{key_of(1)});
    back.import_all(pg->export_all());
    EXPECT_EQ(everything(back), everything(src));
    auto pg2 = std::make_unique<pg_store>(pg_server::get().url(pg_server::get().new_database()), "", secret_box{key_of(1)});
    pg2->import_all(pg->export_all());
    EXPECT_FALSE(pg2->pacer_session("alice", "", pg->pacer("alice")->revision, unix_now()));
    EXPECT_EQ(everything(*pg2), everything(src)) << "PostgreSQL to PostgreSQL";

    // The counter goes on in every copy.
    pg->set_pacer(make_pacer("alice", "Alice-new-pw-00003"));
    back.set_pacer(make_pacer("alice", "Alice-new-pw-00003"));
    EXPECT_GT(pg->pacer("alice")->revision, d.revision_counter);
    EXPECT_GT(back.pacer("alice")->revision, d.revision_counter);
}

TEST_F(PgStore, ChangeFeedAnnouncesOtherConnectionsCommits) {
    auto a = open(), b = open();
    auto feed = a->changes();
    ASSERT_TRUE(feed);
    EXPECT_FALSE(feed->wait(std::chrono::milliseconds(50))) << "nothing changed yet";
    (void)b->add_user("alice");
    EXPECT_TRUE(feed->wait(std::chrono::milliseconds(5000))) << "a user added elsewhere is announced";
    // One commit may announce more than once (a notification per statement): let them all arrive.
    int more = 0;
    while (feed->wait(std::chrono::milliseconds(200)) && more < 10) ++more;
    EXPECT_LT(more, 10) << "the announcements of one commit end";
    b->append_audit({audit_record{1, "alice", "azb", "pacer", "al01", "", "GET", "/x", 200, 1, 1}});
    EXPECT_FALSE(feed->wait(std::chrono::milliseconds(200))) << "the audit trail is not a change a daemon caches";
}
