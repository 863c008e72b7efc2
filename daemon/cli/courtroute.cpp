// courtroute: the admin CLI (CONTRACT §7). It works on the store directly, whether or not the
// daemon runs. Exit 0 on success, 1 on failure (one line on stderr naming what and where),
// 2 on a usage error. Secrets come from standard input only, never from argv: an argument is
// visible to every local user in /proc and lands in shell history.
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>

#include "cli/ca_trust.hpp"
#include "cli/secret_input.hpp"
#include "config/settings.hpp"
#include "core/process.hpp"
#include "core/text.hpp"
#include "policy/policy.hpp"
#include "registry/registry.hpp"
#include "cli/daemon_status.hpp"
#include "status/check.hpp"
#include "status/report.hpp"
#include "store/open.hpp"
#include "store/sqlite_store.hpp"
#include "store/store.hpp"
#include "tls/ca_setup.hpp"
#include "tls/local_ca.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;

namespace courtroute::cli {
namespace {

constexpr std::string_view usage_text =
    R"(usage: courtroute [--config FILE] COMMAND ...

Administers courtroute's users, credentials and links. Works on the store directly,
whether or not courtrouted runs; the daemon sees a change on its next request.
Secrets (passwords, TOTP secrets) are read from standard input, one per line, without
echo on a terminal; they are never accepted as arguments.

commands:
  user add NAME            add a user; prints its proxy token once, on the last line
  user rotate NAME         replace a user's token; prints the new one once, on the last line
  user list                list the users
  user remove NAME         remove a user with every credential and link
  pacer set USER --login LOGIN [--client-code CODE] [--shared] [--totp] [--password-set DATE]
                           store USER's PACER login; stdin line 1: the password,
                           line 2 with --totp: the base32 TOTP secret; --password-set YYYY-MM-DD
                           when the password was set elsewhere (PACER's 180-day rule; default today)
  ecf set USER COURT --login LOGIN
                           store USER's court-issued CM/ECF login at COURT; stdin: the password
  link USER COURT [--verify]
                           record that USER linked the CM/ECF account at NextGen COURT to the
                           PACER account (deletes the court's stored CM/ECF login); with
                           --verify only when the court shows the filing menus
  unlink USER COURT        delete a recorded link
  verify USER [COURT...]   ask each NextGen court (through the running daemon and USER's PACER
                           session) whether it shows the filing menus: linked or not, what it
                           showed, and the next step; without COURT the courts USER uses
  status [--json] [--user USER]
                           what to do, worst first, each line ending with the next step,
                           then each user's courts; --json: the JSON of /status
  courts [--system nextgen|legacy] [--type district|bankruptcy|appellate|other]
                           the court registry as a table (systems in force today)
  fees [--user U] [--client-code C] [--court C] [--since DATE] [--until DATE]
       [--by user|client-code|court|day] [--csv|--json]
                           the PACER fee ledger from the courts' Transaction Receipts: charges
                           (a document's quote counts once its PDF is fetched), totals, and
                           each login's quarterly bill with PACER's $30 waiver
  audit [--user U] [--court C] [--since DATE] [--json]
                           who reached which court, when and how: route, login name (never a
                           secret), client code, method, path without its query, status,
                           bytes, duration; kept [audit] retention_days (default 400)
  ca                       the local CA certificate's path (created on first use)
  ca --install [--user NAME ...]
                           trust the local CA system-wide (/usr/local/share/ca-certificates and
                           update-ca-certificates) and in each existing Chromium and Firefox NSS
                           database of the named users (default: $SUDO_USER); needs root and,
                           for browsers, certutil (Debian's libnss3-tools); prints each change
  ca --uninstall           remove exactly what ca --install added (it keeps a manifest)
  ca --rotate              replace the local CA (e.g. an old unconstrained one) with a new one
                           constrained to the court hosts; says what to trust again
  check                    check the config and the court registry (like courtrouted --check)
  store copy --to sqlite:PATH|postgresql://USER@HOST[:PORT]/DB [--password-file FILE]
                           copy this store (users, tokens, credentials, links, observations,
                           fee ledger, audit trail) into a new, empty one, secrets still sealed:
                           both use the same key file, nothing is decrypted; PostgreSQL's
                           password from FILE (mode 0600) or PGPASSWORD/~/.pgpass, never an
                           argument; stop the daemons first (what they record meanwhile stays)

options:
  --config FILE            the main config (default /etc/courtroute/courtroute.toml)
  -h, --help               show this help

exit status: 0 success, 1 failure, 2 usage error
)";

/// A mistake in the command line: exit 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// A refused or failed operation: exit 1 with `courtroute: WHAT (WHERE)`.
struct failure : std::runtime_error {
    failure(const std::string& what, const std::string& where) : std::runtime_error(what + " (" + where + ")") {}
};

/// The command line of one subcommand, split into positionals, valued options and flags.
struct parsed_args {
    std::vector<std::string> positional;
    std::map<std::string, std::string, std::less<>> values;
    std::set<std::string, std::less<>> flags;

    [[nodiscard]] std::optional<std::string> value(std::string_view name) const {
        auto it = values.find(name);
        if (it == values.end()) return std::nullopt;
        return it->second;
    }
    [[nodiscard]] bool flag(std::string_view name) const { return flags.contains(name); }
};

/// Parses `args` for `command`: options in `valued` take a value (`--opt V` or `--opt=V`),
/// those in `switches` none; exactly `positionals` other arguments. Error messages never repeat
/// an argument's value or a stray positional: a user may have pasted a password there.
parsed_args parse_args(std::span<const std::string> args, std::string_view command,
                       std::initializer_list<std::string_view> valued, std::initializer_list<std::string_view> switches,
                       std::initializer_list<std::string_view> positional_names) {
    parsed_args out;
    bool options_done = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (!options_done && a == "--") {
            options_done = true;
            continue;
        }
        if (!options_done && a.size() > 1 && a[0] == '-') {
            const auto eq = a.find('=');
            const std::string name = a.substr(0, eq);
            if (std::find(valued.begin(), valued.end(), name) != valued.end()) {
                std::string v;
                if (eq != std::string::npos) {
                    v = a.substr(eq + 1);
                } else {
                    if (i + 1 >= args.size())
                        throw usage_error("option " + name + " of '" + std::string(command) + "' needs a value");
                    v = args[++i];
                }
                if (out.values.contains(name))
                    throw usage_error("option " + name + " of '" + std::string(command) + "' given twice");
                out.values.emplace(name, std::move(v));
            } else if (std::find(switches.begin(), switches.end(), name) != switches.end()) {
                if (eq != std::string::npos)
                    throw usage_error("option " + name + " of '" + std::string(command) + "' takes no value");
                out.flags.insert(name);
            } else {
                throw usage_error("unknown option '" + name + "' for '" + std::string(command) + "'");
            }
            continue;
        }
        out.positional.push_back(a);
    }
    if (out.positional.size() < positional_names.size())
        throw usage_error("'" + std::string(command) + "' needs " +
                          std::string(*(positional_names.begin() + static_cast<std::ptrdiff_t>(out.positional.size()))));
    if (out.positional.size() > positional_names.size())
        throw usage_error("too many arguments for '" + std::string(command) + "'");
    return out;
}

/// True for printable ASCII (logins and client codes end up in headers, forms and tables).
bool printable(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= 0x20 && c < 0x7f; });
}

/// Normalises a base32 TOTP secret as authenticator apps show it (groups, lower case, '='
/// padding) to upper case without separators; false when it is not base32 or cannot come from
/// whole bytes (1, 3 or 6 trailing symbols: a truncated copy). Never reports which character.
bool normalise_base32(std::string& secret) {
    std::string out;
    out.reserve(secret.size());
    bool ok = true;
    for (char ch : secret) {
        if (ch == ' ' || ch == '\t' || ch == '=') continue;
        char up = (ch >= 'a' && ch <= 'z') ? static_cast<char>(ch - 'a' + 'A') : ch;
        if (!((up >= 'A' && up <= 'Z') || (up >= '2' && up <= '7'))) ok = false;
        out += up;
    }
    const auto tail = out.size() % 8;
    if (out.empty() || tail == 1 || tail == 3 || tail == 6) ok = false;
    if (ok) std::swap(secret, out);
    wipe(out);
    return ok;
}

/// A `YYYY-MM-DD` argument as a valid calendar day, or nullopt.
std::optional<std::chrono::year_month_day> parse_day(const std::string& text) {
    int y = 0;
    unsigned m = 0, d = 0;
    char tail = 0;
    if (text.size() != 10 || std::sscanf(text.c_str(), "%4d-%2u-%2u%c", &y, &m, &d, &tail) != 3) return std::nullopt;
    std::chrono::year_month_day ymd = std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d};
    if (!ymd.ok()) return std::nullopt;
    return ymd;
}

/// Unix seconds at the start (00:00 UTC) of `d`.
std::int64_t day_start(std::chrono::year_month_day d) {
    return std::chrono::sys_seconds{std::chrono::sys_days{d}}.time_since_epoch().count();
}

/// `YYYY-MM-DD HH:MM UTC` for a table.
std::string format_time(std::int64_t unix) {
    return unix <= 0 ? "-" : utc_time(unix, "%Y-%m-%d %H:%M UTC");
}

/// Prints rows as left-aligned columns separated by two spaces; the last column is not padded.
void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> width;
    for (auto& r : rows)
        for (std::size_t i = 0; i < r.size(); ++i) {
            if (width.size() <= i) width.push_back(0);
            width[i] = std::max(width[i], r[i].size());
        }
    for (auto& r : rows) {
        std::string line;
        for (std::size_t i = 0; i < r.size(); ++i) {
            line += r[i];
            if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
        }
        out << line << '\n';
    }
}

