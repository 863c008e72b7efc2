#include <gtest/gtest.h>

#include "test_support.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "config/settings.hpp"

using namespace courtroute;
namespace fs = std::filesystem;

namespace {

using test::all_errors;
using test::temp_dir;

settings_result load_text(const temp_dir& dir, const std::string& text) {
    return load_settings(dir.write("courtroute.toml", text), true);
}

void expect_defaults(const settings& s) {
    EXPECT_EQ(s.listen_proxy.host, "127.0.0.1");
    EXPECT_EQ(s.listen_proxy.port, 3128);
    EXPECT_EQ(s.registry_dirs,
              (std::vector<fs::path>{"/usr/share/courtroute/courts.d", "/etc/courtroute/courts.d"}));
    EXPECT_EQ(s.state_dir, fs::path("/var/lib/courtroute"));
    EXPECT_TRUE(s.key_file.empty());
    EXPECT_EQ(s.pacer_auth_url, "https://pacer.login.uscourts.gov/services/cso-auth");
    EXPECT_EQ(s.pacer_logout_url, "https://pacer.login.uscourts.gov/services/cso-logout");
    EXPECT_TRUE(s.upstream_ca_file.empty());
    EXPECT_TRUE(s.upstream_resolve.empty());
    EXPECT_EQ(s.unlinked, unlinked_policy::warn);
    EXPECT_EQ(s.other_hosts, other_hosts_policy::refuse);
    EXPECT_TRUE(s.anonymous_user.empty());
}

/// Sets or clears an environment variable for one scope.
class scoped_env {
public:
    scoped_env(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        if (value) ::setenv(name, value, 1);
        else ::unsetenv(name);
    }
    ~scoped_env() {
        if (old_) ::setenv(name_, old_->c_str(), 1);
        else ::unsetenv(name_);
    }
    scoped_env(const scoped_env&) = delete;
    scoped_env& operator=(const scoped_env&) = delete;

private:
    const char* name_;
    std::optional<std::string> old_;
};

} // namespace

TEST(Config, DefaultsFromEmptyFile) {
    temp_dir dir;
    auto r = load_text(dir, "# nothing here\n");
    EXPECT_TRUE(r.errors.empty()) << all_errors(r.errors);
    expect_defaults(r.value);
    expect_defaults(settings{});
}

TEST(Config, MissingDefaultPathIsNotAnError) {
    if (fs::exists(default_config_path())) GTEST_SKIP() << "a config is installed at the default path";
    auto r = load_settings(default_config_path(), false);
    EXPECT_TRUE(r.errors.empty()) << all_errors(r.errors);
    expect_defaults(r.value);
    EXPECT_TRUE(r.value.source.empty());

    auto named = load_settings(default_config_path(), true);
    ASSERT_EQ(named.errors.size(), 1u);
    EXPECT_EQ(named.errors[0].to_string().rfind(default_config_path().string() + ":1:1: cannot read config: ", 0), 0u)
        << named.errors[0].to_string();
}

TEST(Config, MissingNamedFileIsAnError) {
    temp_dir dir;
    auto missing = dir.path() / "nope.toml";
    for (bool named : {true, false}) {
        auto r = load_settings(missing, named);
        ASSERT_EQ(r.errors.size(), 1u);
        EXPECT_EQ(r.errors[0].to_string(), missing.string() + ":1:1: cannot read config: No such file or directory");
    }
    // A directory is not a config file either.
    auto r = load_settings(dir.path(), true);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_NE(r.errors[0].message.find("cannot read config"), std::string::npos);
}

TEST(Config, EveryKeyParsed) {
    temp_dir dir;
    auto r = load_text(dir, R"([listen]
proxy = "[::1]:8080"
threads = 3
max_connections = 100

[registry]
dirs = ["/opt/courts.d", "/srv/more.d"]

[state]
dir = "/srv/state"

[secrets]
key_file = "/run/keys/cr.key"

[pacer]
auth_url = "https://qa-login.uscourts.gov/services/cso-auth"
logout_url = "https://qa-login.uscourts.gov:8443/services/cso-logout"

[upstream]
ca_file = "/etc/ssl/extra.pem"
resolve = { "ECF.AZB.uscourts.gov:443" = "127.0.0.1:8443", "pacer.login.uscourts.gov:443" = "[::1]:9443", "ecf.azd.uscourts.gov:443" = "localhost:7443" }

[policy]
unlinked_nextgen = "block"
other_hosts = "tunnel"
anonymous_user = "alice"
)");
    ASSERT_TRUE(r.errors.empty()) << all_errors(r.errors);
    const auto& s = r.value;
    EXPECT_EQ(s.listen_proxy.host, "::1");
    EXPECT_EQ(s.listen_proxy.port, 8080);
    EXPECT_EQ(s.listen_threads, 3u);
    EXPECT_EQ(s.max_connections, 100u);
    EXPECT_EQ(s.registry_dirs, (std::vector<fs::path>{"/opt/courts.d", "/srv/more.d"}));
    EXPECT_EQ(s.state_dir, fs::path("/srv/state"));
    EXPECT_EQ(s.key_file, fs::path("/run/keys/cr.key"));
    EXPECT_EQ(s.effective_key_file(), fs::path("/run/keys/cr.key"));
    EXPECT_EQ(s.database_file(), fs::path("/srv/state/courtroute.db"));
    EXPECT_EQ(s.pacer_auth_url, "https://qa-login.uscourts.gov/services/cso-auth");
    EXPECT_EQ(s.pacer_logout_url, "https://qa-login.uscourts.gov:8443/services/cso-logout");
    EXPECT_EQ(s.upstream_ca_file, fs::path("/etc/ssl/extra.pem"));
    ASSERT_EQ(s.upstream_resolve.size(), 3u);
    EXPECT_EQ(s.upstream_resolve.at("ecf.azd.uscourts.gov:443").to_string(), "localhost:7443") << "names are fine too";
    ASSERT_TRUE(s.upstream_resolve.count("ecf.azb.uscourts.gov:443")) << "keys are stored lower-case";
    EXPECT_EQ(s.upstream_resolve.at("ecf.azb.uscourts.gov:443").to_string(), "127.0.0.1:8443");
    EXPECT_EQ(s.upstream_resolve.at("pacer.login.uscourts.gov:443").host, "::1");
    EXPECT_EQ(s.upstream_resolve.at("pacer.login.uscourts.gov:443").port, 9443);
    EXPECT_EQ(s.unlinked, unlinked_policy::block);
    EXPECT_EQ(s.other_hosts, other_hosts_policy::tunnel);
    EXPECT_EQ(s.anonymous_user, "alice");
    EXPECT_EQ(s.source, dir.path() / "courtroute.toml");
}

TEST(Config, RelativePathsResolveAgainstTheConfigDirectory) {
    temp_dir dir;
    auto file = dir.write("etc/sub/c.toml", R"([registry]
dirs = ["../courts.d", "/abs/courts.d", "local.d"]
[state]
dir = "state"
[secrets]
key_file = "keys/k.key"
[upstream]
ca_file = "../ca.pem"
)");
    auto r = load_settings(file, true);
    ASSERT_TRUE(r.errors.empty()) << all_errors(r.errors);
    const fs::path base = dir.path() / "etc/sub";
    EXPECT_EQ(r.value.registry_dirs,
              (std::vector<fs::path>{dir.path() / "etc/courts.d", "/abs/courts.d", base / "local.d"}));
    EXPECT_EQ(r.value.state_dir, base / "state");
    EXPECT_EQ(r.value.database_file(), base / "state/courtroute.db");
    EXPECT_EQ(r.value.key_file, base / "keys/k.key");
    EXPECT_EQ(r.value.upstream_ca_file, dir.path() / "etc/ca.pem");
}

TEST(Config, RelativeConfigPathFromCwd) {
    temp_dir dir;
    dir.write("conf/c.toml", "[state]\ndir = \"../st\"\n");
    auto old = fs::current_path();
    fs::current_path(dir.path());
    auto r = load_settings("conf/c.toml", true);
    fs::current_path(old);
    ASSERT_TRUE(r.errors.empty()) << all_errors(r.errors);
    // Absolute, so a later chdir (or systemd's WorkingDirectory=) cannot change what it means.
    EXPECT_TRUE(r.value.state_dir.is_absolute());
    EXPECT_EQ(r.value.state_dir, (fs::absolute(dir.path()) / "st").lexically_normal());
}