/// JSON with two-space indentation: one document a person can read and `jq` can parse.
void pretty_json(std::ostream& out, const json::value& v, int indent = 0) {
    const std::string pad(static_cast<std::size_t>(indent) * 2, ' ');
    const std::string inner(static_cast<std::size_t>(indent + 1) * 2, ' ');
    if (v.is_object()) {
        const auto& o = v.get_object();
        if (o.empty()) {
            out << "{}";
            return;
        }
        out << "{\n";
        bool first = true;
        for (const auto& kv : o) {
            if (!first) out << ",\n";
            first = false;
            out << inner << json::serialize(json::string(kv.key())) << ": ";
            pretty_json(out, kv.value(), indent + 1);
        }
        out << '\n' << pad << '}';
    } else if (v.is_array()) {
        const auto& a = v.get_array();
        if (a.empty()) {
            out << "[]";
            return;
        }
        out << "[\n";
        bool first = true;
        for (const auto& e : a) {
            if (!first) out << ",\n";
            first = false;
            out << inner;
            pretty_json(out, e, indent + 1);
        }
        out << '\n' << pad << ']';
    } else {
        out << json::serialize(v);
    }
}

/// What every command shares: the config, and the registry and store opened on demand.
class context {
public:
    context(fs::path config_path, bool explicit_config)
        : config_path_(std::move(config_path)), explicit_config_(explicit_config) {}

    /// The config; a config with problems prints them on stderr and fails.
    const settings& config() {
        if (!loaded_) {
            auto r = load_settings(config_path_, explicit_config_);
            if (!r.errors.empty()) {
                for (auto& e : r.errors) std::cerr << e.to_string() << '\n';
                throw failure("the config has " + std::to_string(r.errors.size()) +
                                  (r.errors.size() == 1 ? " problem" : " problems"),
                              "config " + config_path_.string());
            }
            settings_ = std::move(r.value);
            loaded_ = true;
        }
        return settings_;
    }

    /// The court registry; skipped drop-ins are mentioned once on stderr, the rest works.
    const registry& courts() {
        if (!registry_) {
            registry_ = registry::load(config().registry_dirs);
            if (auto n = registry_->errors().size(); n > 0)
                std::cerr << "courtroute: warning: " << n << (n == 1 ? " court drop-in was" : " court drop-ins were")
                          << " skipped (run courtroute check)\n";
        }
        return *registry_;
    }

    /// `(registry DIR, DIR)` for error messages.
    std::string registry_where() {
        std::string w = "registry";
        const char* sep = " ";
        for (auto& d : config().registry_dirs) {
            w += sep + d.string();
            sep = ", ";
        }
        return w;
    }

    /// The court with `id`; fails naming the registry dirs when there is none.
    const court& find_court(const std::string& id) {
        const court* c = courts().find_id(to_lower(id));
        if (!c) throw failure("unknown court '" + id + "'", registry_where());
        return *c;
    }

    /// The store, opened (and created) under the state dir.
    store& db() {
        if (!store_) {
            const auto& s = config();
            try {
                store_ = open_store({s.store_url, s.effective_store_password_file(), s.state_dir, s.effective_key_file()});
            } catch (const crypto_error& e) {
                throw failure(e.what(), "key file " + s.effective_key_file().string());
            }
        }
        return *store_;
    }

    /// `store PATH` for error messages.
    std::string store_where() { return "store " + config().store_name(); }