TEST(Config, EffectiveKeyFile) {
    settings s;
    s.state_dir = "/var/lib/cr";
    {
        scoped_env env("CREDENTIALS_DIRECTORY", nullptr);
        EXPECT_EQ(s.effective_key_file(), fs::path("/var/lib/cr/secret.key"));
    }
    {
        scoped_env env("CREDENTIALS_DIRECTORY", "/run/credentials/courtroute.service");
        EXPECT_EQ(s.effective_key_file(), fs::path("/run/credentials/courtroute.service/courtroute.key"));
        s.key_file = "/etc/cr.key";
        EXPECT_EQ(s.effective_key_file(), fs::path("/etc/cr.key"));
    }
    EXPECT_EQ(s.database_file(), fs::path("/var/lib/cr/courtroute.db"));
}

TEST(Config, Endpoints) {
    struct ok_case {
        const char* text;
        const char* host;
        std::uint16_t port;
        const char* printed;
    };
    for (const auto& c : std::vector<ok_case>{{"127.0.0.1:3128", "127.0.0.1", 3128, "127.0.0.1:3128"},
                                              {"[::1]:443", "::1", 443, "[::1]:443"},
                                              {"[2001:db8::5]:1", "2001:db8::5", 1, "[2001:db8::5]:1"},
                                              {"localhost:65535", "localhost", 65535, "localhost:65535"},
                                              {"ecf.azb.uscourts.gov:443", "ecf.azb.uscourts.gov", 443,
                                               "ecf.azb.uscourts.gov:443"}}) {
        endpoint ep;
        ASSERT_TRUE(parse_endpoint(c.text, ep)) << c.text;
        EXPECT_EQ(ep.host, c.host);
        EXPECT_EQ(ep.port, c.port);
        EXPECT_EQ(ep.to_string(), c.printed);
    }
    for (const char* bad : {"", "127.0.0.1", ":3128", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
                            "127.0.0.1:99999999", "127.0.0.1:+80", "127.0.0.1:http", "::1:3128", "[::1]", "[::1]3128",
                            "[nope]:80", "[::1:80", "bad_host:80", "-x.com:80", "a..b:80", "300.1.1.1:80",
                            "1.2.3.4.5:80"}) {
        endpoint ep{"unchanged", 7};
        EXPECT_FALSE(parse_endpoint(bad, ep)) << bad;
        EXPECT_EQ(ep.host, "unchanged") << bad;
    }
}

TEST(Config, BadSnippetsReportLineAndColumn) {
    struct bad_case {
        const char* toml;
        int line;
        int column;
        const char* fragment;
    };
    const std::vector<bad_case> cases{
        // unknown keys and tables
        {"[listen]\nproxy = \"127.0.0.1:3128\"\nbogus = 1\n", 3, 1, "unknown key 'bogus' in [listen]"},
        {"[listen]\n\n[frobnicate]\nx = 1\n", 3, 2, "unknown table [frobnicate]"},
        {"[listen.extra]\nx = 1\n", 1, 9, "unknown key 'extra' in [listen]"},
        {"proxy = \"127.0.0.1:3128\"\n", 1, 1, "unknown key 'proxy'"},
        {"[policy]\nunlinked = \"warn\"\n", 2, 1, "unknown key 'unlinked' in [policy]"},
        // [fees], [store], [audit]
        {"[fees]\nperiod = \"week\"\n", 2, 10, "[fees] period"},
        {"[fees]\nuser_limit = \"50\"\n", 2, 14, "[fees] user_limit must be an amount in dollars"},
        {"[fees]\nuser_limit = -1\n", 2, 14, "between 0 and 1000000 dollars"},
        {"[fees]\nclient_codes = { \"a b\" = 5 }\n", 2, 18, "is not a valid client code"},
        {"[fees]\nusers = 5\n", 2, 9, "[fees] users must be a table of limits"},
        {"[fees]\nbudget = 5\n", 2, 1, "unknown key 'budget' in [fees]"},
        {"[store]\nurl = \"mysql://u@h/db\"\n", 2, 7, "[store] url: must be empty (the embedded SQLite store) or a postgresql:// URL"},
        {"[store]\nurl = \"postgresql://u:hunter2@h/db\"\n", 2, 7, "[store] url: holds a password: put it in [store] password_file"},
        {"[store]\nurl = \"postgresql://u@h/db?password=hunter2\"\n", 2, 7, "holds a password"},
        {"[store]\nurl = \"postgresql:///db\"\n", 2, 7, "names no host"},
        {"[store]\npassword_file = 5\n", 2, 17, "[store] password_file must be a string"},
        {"[audit]\nretention_days = 0\n", 2, 18, "out of range"},
        // wrong types
        {"[listen]\nproxy = 3128\n", 2, 9, "[listen] proxy must be a string, not an integer"},
        {"listen = 5\n", 1, 10, "[listen] must be a table, not an integer"},
        {"[registry]\ndirs = \"/x\"\n", 2, 8, "[registry] dirs must be an array of strings, not a string"},
        {"[registry]\ndirs = [\"/a\", 5]\n", 2, 15, "dirs entry must be a string, not an integer"},
        {"[registry]\ndirs = [\"\"]\n", 2, 9, "must not be empty"},
        {"[state]\ndir = true\n", 2, 7, "[state] dir must be a string, not a boolean"},
        {"[secrets]\nkey_file = 1.5\n", 2, 12, "[secrets] key_file must be a string, not a float"},
        {"[policy]\nanonymous_user = [\"a\"]\n", 2, 18, "anonymous_user must be a string, not an array"},
        // bad addresses and ports
        {"[listen]\nproxy = \"127.0.0.1\"\n", 2, 9, "the ':port' is missing"},
        {"[listen]\nproxy = \"::1:3128\"\n", 2, 9, "must be written in brackets"},
        {"[listen]\nproxy = \"bad_host:80\"\n", 2, 9, "'bad_host' is not a valid host name or IPv4 address"},
        {"[listen]\nproxy = \"[zz]:80\"\n", 2, 9, "'zz' is not an IPv6 address"},
        {"[listen]\nproxy = \"127.0.0.1:70000\"\n", 2, 9, "port 70000 is out of range 1-65535"},
        {"[listen]\nproxy = \"127.0.0.1:0\"\n", 2, 9, "port 0 is out of range"},
        {"[listen]\nproxy = \"127.0.0.1:http\"\n", 2, 9, "port 'http' is not a number"},
        {"[listen]\nthreads = -1\n", 2, 11, "[listen] threads -1 is out of range 0-256"},
        {"[listen]\nthreads = \"4\"\n", 2, 11, "[listen] threads must be an integer, not a string"},
        {"[listen]\nmax_connections = 0\n", 2, 19, "[listen] max_connections 0 is out of range 1-1000000"},
        // bad URLs
        {"[pacer]\nauth_url = \"http://pacer.login.uscourts.gov/x\"\n", 2, 12, "must be an https:// URL"},
        {"[pacer]\nlogout_url = \"https:///x\"\n", 2, 14, "has no host"},
        {"[pacer]\nauth_url = \"https://u:p@pacer.login.uscourts.gov/\"\n", 2, 12, "must not contain user information"},
        {"[pacer]\nauth_url = \"https://pacer..gov/\"\n", 2, 12, "has a bad host"},
        {"[pacer]\nauth_url = \"https://pacer.login.uscourts.gov:0/\"\n", 2, 12, "has a bad port"},
        {"[pacer]\nauth_url = 7\n", 2, 12, "[pacer] auth_url must be a string"},
        // bad policy values
        {"[policy]\nunlinked_nextgen = \"allow\"\n", 2, 20, "'allow' is not one of \"warn\" | \"block\""},
        {"[policy]\nother_hosts = \"Tunnel\"\n", 2, 15, "'Tunnel' is not one of \"refuse\" | \"tunnel\""},
        // bad resolve entries
        {"[upstream]\nresolve = \"x\"\n", 2, 11, "[upstream] resolve must be a table"},
        {"[upstream]\nresolve = { \"ecf.azb.uscourts.gov\" = \"127.0.0.1:8443\" }\n", 2, 13,
         "resolve key 'ecf.azb.uscourts.gov' is not host:port"},
        {"[upstream]\nresolve = { \"ecf.azb.uscourts.gov:443\" = \"bad_host:8443\" }\n", 2, 42, "is not host:port"},
        {"[upstream]\nresolve = { \"ecf.azb.uscourts.gov:443\" = \"127.0.0.1\" }\n", 2, 42, "is not host:port"},
        {"[upstream]\nresolve = { \"a.b:443\" = 8443 }\n", 2, 25, "must be a string \"host:port\", not an integer"},
        {"[upstream]\nresolve = { \"A.b:443\" = \"127.0.0.1:1\", \"a.B:443\" = \"127.0.0.1:2\" }\n", 2, 40,
         "lists 'a.b:443' twice"},
        // syntax errors come from the parser, at its position
        {"[listen]\nproxy = \"127.0.0.1:3128\n", 2, 24, "string"},
        {"[listen\nproxy = \"x\"\n", 1, 8, "table"},
        {"[state]\ndir = \"a\"\ndir = \"b\"\n", 3, 7, "redefine"},
    };
    temp_dir dir;
    for (const auto& c : cases) {
        auto r = load_text(dir, c.toml);
        ASSERT_EQ(r.errors.size(), 1u) << c.toml << "\n" << all_errors(r.errors);
        const auto& e = r.errors[0];
        EXPECT_EQ(e.file, (dir.path() / "courtroute.toml").string());
        EXPECT_EQ(e.line, c.line) << c.toml << "\n" << e.to_string();
        EXPECT_EQ(e.column, c.column) << c.toml << "\n" << e.to_string();
        EXPECT_NE(e.message.find(c.fragment), std::string::npos) << c.toml << "\n" << e.to_string();
    }
}