    /// Fails unless `name` is a user of the store.
    void require_user(const std::string& name) {
        if (!db().has_user(name)) throw failure("user '" + name + "' does not exist", store_where());
    }

    const fs::path& config_path() const { return config_path_; }
    bool explicit_config() const { return explicit_config_; }

private:
    fs::path config_path_;
    bool explicit_config_;
    bool loaded_ = false;
    settings settings_;
    std::shared_ptr<const registry> registry_;
    std::unique_ptr<store> store_;
};

/// Reads one secret line; fails when stdin holds none (a script that forgot to pipe it).
secret_string read_secret(secret_reader& in, const std::string& prompt, const std::string& what,
                          const std::string& where) {
    auto line = in.read_line(prompt);
    if (!line) throw failure("no " + what + " on standard input", where);
    secret_string s(std::move(*line));
    if (s.value().empty()) throw failure("the " + what + " is empty", where);
    return s;
}

void require_login(const std::optional<std::string>& login, std::string_view command) {
    if (!login) throw usage_error("'" + std::string(command) + "' needs --login LOGIN");
    if (login->empty() || !printable(*login) || login->size() > 256)
        throw usage_error("--login must be 1 to 256 printable ASCII characters");
}

int cmd_user(context& ctx, std::span<const std::string> args) {
    if (args.empty()) throw usage_error("'user' needs a subcommand: add, rotate, list or remove");
    const std::string& sub = args[0];
    const auto rest = args.subspan(1);
    if (sub == "list") {
        parse_args(rest, "user list", {}, {}, {});
        auto& db = ctx.db();
        std::vector<std::vector<std::string>> rows{{"NAME", "CREATED", "PACER", "LINKS", "CMECF"}};
        for (auto& u : db.users()) {
            auto f = load_user_facts(db, u.name);
            std::string pacer = f.pacer ? f.pacer->login + (f.pacer->shared ? " (shared)" : "") : "-";
            rows.push_back({u.name, format_time(u.created_at), pacer, std::to_string(f.links.size()),
                            std::to_string(f.ecf.size())});
        }
        print_table(std::cout, rows);
        return 0;
    }
    if (sub != "add" && sub != "rotate" && sub != "remove")
        throw usage_error("unknown subcommand 'user " + sub + "'");
    const auto a = parse_args(rest, "user " + sub, {}, {}, {"NAME"});
    const std::string& name = a.positional[0];
    auto& db = ctx.db();
    if (sub == "add") {
        if (!valid_user_name(name))
            throw failure("invalid user name '" + name + "': use 1 to 64 of A-Z a-z 0-9 . _ -", ctx.store_where());
        if (db.has_user(name)) throw failure("user '" + name + "' already exists", ctx.store_where());
        secret_string token(db.add_user(name));
        // The token alone on the last line: scripts take it with `tail -n 1`.
        std::cout << "added user " << name << "; its token (shown once; store it now):\n"
                  << token.value() << std::endl;
        return 0;
    }
    ctx.require_user(name);
    if (sub == "rotate") {
        secret_string token(db.rotate_user(name));
        std::cout << "new token for " << name << " (shown once; the old one no longer works):\n"
                  << token.value() << std::endl;
        return 0;
    }
    db.remove_user(name);
    std::cout << "removed user " << name << " with every credential and link\n";
    return 0;
}

int cmd_pacer(context& ctx, std::span<const std::string> args) {
    if (args.empty() || args[0] != "set")
        throw usage_error(args.empty() ? "'pacer' needs a subcommand: set" : "unknown subcommand 'pacer " + args[0] + "'");
    const auto a = parse_args(args.subspan(1), "pacer set", {"--login", "--client-code", "--password-set"},
                              {"--shared", "--totp"}, {"USER"});
    const std::string& user = a.positional[0];
    const auto login = a.value("--login");
    require_login(login, "pacer set");
    const std::string client_code = a.value("--client-code").value_or("");
    if (!client_code.empty() && !valid_client_code(client_code))
        throw usage_error("--client-code must be " + std::string(client_code_rule) + " (PACER's rule)");

    // When the password was set, for PACER's 180-day rule: today, unless it was changed elsewhere.
    std::int64_t password_set_at = 0;
    if (auto when = a.value("--password-set")) {
        auto ymd = parse_day(*when);
        if (!ymd || *ymd > today() || ymd->year() < std::chrono::year{2000})
            throw usage_error("--password-set must be the date the PACER password was set, YYYY-MM-DD, not in the future");
        password_set_at = day_start(*ymd);
    }

    // Everything that can fail without the secret is checked before anyone types it.
    ctx.require_user(user);
    auto& db = ctx.db();

    secret_reader in(std::cin);
    auto password = read_secret(in, "PACER password for " + *login + ": ", "PACER password", "stdin line 1");
    // PACER's own rule; not enforced, since PACER is the authority and may change it.
    if (auto n = password.value().size(); n < 14 || n > 45)
        std::cerr << "courtroute: warning: PACER passwords are 14 to 45 characters; this one has " << n << '\n';
    secret_string totp;
    if (a.flag("--totp")) {
        totp = read_secret(in, "TOTP secret (base32) for " + *login + ": ", "TOTP secret", "stdin line 2");
        if (!normalise_base32(totp.value()))
            throw failure("the TOTP secret is not base32 (letters A-Z and digits 2-7, as the authenticator setup "
                          "shows it)",
                          "stdin line 2");
    }

    pacer_login p;
    p.user = user;
    p.login = *login;
    p.password = password.value();
    p.client_code = client_code;
    p.shared = a.flag("--shared");
    p.totp_secret = totp.value();
    p.password_set_at = password_set_at;
    try {
        db.set_pacer(p);
    } catch (...) {
        wipe(p.password);
        wipe(p.totp_secret);
        throw;
    }
    wipe(p.password);
    wipe(p.totp_secret);

    std::cout << "stored PACER login " << *login << " for " << user;
    std::vector<std::string> notes;
    if (p.shared) notes.emplace_back("shared firm account");
    if (!client_code.empty()) notes.push_back("client code " + client_code);
    if (a.flag("--totp")) notes.emplace_back("TOTP secret");
    for (std::size_t i = 0; i < notes.size(); ++i) std::cout << (i == 0 ? " (" : ", ") << notes[i];
    std::cout << (notes.empty() ? "" : ")") << '\n';
    if (p.shared && !db.links(user).empty())
        std::cerr << "courtroute: warning: links are recorded for " << user
                  << ", but a shared firm account cannot file; link individual accounts only\n";
    return 0;
}