TEST(Config, SyntaxErrorsPrintOnOneLine) {
    // Found by fuzz_config: toml++'s description quotes the bad character raw, here a newline.
    temp_dir dir("config");
    auto r = load_text(dir, "[listen]\nthreads = i\n");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].line, 2);
    auto text = r.errors[0].to_string();
    EXPECT_EQ(text.find('\n'), std::string::npos) << text;
    EXPECT_NE(text.find("courtroute.toml:2:"), std::string::npos) << text;
}

TEST(Config, ReportsEveryProblemInFileOrderAndKeepsGoodKeys) {
    temp_dir dir;
    auto r = load_text(dir, R"([policy]
other_hosts = "tunnel"
unlinked_nextgen = "maybe"

[listen]
proxy = "127.0.0.1:99999"
colour = "blue"

[state]
dir = "/srv/ok"

[nonsense]
)");
    ASSERT_EQ(r.errors.size(), 4u) << all_errors(r.errors);
    EXPECT_EQ(r.errors[0].line, 3);
    EXPECT_NE(r.errors[0].message.find("unlinked_nextgen"), std::string::npos);
    EXPECT_EQ(r.errors[1].line, 6);
    EXPECT_NE(r.errors[1].message.find("out of range"), std::string::npos);
    EXPECT_EQ(r.errors[2].line, 7);
    EXPECT_NE(r.errors[2].message.find("colour"), std::string::npos);
    EXPECT_EQ(r.errors[3].line, 12);
    EXPECT_NE(r.errors[3].message.find("nonsense"), std::string::npos);
    // Bad keys keep their defaults; good ones still apply.
    EXPECT_EQ(r.value.unlinked, unlinked_policy::warn);
    EXPECT_EQ(r.value.listen_proxy.port, 3128);
    EXPECT_EQ(r.value.other_hosts, other_hosts_policy::tunnel);
    EXPECT_EQ(r.value.state_dir, fs::path("/srv/ok"));
}