int cmd_ecf(context& ctx, std::span<const std::string> args) {
    if (args.empty() || args[0] != "set")
        throw usage_error(args.empty() ? "'ecf' needs a subcommand: set" : "unknown subcommand 'ecf " + args[0] + "'");
    const auto a = parse_args(args.subspan(1), "ecf set", {"--login"}, {}, {"USER", "COURT"});
    const std::string& user = a.positional[0];
    const auto login = a.value("--login");
    require_login(login, "ecf set");

    const court& c = ctx.find_court(a.positional[1]);
    ctx.require_user(user);
    auto& db = ctx.db();
    const auto facts = load_user_facts(db, user);
    const day now = today();
    if (auto why = ecf_set_refusal(c, facts, now)) throw failure(*why, ctx.store_where());

    secret_reader in(std::cin);
    auto password = read_secret(in, "CM/ECF password for " + *login + " at " + c.id + ": ", "CM/ECF password",
                                "stdin line 1");
    db.set_ecf(user, c.id, *login, password.value());
    std::cout << "stored CM/ECF login " << *login << " for " << user << " at " << c.id << '\n';
    if (c.system_on(now) == court_system::nextgen)
        std::cout << c.id << " is on NextGen CM/ECF: requests use the PACER login; this login serves to link the "
                  << "account at the court, then run: courtroute link " << user << ' ' << c.id << '\n';
    return 0;
}

/// One court's verdict from the running daemon (POST /verify on the admin socket).
struct court_verdict {
    std::string court, verdict, saw, next_step;
    bool error = true;
};

court_verdict ask_daemon_to_verify(context& ctx, const std::string& user, const std::string& court_id) {
    const auto socket = ctx.config().admin_socket();
    auto got = cli::admin_request(socket, "POST", "/verify?user=" + user + "&court=" + court_id,
                                  std::chrono::seconds(120));
    if (!got)
        throw failure("verifying asks the court through the running daemon, and none answers on " + socket.string() +
                          ": start it (systemctl start courtroute, or courtrouted --config FILE)",
                      ctx.store_where());
    boost::system::error_code ec;
    auto doc = boost::json::parse(got->second, ec);
    if (ec || !doc.is_object() || got->first != 200)
        throw failure("the daemon could not verify " + court_id + " (HTTP " + std::to_string(got->first) + ")",
                      socket.string());
    auto& o = doc.as_object();
    auto text = [&](const char* k) {
        auto* v = o.if_contains(k);
        return v && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    court_verdict v{text("court"), text("verdict"), text("saw"), text("next_step"), true};
    if (auto* e = o.if_contains("error"); e && e->is_bool()) v.error = e->as_bool();
    return v;
}

void print_verdict(const court_verdict& v) {
    std::printf("%-8s %-11s the court showed %s\n", v.court.c_str(), v.verdict.c_str(), v.saw.c_str());
    std::printf("%-8s %-11s next: %s\n", "", "", v.next_step.c_str());
}

int cmd_verify(context& ctx, std::span<const std::string> args) {
    if (args.empty()) throw usage_error("'verify' needs USER");
    for (const auto& a : args)
        if (a.size() > 1 && a[0] == '-') throw usage_error("unknown option '" + a.substr(0, a.find('=')) + "' for 'verify'");
    const std::string& user = args[0];
    ctx.require_user(user);
    std::vector<std::string> courts;
    for (std::size_t i = 1; i < args.size(); ++i) courts.push_back(ctx.find_court(args[i]).id);
    if (courts.empty()) {
        // The user's NextGen courts as the daemon sees them: linked, observed, or used.
        auto live = cli::fetch_daemon_status(ctx.config().admin_socket(), std::chrono::milliseconds(3000));
        if (!live)
            throw failure("verifying asks the court through the running daemon, and none answers on " +
                              ctx.config().admin_socket().string() +
                              ": start it (systemctl start courtroute, or courtrouted --config FILE)",
                          ctx.store_where());
        for (auto& u : live->at("users").as_array())
            if (u.as_object().at("user").as_string() == user)
                for (auto& c : u.as_object().at("courts").as_array())
                    if (c.as_object().at("system").as_string() == "nextgen")
                        courts.emplace_back(c.as_object().at("court").as_string());
        if (courts.empty()) {
            std::cout << user << " has used no NextGen court yet; each one needs the one-time link of the CM/ECF "
                      << "account to the PACER account. Name the courts to check: courtroute verify " << user
                      << " COURT...\n";
            return 1;
        }
    }
    int failed = 0;
    for (const auto& id : courts) {
        auto v = ask_daemon_to_verify(ctx, user, id);
        print_verdict(v);
        if (v.error) ++failed;
    }
    return failed ? 1 : 0;
}

int cmd_link(context& ctx, std::span<const std::string> args) {
    const auto a = parse_args(args, "link", {}, {"--verify"}, {"USER", "COURT"});
    const std::string& user = a.positional[0];
    const court& c = ctx.find_court(a.positional[1]);
    ctx.require_user(user);
    auto& db = ctx.db();
    const auto facts = load_user_facts(db, user);
    if (auto why = link_refusal(c, facts, today())) throw failure(*why, ctx.store_where());
    if (a.flag("--verify")) {
        // Recorded only when the court confirms it: its filing menus show.
        auto v = ask_daemon_to_verify(ctx, user, c.id);
        if (v.verdict != "linked") {
            print_verdict(v);
            throw failure("not recorded: " + c.id + " does not show " + user + "'s filing menus",
                          ctx.store_where());
        }
        std::cout << c.id << " shows the filing menus: the link is confirmed\n";
    }
    auto old = facts.ecf.find(c.id);
    db.record_link(user, c.id);
    std::cout << "recorded link for " << user << " at " << c.id << '\n';
    if (old != facts.ecf.end())
        std::cout << "deleted the stored CM/ECF login " << old->second.login << " for " << user << " at " << c.id
                  << " (it no longer works after linking)\n";
    return 0;
}

int cmd_unlink(context& ctx, std::span<const std::string> args) {
    const auto a = parse_args(args, "unlink", {}, {}, {"USER", "COURT"});
    const std::string& user = a.positional[0];
    // No registry lookup: a link at a court since removed from the registry must stay removable.
    const std::string court_id = to_lower(a.positional[1]);
    ctx.require_user(user);
    if (!ctx.db().remove_link(user, court_id))
        throw failure("no link is recorded for " + user + " at " + court_id, ctx.store_where());
    std::cout << "removed the link for " << user << " at " << court_id << '\n';
    return 0;
}

/// `doc` narrowed to one user: that user's entry and warnings (not the registry-wide ones).
void keep_only_user(boost::json::object& doc, const std::string& user) {
    boost::json::array users, warnings;
    for (auto& u : doc.at("users").as_array())
        if (u.as_object().at("user").as_string() == user) users.push_back(u);
    for (auto& w : doc.at("warnings").as_array())
        if (w.as_object().at("user").as_string() == user) warnings.push_back(w);
    doc["users"] = std::move(users);
    doc["warnings"] = std::move(warnings);
}

int cmd_status(context& ctx, std::span<const std::string> args) {
    const auto a = parse_args(args, "status", {"--user"}, {"--json"}, {});
    auto only = a.value("--user");
    if (only) ctx.require_user(*only);
    // A running daemon knows more (live sessions, notices, rejected sessions): ask it first;
    // the store and registry answer when it is not running.
    auto doc = cli::fetch_daemon_status(ctx.config().admin_socket(), std::chrono::milliseconds(1500));
    if (!doc) {
        auto& db = ctx.db();
        report_input in;
        in.reg = &ctx.courts();
        in.today = today();
        in.now_unix = unix_now();
        for (auto& u : db.users())
            if (!only || u.name == *only) in.users.push_back(load_user_facts(db, u.name));
        doc = status_report(in);
    }
    if (only) keep_only_user(*doc, *only);
    if (a.flag("--json")) {
        pretty_json(std::cout, *doc);
        std::cout << '\n';
    } else {
        std::cout << status_table(*doc);
    }
    return 0;
}

std::string to_upper_ascii(std::string s) {
    for (auto& c : s)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return s;
}

/// A CSV field (RFC 4180): quoted when it holds a comma, quote or line break.
std::string csv(std::string_view v) {
    if (v.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(v);
    std::string out = "\"";
    for (char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

int cmd_fees(context& ctx, std::span<const std::string> args) {
    const auto a = parse_args(args, "fees", {"--user", "--client-code", "--court", "--since", "--until", "--by"},
                              {"--csv", "--json"}, {});
    if (a.flag("--csv") && a.flag("--json")) throw usage_error("--csv and --json exclude each other");
    store::fee_filter f;
    f.user = a.value("--user");
    f.court = a.value("--court");
    if (auto code = a.value("--client-code")) {
        if (!code->empty() && !valid_client_code(*code))
            throw usage_error("--client-code must be " + std::string(client_code_rule) + " (PACER's rule)");
        f.client_code = *code;
    }
    if (auto since = a.value("--since")) {
        auto d = parse_day(*since);
        if (!d) throw usage_error("--since must be a date, YYYY-MM-DD");
        f.since = day_start(*d);
    }
    if (auto until = a.value("--until")) {
        auto d = parse_day(*until);
        if (!d) throw usage_error("--until must be a date, YYYY-MM-DD (the day is included)");
        f.until = day_start(*d) + 86400;
    }
    std::optional<fees::grouping> by;
    if (auto b = a.value("--by")) {
        if (*b == "user") by = fees::grouping::user;
        else if (*b == "client-code") by = fees::grouping::client_code;
        else if (*b == "court") by = fees::grouping::court;
        else if (*b == "day") by = fees::grouping::day;
        else throw usage_error("--by must be user, client-code, court or day");
    }
    if (f.user) ctx.require_user(*f.user);
    auto entries = ctx.db().fee_entries(f);
    std::vector<fees::entry> charges;
    for (auto& e : entries)
        if (!e.quote) charges.push_back(e);
    fees::group_total total;
    for (auto& t : fees::totals(charges, fees::grouping::user)) {
        total.charges += t.charges;
        total.pages += t.pages;
        total.cents += t.cents;
        total.estimated += t.estimated;
    }
    auto groups = by ? fees::totals(charges, *by) : std::vector<fees::group_total>{};
    auto bills = fees::quarterly(charges);
    const auto when = [](std::int64_t t) { return utc_time(t, "%Y-%m-%dT%H:%M:%SZ"); };

    if (a.flag("--json")) {
        json::object doc;
        json::array lines;
        for (auto& e : charges)
            lines.push_back(json::object{{"at", when(e.at)}, {"user", e.user}, {"court", e.court}, {"login", e.login},
                                         {"client_code", e.client_code}, {"description", e.description},
                                         {"criteria", e.criteria}, {"pages", e.pages}, {"cents", e.cents},
                                         {"estimated", e.estimated}});
        doc["charges"] = std::move(lines);
        if (by) {
            json::array gs;
            for (auto& g : groups)
                gs.push_back(json::object{{"key", g.key}, {"charges", g.charges}, {"pages", g.pages}, {"cents", g.cents},
                                          {"estimated", g.estimated}});
            doc["totals"] = std::move(gs);
        }
        doc["total"] = json::object{{"charges", total.charges}, {"pages", total.pages}, {"cents", total.cents},
                                    {"estimated", total.estimated}};
        json::array qs;
        for (auto& b : bills)
            qs.push_back(json::object{{"login", b.login}, {"quarter", b.quarter}, {"cents", b.cents},
                                      {"waived", b.waived}, {"owed_cents", b.owed()}});
        doc["quarters"] = std::move(qs);
        doc["quotes_not_fetched"] = static_cast<std::int64_t>(entries.size() - charges.size());
        pretty_json(std::cout, doc);
        std::cout << '\n';
        return 0;
    }
    if (a.flag("--csv")) {
        if (by) {
            std::cout << "key,charges,pages,cents,estimated\n";
            for (auto& g : groups)
                std::cout << csv(g.key) << ',' << g.charges << ',' << g.pages << ',' << g.cents << ',' << g.estimated << '\n';
        } else {
            std::cout << "at,user,court,login,client_code,description,criteria,pages,cents,estimated\n";
            for (auto& e : charges)
                std::cout << when(e.at) << ',' << csv(e.user) << ',' << csv(e.court) << ',' << csv(e.login) << ','
                          << csv(e.client_code) << ',' << csv(e.description) << ',' << csv(e.criteria) << ',' << e.pages
                          << ',' << e.cents << ',' << (e.estimated ? 1 : 0) << '\n';
        }
        return 0;
    }
    std::vector<std::vector<std::string>> rows;
    if (by) {
        rows.push_back({"BY " + to_upper_ascii(*a.value("--by")), "CHARGES", "PAGES", "COST", "ESTIMATED"});
        for (auto& g : groups)
            rows.push_back({g.key.empty() ? "(none)" : g.key, std::to_string(g.charges), std::to_string(g.pages),
                            fees::dollars(g.cents), std::to_string(g.estimated)});
    } else {
        rows.push_back({"WHEN (UTC)", "USER", "COURT", "CLIENT CODE", "DESCRIPTION", "CRITERIA", "PAGES", "COST"});
        for (auto& e : charges)
            rows.push_back({utc_time(e.at, "%Y-%m-%d %H:%M"), e.user, e.court, e.client_code.empty() ? "-" : e.client_code,
                            e.description, e.criteria, std::to_string(e.pages),
                            fees::dollars(e.cents) + (e.estimated ? " (est.)" : "")});
    }
    rows.push_back({"total", std::to_string(total.charges), std::to_string(total.pages), fees::dollars(total.cents),
                    std::to_string(total.estimated)});
    if (!by) rows.back() = {"total", "", "", "", "", "", std::to_string(total.pages), fees::dollars(total.cents)};
    print_table(std::cout, rows);
    if (entries.size() > charges.size())
        std::cout << (entries.size() - charges.size()) << " quote(s) of documents never fetched: not charges\n";
    if (!bills.empty()) {
        std::cout << "\nPACER's quarterly bill per login (a quarter at or below "
                  << fees::dollars(fees::quarterly_waiver_cents) << " is waived):\n";
        std::vector<std::vector<std::string>> q{{"LOGIN", "QUARTER", "CHARGED", "OWED"}};
        for (auto& b : bills)
            q.push_back({b.login, b.quarter, fees::dollars(b.cents), fees::dollars(b.owed()) + (b.waived ? " (waived)" : "")});
        print_table(std::cout, q);
    }
    return 0;
}

int cmd_audit(context& ctx, std::span<const std::string> args) {
    const auto a = parse_args(args, "audit", {"--user", "--court", "--since"}, {"--json"}, {});
    store::audit_filter f;
    f.user = a.value("--user");
    f.court = a.value("--court");
    if (auto since = a.value("--since")) {
        auto d = parse_day(*since);
        if (!d) throw usage_error("--since must be a date, YYYY-MM-DD");
        f.since = day_start(*d);
    }
    if (f.user) ctx.require_user(*f.user);
    auto rows = ctx.db().audit_records(f);
    if (a.flag("--json")) {
        json::array out;
        for (auto& r : rows)
            out.push_back(json::object{{"at", utc_time(r.at, "%Y-%m-%dT%H:%M:%SZ")}, {"user", r.user}, {"court", r.court},
                                       {"route", r.route}, {"login", r.login}, {"client_code", r.client_code},
                                       {"method", r.method}, {"path", r.path}, {"status", r.status}, {"bytes", r.bytes},
                                       {"ms", r.ms}});
        pretty_json(std::cout, out);
        std::cout << '\n';
        return 0;
    }
    std::vector<std::vector<std::string>> table{
        {"WHEN (UTC)", "USER", "COURT", "ROUTE", "LOGIN", "CLIENT CODE", "METHOD", "PATH", "STATUS", "BYTES", "MS"}};
    for (auto& r : rows)
        table.push_back({utc_time(r.at, "%Y-%m-%d %H:%M:%S"), r.user, r.court, r.route, r.login.empty() ? "-" : r.login,
                         r.client_code.empty() ? "-" : r.client_code, r.method, r.path, std::to_string(r.status),
                         std::to_string(r.bytes), std::to_string(r.ms)});
    print_table(std::cout, table);
    return 0;
}

int cmd_courts(context& ctx, std::span<const std::string> args) {
    const auto a = parse_args(args, "courts", {"--system", "--type"}, {}, {});
    std::optional<court_system> want_system;
    if (auto s = a.value("--system")) {
        if (*s == "nextgen") want_system = court_system::nextgen;
        else if (*s == "legacy") want_system = court_system::legacy;
        else throw usage_error("--system must be nextgen or legacy");
    }
    std::optional<court_type> want_type;
    if (auto t = a.value("--type")) {
        for (auto ct : {court_type::district, court_type::bankruptcy, court_type::appellate, court_type::other})
            if (to_string(ct) == *t) want_type = ct;
        if (!want_type) throw usage_error("--type must be district, bankruptcy, appellate or other");
    }
    const day now = today();
    std::vector<std::vector<std::string>> rows{{"ID", "TYPE", "SYSTEM", "HOST", "NEXTGEN_SINCE", "NAME"}};
    for (auto& c : ctx.courts().courts()) {
        const auto sys = c.system_on(now);
        if (want_system && sys != *want_system) continue;
        if (want_type && c.type != *want_type) continue;
        rows.push_back({c.id, std::string(to_string(c.type)), std::string(to_string(sys)), c.host,
                        c.nextgen_since ? to_string(*c.nextgen_since) : "-", c.name});
    }
    print_table(std::cout, rows);
    return 0;
}

/// The name of user `uid` ("uid N" when it has none).
std::string owner_name(uid_t uid) {
    const passwd* pw = ::getpwuid(uid);
    return pw ? std::string(pw->pw_name) : "uid " + std::to_string(uid);
}

/// Refuses to write CA files into a state directory another user owns: the service could not
/// read a key root made there, and the key file root would find is not the service's.
void require_own_state(const fs::path& dir, const std::string& what) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0 && st.st_uid != ::geteuid())
        throw failure(what + ", and " + dir.string() + " belongs to " + owner_name(st.st_uid) +
                          ": run this as that user (for the service: courtroute-admin ca ...)",
                      "state " + dir.string());
}

/// Creates the state directory (0700) when missing, as the daemon does.
void ensure_state_dir(const fs::path& dir) {
    std::error_code ec;
    if (fs::exists(dir, ec)) return;
    // The daemon creates it the same way: nobody else may read the store or the CA key.
    fs::create_directories(dir, ec);
    if (ec) throw failure("cannot create the state directory: " + ec.message(), "state " + dir.string());
    ::chmod(dir.c_str(), 0700);
}

/// The certificate path of the CA, creating the CA when there is none yet. An existing CA is
/// only read (its certificate, not its key), so root may ask for the path or install it.
fs::path existing_or_new_ca(context& ctx) {
    const auto& cfg = ctx.config();
    const tls::ca_paths paths(cfg.state_dir);
    std::error_code ec;
    if (fs::exists(paths.cert, ec)) return paths.cert;
    ensure_state_dir(cfg.state_dir);
    require_own_state(cfg.state_dir, "there is no local CA yet");
    try {
        return tls::open_local_ca(cfg, ctx.courts())->cert_path();
    } catch (const crypto_error& e) {
        throw failure(e.what(), "key file " + cfg.effective_key_file().string());
    } catch (const std::exception& e) {
        throw failure(e.what(), "state " + cfg.state_dir.string());
    }
}

/// Tells on stderr what is wrong with the CA certificate at `cert_path` (an old CA).
void warn_about_ca(const fs::path& state_dir, const fs::path& cert_path) {
    const tls::ca_paths paths(state_dir);
    std::error_code ec;
    try {
        const auto cert = tls::local_ca::read_certificate(cert_path);
        const auto nc = tls::constraints_of(cert.get());
        if (!nc.present || nc.permitted_dns.empty() || !nc.excludes_all_ip)
            std::cerr << "courtroute: warning: this local CA is unconstrained (a client trusting it would accept it "
                         "for any site); run courtroute ca --rotate\n";
    } catch (const std::exception& e) {
        std::cerr << "courtroute: warning: " << e.what() << '\n';
    }
    if (fs::exists(paths.plain_key, ec))
        std::cerr << "courtroute: warning: the CA key " << paths.plain_key.string()
                  << " is stored in clear; run courtroute ca --rotate\n";
}

int ca_rotate(context& ctx) {
    const auto& cfg = ctx.config();
    ensure_state_dir(cfg.state_dir);
    require_own_state(cfg.state_dir, "rotating writes the new CA");
    const auto names = tls::ca_names_for(ctx.courts());
    tls::ca_rotation r;
    try {
        const secret_box box = tls::ca_key_box(cfg);
        r = tls::local_ca::rotate(cfg.state_dir, box, names);
    } catch (const crypto_error& e) {
        throw failure(e.what(), "key file " + cfg.effective_key_file().string());
    } catch (const std::exception& e) {
        throw failure(e.what(), "state " + cfg.state_dir.string());
    }
    std::string permitted;
    for (const auto& n : r.permitted) permitted += (permitted.empty() ? "" : ", ") + n;
    std::cout << "created a new local CA: " << r.cert.string() << '\n'
              << "  it may sign only for " << permitted << " (no IP addresses); its key is sealed with the store key\n";
    if (r.removed_plain_key)
        std::cout << "removed the old CA key " << tls::ca_paths(cfg.state_dir).plain_key.string()
                  << " (overwritten, then deleted)\n";
    if (r.old_cert)
        std::cout << "kept the old certificate as " << r.old_cert->string()
                  << " (to find and remove it wherever it was trusted by hand)\n";
    const auto installed = installed_trust(cfg.state_dir);
    std::cout << "re-trust: clients must now trust " << r.cert.string() << '\n';
    if (!installed.empty()) {
        std::cout << "  the old CA is still installed in:\n";
        for (const auto& place : installed) std::cout << "    " << place << '\n';
        std::cout << "  run courtroute ca --install again (as root; it replaces them)\n";
    } else if (r.had_old_ca) {
        std::cout << "  wherever the old CA was trusted (e.g. /usr/local/share/ca-certificates/courtroute.crt), remove "
                     "it, then: sudo courtroute ca --install\n";
    } else {
        std::cout << "  sudo courtroute ca --install\n";
    }
    std::cout << "a running courtrouted uses the new CA after `systemctl reload courtroute` (SIGHUP) or a restart\n";
    return 0;
}

int cmd_ca(context& ctx, std::span<const std::string> args) {
    // Parsed by hand: --user may be given several times.
    bool install = false, uninstall = false, rotate = false;
    std::vector<std::string> users;
    bool users_given = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--install") install = true;
        else if (a == "--uninstall") uninstall = true;
        else if (a == "--rotate") rotate = true;
        else if (a == "--user" || a.starts_with("--user=")) {
            std::string v;
            if (a == "--user") {
                if (i + 1 >= args.size()) throw usage_error("option --user of 'ca' needs a value");
                v = args[++i];
            } else {
                v = a.substr(7);
            }
            if (v.empty() || !printable(v) || v.size() > 64) throw usage_error("--user needs a user name");
            users_given = true;
            if (std::find(users.begin(), users.end(), v) == users.end()) users.push_back(v);
        } else if (a.size() > 1 && a[0] == '-') {
            throw usage_error("unknown option '" + a.substr(0, a.find('=')) + "' for 'ca'");
        } else {
            throw usage_error("too many arguments for 'ca'");
        }
    }
    if (int(install) + int(uninstall) + int(rotate) > 1)
        throw usage_error("'ca' takes one of --install, --uninstall and --rotate");
    if (users_given && !install) throw usage_error("--user goes with 'ca --install'");

    const auto& cfg = ctx.config();
    if (rotate) return ca_rotate(ctx);
    const auto targets = trust_targets::from_environment();
    try {
        if (uninstall) {
            uninstall_ca_trust(cfg.state_dir, targets, std::cout);
            return 0;
        }
        const fs::path cert = existing_or_new_ca(ctx);
        if (!install) {
            std::cout << cert.string() << '\n';
            warn_about_ca(cfg.state_dir, cert);
            return 0;
        }
        // `sudo courtroute ca --install` is meant for the person typing it: their browsers too.
        if (!users_given)
            if (const char* sudo_user = std::getenv("SUDO_USER"); sudo_user && *sudo_user && std::string(sudo_user) != "root")
                users.emplace_back(sudo_user);
        install_ca_trust(cfg.state_dir, cert, users, targets, std::cout);
    } catch (const trust_error& e) {
        std::cout.flush();
        throw failure(e.what(), e.where);
    }
    return 0;
}

/// `N thing` or `N things`.
std::string count_of(std::size_t n, std::string_view one, std::string_view many) {
    return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

int cmd_store(context& ctx, std::span<const std::string> args) {
    if (args.empty()) throw usage_error("'store' needs a subcommand: copy");
    if (args[0] != "copy") throw usage_error("unknown subcommand 'store " + args[0] + "'");
    const auto a = parse_args(args.subspan(1), "store copy", {"--to", "--password-file"}, {}, {});
    const auto to = a.value("--to");
    const auto password_file = a.value("--password-file");
    constexpr std::string_view to_forms = "sqlite:PATH or postgresql://USER@HOST[:PORT]/DB";
    if (!to) throw usage_error("'store copy' needs --to " + std::string(to_forms));
    if (password_file && password_file->empty()) throw usage_error("--password-file needs a file name");
    const bool to_sqlite = to->starts_with("sqlite:");
    const fs::path sqlite_file = to_sqlite ? fs::path(to->substr(7)) : fs::path();
    if (to_sqlite) {
        if (sqlite_file.empty()) throw usage_error("--to sqlite:PATH needs the database file's PATH");
        if (password_file) throw usage_error("--password-file goes with a postgresql:// --to");
    } else if (!to->starts_with("postgresql://") && !to->starts_with("postgres://")) {
        throw usage_error("--to must be " + std::string(to_forms)); // never echoed: it may hold a password
    } else if (auto why = store_url_problem(*to)) {
        if (why->starts_with("holds a password"))
            throw usage_error("--to holds a password: give it in --password-file FILE (mode 0600), PGPASSWORD or "
                              "~/.pgpass, never as an argument (every local user sees those in /proc)");
        throw usage_error("--to " + *why);
    }

    const auto& cfg = ctx.config();
    const fs::path key_file = cfg.effective_key_file();
    // Nothing is decrypted on the way, so the new store opens its secrets only with this same key.
    auto& source = ctx.db();
    if (cli::fetch_daemon_status(cfg.admin_socket(), std::chrono::milliseconds(500)))
        std::cerr << "courtroute: warning: courtrouted is running on this store; the fees and audit records it "
                     "writes after this copy stay behind (stop it first)\n";
    const std::string where = "store copy --to " + *to; // *to holds no password by now
    {
        std::unique_ptr<store> target; // the target first: an unreachable one fails before the long read
        try {
            if (to_sqlite)
                target = sqlite_store::open_file(sqlite_file, secret_box::from_key_file(key_file, false));
            else
                target = open_store({*to, password_file ? fs::path(*password_file) : fs::path(), {}, key_file});
        } catch (const crypto_error& e) {
            throw failure(e.what(), "key file " + key_file.string());
        } catch (const store_error& e) {
            throw failure(e.what(), where);
        }
        const store::dump d = source.export_all();
        try {
            target->import_all(d);
        } catch (const store_error& e) {
            throw failure(e.what(), where);
        }
        std::cout << "copied to " << *to << ": " << count_of(d.users.size(), "user", "users") << ", "
                  << count_of(d.pacer.size(), "PACER login", "PACER logins") << ", "
                  << count_of(d.ecf.size(), "CM/ECF login", "CM/ECF logins") << ", "
                  << count_of(d.links.size(), "link", "links") << ", "
                  << count_of(d.observations.size(), "observation", "observations") << ", "
                  << count_of(d.fees.size(), "fee entry", "fee entries") << ", "
                  << count_of(d.audit.size(), "audit record", "audit records") << '\n';
    } // the target closes here: an SQLite file is whole (its WAL checkpointed) before anyone moves it
    const std::string key = key_file.string();
    if (to_sqlite) {
        std::error_code ec;
        const fs::path file = fs::absolute(sqlite_file, ec);
        std::cout << "next: stop courtrouted, move " << (ec ? sqlite_file : file).string()
                  << " to courtroute.db in the [state] dir of its config, remove [store] url there, keep the key file "
                  << key << ", then start it\n";
    } else {
        std::cout << "next: in the config of every daemon set [store] url = \"" << *to << "\"";
        if (password_file) std::cout << " and [store] password_file = \"" << *password_file << "\"";
        std::cout << ", give each the same key file (a copy of " << key
                  << ", mode 0600, as [secrets] key_file), then restart it\n";
    }
    return 0;
}

int run(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    fs::path config = default_config_path();
    bool explicit_config = false;
    std::size_t i = 0;
    for (; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "-h" || a == "--help") {
            std::cout << usage_text;
            return 0;
        }
        if (a == "--config") {
            if (i + 1 >= args.size()) throw usage_error("option --config needs a value");
            config = args[++i];
            explicit_config = true;
        } else if (a.starts_with("--config=")) {
            config = a.substr(9);
            explicit_config = true;
        } else if (a.size() > 1 && a[0] == '-') {
            throw usage_error("unknown option '" + a.substr(0, a.find('=')) + "'");
        } else {
            break;
        }
    }
    if (i >= args.size()) throw usage_error("missing command");
    if (explicit_config && config.empty()) throw usage_error("option --config needs a file name");
    // `-h` after the command also asks for help rather than being taken as an unknown option.
    for (std::size_t j = i; j < args.size(); ++j) {
        if (args[j] == "--") break;
        if (args[j] == "-h" || args[j] == "--help") {
            std::cout << usage_text;
            return 0;
        }
    }

    const std::string command = args[i];
    const std::span<const std::string> rest(args.data() + i + 1, args.size() - i - 1);
    context ctx(config, explicit_config);
    if (command == "check") {
        parse_args(rest, "check", {}, {}, {});
        return run_check(config, explicit_config, std::cout);
    }
    try {
        if (command == "user") return cmd_user(ctx, rest);
        if (command == "pacer") return cmd_pacer(ctx, rest);
        if (command == "ecf") return cmd_ecf(ctx, rest);
        if (command == "link") return cmd_link(ctx, rest);
        if (command == "unlink") return cmd_unlink(ctx, rest);
        if (command == "verify") return cmd_verify(ctx, rest);
        if (command == "status") return cmd_status(ctx, rest);
        if (command == "courts") return cmd_courts(ctx, rest);
        if (command == "fees") return cmd_fees(ctx, rest);
        if (command == "audit") return cmd_audit(ctx, rest);
        if (command == "ca") return cmd_ca(ctx, rest);
        if (command == "store") return cmd_store(ctx, rest);
    } catch (const store_error& e) {
        // Store messages say what; the database file says where.
        throw failure(e.what(), ctx.store_where());
    }
    throw usage_error("unknown command '" + command + "'");
}

} // namespace
} // namespace courtroute::cli

namespace {

/// The one stderr line of a failure: control characters shown as '?' (a hostile argument must
/// not forge lines or drive the terminal) and long values cut, so the line stays one line.
std::string one_line(std::string_view what) {
    constexpr std::size_t max_len = 400;
    std::string out;
    for (unsigned char c : what.substr(0, max_len)) out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
    if (what.size() > max_len) out += "...";
    return out;
}

} // namespace

int main(int argc, char** argv) {
    using namespace courtroute::cli;
    // Passwords arrive on stdin and the store key is in memory: keep them out of core files.
    if (auto problem = courtroute::forbid_core_dumps(); !problem.empty())
        std::cerr << "courtroute: warning: " << problem << "; a core dump could hold secrets\n";
    try {
        return run(argc, argv);
    } catch (const usage_error& e) {
        std::cerr << "courtroute: " << one_line(e.what()) << "\ntry 'courtroute --help'\n";
        return 2;
    } catch (const std::exception& e) {
        // failure, store_error, crypto_error and the rest: what and where, one line.
        std::cerr << "courtroute: " << one_line(e.what()) << '\n';
        return 1;
    }
}