TEST(Config, ShippedConfigsLoad) {
    const fs::path src = COURTROUTE_SOURCE_DIR;
    auto shipped = load_settings(src / "config/courtroute.toml", true);
    EXPECT_TRUE(shipped.errors.empty()) << all_errors(shipped.errors);
    expect_defaults(shipped.value);

    // Every key of the contract is documented in the shipped file (commented out, with its default).
    std::ifstream in(src / "config/courtroute.toml");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const char* line : {"#proxy = \"127.0.0.1:3128\"", "#dirs = [\"/usr/share/courtroute/courts.d\", \"/etc/courtroute/courts.d\"]",
                             "#dir = \"/var/lib/courtroute\"", "#key_file = \"\"",
                             "#auth_url = \"https://pacer.login.uscourts.gov/services/cso-auth\"",
                             "#logout_url = \"https://pacer.login.uscourts.gov/services/cso-logout\"", "#ca_file = \"\"",
                             "#resolve = { }", "#unlinked_nextgen = \"warn\"", "#other_hosts = \"refuse\"",
                             "#anonymous_user = \"\""})
        EXPECT_NE(text.find(line), std::string::npos) << line;

    auto local = load_settings(src / "config/local.toml", true);
    EXPECT_TRUE(local.errors.empty()) << all_errors(local.errors);
    const fs::path root = fs::absolute(src).lexically_normal();
    EXPECT_EQ(local.value.registry_dirs, (std::vector<fs::path>{root / "courts.d"}));
    EXPECT_EQ(local.value.state_dir, root / ".state");
    EXPECT_EQ(local.value.listen_proxy.to_string(), "127.0.0.1:3128");
}

TEST(Config, FeeBudgetsStoreAndAudit) {
    temp_dir dir;
    auto r = load_text(dir, "[store]\nurl = \"\"\n\n[audit]\nretention_days = 30\n\n[fees]\nperiod = \"quarter\"\n"
                            "action = \"block\"\nuser_limit = 50\nclient_code_limit = 12.5\n"
                            "users = { alice = 20, bob = 0.99 }\nclient_codes = { \"smith/0042\" = 100 }\n");
    ASSERT_TRUE(r.errors.empty()) << all_errors(r.errors);
    EXPECT_EQ(r.value.store_url, "");
    EXPECT_EQ(r.value.store_name(), r.value.database_file().string());
    const auto& f = r.value.fees;
    EXPECT_EQ(f.period, fee_budgets::period_kind::quarter);
    EXPECT_EQ(f.action, fee_budgets::action_kind::block);
    EXPECT_EQ(f.user_limit, 5000);
    EXPECT_EQ(f.client_code_limit, 1250);
    EXPECT_EQ(f.users.at("alice"), 2000);
    EXPECT_EQ(f.users.at("bob"), 99);
    EXPECT_EQ(f.client_codes.at("smith/0042"), 10000);
    EXPECT_TRUE(f.any());
    EXPECT_EQ(r.value.audit_retention_days, 30u);
    auto empty = load_text(dir, "[fees]\n");
    ASSERT_TRUE(empty.errors.empty());
    EXPECT_FALSE(empty.value.fees.any()) << "no limit: nothing is counted on the request path";
    EXPECT_EQ(empty.value.audit_retention_days, 400u);
}

TEST(Config, PostgresStore) {
    temp_dir dir;
    auto r = load_text(dir, "[store]\nurl = \"postgresql://courtroute@db.firm.example:5433/courtroute\"\n"
                            "password_file = \"/etc/courtroute/store.password\"\n");
    ASSERT_TRUE(r.errors.empty()) << all_errors(r.errors);
    EXPECT_EQ(r.value.store_url, "postgresql://courtroute@db.firm.example:5433/courtroute");
    EXPECT_EQ(r.value.effective_store_password_file(), "/etc/courtroute/store.password");
    EXPECT_EQ(r.value.store_name(), r.value.store_url);
    // A password never reaches an error message, however the URL holds it.
    for (const char* url : {"postgresql://u:s3cr3t@h/db", "postgres://u@h/db?sslmode=require&password=s3cr3t"}) {
        auto why = store_url_problem(url);
        ASSERT_TRUE(why) << url;
        EXPECT_EQ(why->find("s3cr3t"), std::string::npos);
    }
    EXPECT_FALSE(store_url_problem("postgres://courtroute@127.0.0.1/courtroute?sslmode=verify-full"));
}
