#include "config/settings.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <system_error>
#include <utility>

#include <toml++/toml.h>

#include "config/toml_support.hpp"
#include "core/names.hpp"
#include "core/text.hpp"
#include "core/url.hpp"

namespace courtroute {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Endpoints and host names
// ---------------------------------------------------------------------------------------------

std::string endpoint::to_string() const {
    // An IPv6 literal holds colons, so it needs brackets to keep the port separable.
    if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
}

namespace {

/// Parses `host:port` / `[v6]:port`; empty string on success, else why not.
std::string endpoint_problem(std::string_view text, endpoint& out) {
    std::string problem;
    auto a = parse_authority(text, port_rule::required, &problem);
    if (!a) return problem;
    out.host = a->host;
    out.port = a->port;
    return {};
}

/// Checks an `https://host[:port][/path]` URL; empty string on success, else why not.
std::string url_problem(std::string_view url) {
    std::string problem;
    auto u = parse_url(url, &problem);
    if (u && u->scheme == "https") return {};
    if (!u && !problem.starts_with("must be")) return problem;
    return "must be an https:// URL";
}

/// Walks a parsed config and fills `settings`, collecting every problem instead of stopping.
class config_reader {
public:
    config_reader(std::string file, fs::path base, settings& out, diagnostics& errors)
        : file_(std::move(file)), base_(std::move(base)), out_(out), errors_(errors) {}

    void read(const toml::table& root) {
        for (auto&& [key, node] : root) {
            const std::string name(key.str());
            if (name == "listen") table(key, node, [&](const toml::table& t) { read_listen(t); });
            else if (name == "registry") table(key, node, [&](const toml::table& t) { read_registry(t); });
            else if (name == "state") table(key, node, [&](const toml::table& t) { read_state(t); });
            else if (name == "secrets") table(key, node, [&](const toml::table& t) { read_secrets(t); });
            else if (name == "pacer") table(key, node, [&](const toml::table& t) { read_pacer(t); });
            else if (name == "upstream") table(key, node, [&](const toml::table& t) { read_upstream(t); });
            else if (name == "policy") table(key, node, [&](const toml::table& t) { read_policy(t); });
            else if (name == "store") table(key, node, [&](const toml::table& t) { read_store(t); });
            else if (name == "fees") table(key, node, [&](const toml::table& t) { read_fees(t); });
            else if (name == "audit") table(key, node, [&](const toml::table& t) { read_audit(t); });
            else if (node.is_table()) error(key.source(), "unknown table [" + sanitized(name) + "]");
            else error(key.source(), "unknown key " + quote(name) + " (every key belongs in a table such as [listen])");
        }
    }

private:
    using handler = std::function<void(const toml::node&)>;
    using key_list = std::initializer_list<std::pair<std::string_view, handler>>;

    void error(const toml::source_region& where, std::string message) {
        errors_.push_back({file_, static_cast<int>(where.begin.line), static_cast<int>(where.begin.column),
                           std::move(message)});
    }

    template <typename F>
    void table(const toml::key& key, const toml::node& node, F&& body) {
        if (const auto* t = node.as_table()) body(*t);
        else error(node.source(), "[" + std::string(key.str()) + "] must be a table, not " + std::string(toml_type_name(node)));
    }

    /// Dispatches each key of a table to its handler; any other key is an error at the key.
    void keys(const toml::table& t, std::string_view table_name, key_list known) {
        for (auto&& entry : t) {
            const toml::key& key = entry.first;
            const toml::node& node = entry.second;
            auto it = std::find_if(known.begin(), known.end(), [&](const auto& k) { return k.first == key.str(); });
            if (it == known.end()) {
                error(key.source(), "unknown key " + quote(key.str()) + " in [" + std::string(table_name) + "]");
                continue;
            }
            it->second(node);
        }
    }

    /// The string value of a key, or nullptr after reporting the wrong type.
    const std::string* string_of(const toml::node& node, std::string_view what) {
        if (const auto* v = node.as_string()) return &v->get();
        error(node.source(), std::string(what) + " must be a string, not " + std::string(toml_type_name(node)));
        return nullptr;
    }

    fs::path resolve(const std::string& p) const {
        fs::path path(p);
        if (path.is_absolute()) return path.lexically_normal();
        return (base_ / path).lexically_normal();
    }

    void url_key(const toml::node& node, std::string_view what, std::string& out) {
        const auto* s = string_of(node, what);
        if (!s) return;
        if (auto p = url_problem(*s); !p.empty()) {
            error(node.source(), std::string(what) + " " + quote(*s) + " " + p);
            return;
        }
        out = *s;
    }

    void read_listen(const toml::table& t) {
        keys(t, "listen",
             {{"proxy", [&](const toml::node& n) {
                   const auto* s = string_of(n, "[listen] proxy");
                   if (!s) return;
                   endpoint ep;
                   if (auto p = endpoint_problem(*s, ep); !p.empty())
                       error(n.source(), "[listen] proxy " + quote(*s) + " is not host:port: " + p);
                   else out_.listen_proxy = ep;
               }},
              {"threads", [&](const toml::node& n) { integer_key(n, "[listen] threads", 0, 256, out_.listen_threads); }},
              {"max_connections",
               [&](const toml::node& n) { integer_key(n, "[listen] max_connections", 1, 1'000'000, out_.max_connections); }}});
    }

    /// An integer key within [lo, hi].
    template <typename T>
    void integer_key(const toml::node& node, std::string_view what, std::int64_t lo, std::int64_t hi, T& out) {
        const auto* v = node.as_integer();
        if (!v) {
            error(node.source(), std::string(what) + " must be an integer, not " + std::string(toml_type_name(node)));
            return;
        }
        if (v->get() < lo || v->get() > hi) {
            error(node.source(), std::string(what) + " " + std::to_string(v->get()) + " is out of range " +
                                     std::to_string(lo) + "-" + std::to_string(hi));
            return;
        }
        out = static_cast<T>(v->get());
    }

    void read_registry(const toml::table& t) {
        keys(t, "registry", {{"dirs", [&](const toml::node& n) {
                                  const auto* a = n.as_array();
                                  if (!a) {
                                      error(n.source(), "[registry] dirs must be an array of strings, not " +
                                                            std::string(toml_type_name(n)));
                                      return;
                                  }
                                  std::vector<fs::path> dirs;
                                  bool ok = true;
                                  for (const auto& item : *a) {
                                      const auto* s = string_of(item, "[registry] dirs entry");
                                      if (!s) { ok = false; continue; }
                                      if (s->empty()) {
                                          error(item.source(), "[registry] dirs entry must not be empty");
                                          ok = false;
                                          continue;
                                      }
                                      dirs.push_back(resolve(*s));
                                  }
                                  if (ok) out_.registry_dirs = std::move(dirs);
                              }}});
    }

    void read_state(const toml::table& t) {
        keys(t, "state", {{"dir", [&](const toml::node& n) {
                               const auto* s = string_of(n, "[state] dir");
                               if (!s) return;
                               if (s->empty()) error(n.source(), "[state] dir must not be empty");
                               else out_.state_dir = resolve(*s);
                           }}});
    }

    void read_secrets(const toml::table& t) {
        keys(t, "secrets", {{"key_file", [&](const toml::node& n) {
                                 const auto* s = string_of(n, "[secrets] key_file");
                                 if (!s) return;
                                 out_.key_file = s->empty() ? fs::path{} : resolve(*s);
                             }}});
    }

    void read_pacer(const toml::table& t) {
        keys(t, "pacer",
             {{"auth_url", [&](const toml::node& n) { url_key(n, "[pacer] auth_url", out_.pacer_auth_url); }},
              {"logout_url", [&](const toml::node& n) { url_key(n, "[pacer] logout_url", out_.pacer_logout_url); }}});
    }

    void read_upstream(const toml::table& t) {
        keys(t, "upstream",
             {{"ca_file", [&](const toml::node& n) {
                   const auto* s = string_of(n, "[upstream] ca_file");
                   if (!s) return;
                   out_.upstream_ca_file = s->empty() ? fs::path{} : resolve(*s);
               }},
              {"resolve", [&](const toml::node& n) { read_resolve(n); }}});
    }

    void read_resolve(const toml::node& n) {
        const auto* t = n.as_table();
        if (!t) {
            error(n.source(), "[upstream] resolve must be a table of \"host:port\" = \"host:port\", not " +
                                  std::string(toml_type_name(n)));
            return;
        }
        std::map<std::string, endpoint> map;
        bool ok = true;
        for (auto&& [key, value] : *t) {
            endpoint from;
            if (auto p = endpoint_problem(key.str(), from); !p.empty()) {
                error(key.source(), "[upstream] resolve key " + quote(key.str()) + " is not host:port: " + p);
                ok = false;
                continue;
            }
            const auto* s = value.as_string();
            if (!s) {
                error(value.source(), "[upstream] resolve value for " + quote(key.str()) +
                                          " must be a string \"host:port\", not " + std::string(toml_type_name(value)));
                ok = false;
                continue;
            }
            // An address (as curl --resolve takes) or a name resolved when connecting
            // (as curl --connect-to takes): "localhost:8443" is as good as "127.0.0.1:8443".
            endpoint to;
            auto p = endpoint_problem(s->get(), to);
            if (!p.empty()) {
                error(value.source(), "[upstream] resolve value " + quote(s->get()) + " for " +
                                          quote(key.str()) + " is not host:port: " + p);
                ok = false;
                continue;
            }
            auto name = to_lower(from.to_string());
            if (!map.emplace(name, to).second) {
                error(key.source(), "[upstream] resolve lists '" + name + "' twice");
                ok = false;
            }
        }
        if (ok) out_.upstream_resolve = std::move(map);
    }

    template <typename E>
    void enum_key(const toml::node& n, std::string_view what, std::initializer_list<std::pair<std::string_view, E>> values,
                  E& out) {
        const auto* s = string_of(n, what);
        if (!s) return;
        for (const auto& [name, value] : values)
            if (*s == name) {
                out = value;
                return;
            }
        std::string allowed;
        for (const auto& [name, value] : values) allowed += (allowed.empty() ? "\"" : " | \"") + std::string(name) + "\"";
        error(n.source(), std::string(what) + " " + quote(*s) + " is not one of " + allowed);
    }

    void read_store(const toml::table& t) {
        keys(t, "store",
             {{"url",
               [&](const toml::node& n) {
                   const auto* s = string_of(n, "[store] url");
                   if (!s || s->empty()) return;  // the embedded SQLite store
                   if (auto why = store_url_problem(*s)) {
                       // Never echo a URL that may hold a password.
                       error(n.source(), "[store] url: " + *why);
                       return;
                   }
                   out_.store_url = *s;
               }},
              {"password_file", [&](const toml::node& n) {
                   const auto* s = string_of(n, "[store] password_file");
                   if (s) out_.store_password_file = s->empty() ? fs::path{} : resolve(*s);
               }}});
    }

    /// Dollars (an integer or a number with at most two decimals, 0..1,000,000) as cents.
    bool dollars_key(const toml::node& n, const std::string& what, std::int64_t& out) {
        double v = 0;
        if (const auto* i = n.as_integer()) v = static_cast<double>(i->get());
        else if (const auto* f = n.as_floating_point()) v = f->get();
        else {
            error(n.source(), what + " must be an amount in dollars (e.g. 50 or 12.50), not " + std::string(toml_type_name(n)));
            return false;
        }
        if (!(v >= 0 && v <= 1'000'000)) {
            error(n.source(), what + " must be between 0 and 1000000 dollars");
            return false;
        }
        out = static_cast<std::int64_t>(v * 100 + 0.5);
        return true;
    }

    void read_fees(const toml::table& t) {
        auto& f = out_.fees;
        auto limits = [&](const toml::node& n, const char* what, bool codes, auto& into) {
            const auto* tbl = n.as_table();
            if (!tbl) {
                error(n.source(), std::string(what) + " must be a table of limits, e.g. { name = 50 }");
                return;
            }
            for (auto&& [k, v] : *tbl) {
                const std::string name(k.str());
                bool ok = codes ? valid_client_code(name) : valid_user_name(name);
                if (!ok) {
                    error(k.source(), std::string(what) + " " + quote(name) + " is not a valid " +
                                          (codes ? "client code (" + std::string(client_code_rule) + ")" : "user name"));
                    continue;
                }
                std::int64_t cents = 0;
                if (dollars_key(v, std::string(what) + "." + name, cents)) into[name] = cents;
            }
        };
        keys(t, "fees",
             {{"period", [&](const toml::node& n) {
                   enum_key<fee_budgets::period_kind>(n, "[fees] period",
                                                      {{"month", fee_budgets::period_kind::month},
                                                       {"quarter", fee_budgets::period_kind::quarter}},
                                                      f.period);
               }},
              {"action", [&](const toml::node& n) {
                   enum_key<fee_budgets::action_kind>(
                       n, "[fees] action", {{"warn", fee_budgets::action_kind::warn}, {"block", fee_budgets::action_kind::block}},
                       f.action);
               }},
              {"user_limit", [&](const toml::node& n) { dollars_key(n, "[fees] user_limit", f.user_limit); }},
              {"client_code_limit", [&](const toml::node& n) { dollars_key(n, "[fees] client_code_limit", f.client_code_limit); }},
              {"users", [&](const toml::node& n) { limits(n, "[fees] users", false, f.users); }},
              {"client_codes", [&](const toml::node& n) { limits(n, "[fees] client_codes", true, f.client_codes); }}});
    }

    void read_audit(const toml::table& t) {
        keys(t, "audit", {{"retention_days", [&](const toml::node& n) {
                               integer_key(n, "[audit] retention_days", 1, 36500, out_.audit_retention_days);
                           }}});
    }

    void read_policy(const toml::table& t) {
        keys(t, "policy",
             {{"unlinked_nextgen",
               [&](const toml::node& n) {
                   enum_key<unlinked_policy>(n, "[policy] unlinked_nextgen",
                                             {{"warn", unlinked_policy::warn}, {"block", unlinked_policy::block}},
                                             out_.unlinked);
               }},
              {"other_hosts",
               [&](const toml::node& n) {
                   enum_key<other_hosts_policy>(
                       n, "[policy] other_hosts",
                       {{"refuse", other_hosts_policy::refuse}, {"tunnel", other_hosts_policy::tunnel}},
                       out_.other_hosts);
               }},
              {"anonymous_user", [&](const toml::node& n) {
                   const auto* s = string_of(n, "[policy] anonymous_user");
                   if (!s) return;
                   // The name ends up in log lines and status JSON: control characters could forge them.
                   if (sanitized(*s, s->size()) != *s) error(n.source(), "[policy] anonymous_user must not contain control characters");
                   else out_.anonymous_user = *s;
               }}});
    }

    std::string file_;
    fs::path base_;
    settings& out_;
    diagnostics& errors_;
};

} // namespace

bool parse_endpoint(std::string_view text, endpoint& out) {
    endpoint parsed;
    if (!endpoint_problem(text, parsed).empty()) return false;
    out = std::move(parsed);
    return true;
}

fs::path default_config_path() { return "/etc/courtroute/courtroute.toml"; }

fs::path settings::effective_key_file() const {
    if (!key_file.empty()) return key_file;
    // systemd's LoadCredential= puts the key here, readable only by the service.
    if (const char* dir = std::getenv("CREDENTIALS_DIRECTORY"); dir && *dir) return fs::path(dir) / "courtroute.key";
    return state_dir / "secret.key";
}

fs::path settings::database_file() const { return state_dir / "courtroute.db"; }

fs::path settings::effective_store_password_file() const {
    if (!store_password_file.empty()) return store_password_file;
    if (const char* dir = std::getenv("CREDENTIALS_DIRECTORY"); dir && *dir) {
        fs::path p = fs::path(dir) / "courtroute-store.password";
        std::error_code ec;
        if (fs::exists(p, ec)) return p;
    }
    return {};
}

std::string settings::store_name() const { return store_url.empty() ? database_file().string() : store_url; }

std::optional<std::string> store_url_problem(std::string_view url) {
    std::string_view rest;
    if (url.starts_with("postgresql://")) rest = url.substr(13);
    else if (url.starts_with("postgres://")) rest = url.substr(11);
    else return std::string("must be empty (the embedded SQLite store) or a postgresql:// URL");
    if (has_ctl_breaks(url) || url.find(' ') != std::string_view::npos)
        return std::string("holds spaces or control characters");
    auto authority = rest.substr(0, rest.find_first_of("/?"));
    if (auto at = authority.rfind('@'); at != std::string_view::npos &&
                                        authority.substr(0, at).find(':') != std::string_view::npos)
        return std::string("holds a password: put it in [store] password_file (or a systemd credential "
                           "courtroute-store.password), never in the config");
    if (auto q = rest.find('?'); q != std::string_view::npos && icontains(rest.substr(q), "password="))
        return std::string("holds a password: put it in [store] password_file (or a systemd credential "
                           "courtroute-store.password), never in the config");
    if (authority.empty() || authority.back() == '@')
        return std::string("names no host (postgresql://USER@HOST[:PORT]/DATABASE)");
    return std::nullopt;
}

fs::path settings::admin_socket() const { return state_dir / "admin.sock"; }

settings_result load_settings(const fs::path& file, bool explicitly_named) {
    settings_result result;
    const std::string name = file.string();

    std::string text;
    if (auto reason = read_whole_file(file, text); !reason.empty()) {
        std::error_code ec;
        bool missing = !fs::exists(file, ec) && !ec;
        if (missing && !explicitly_named && file.lexically_normal() == default_config_path()) return result;
        result.errors.push_back({name, 1, 1, "cannot read config: " + reason});
        return result;
    }
    result.value.source = file;

    std::error_code ec;
    fs::path absolute = fs::absolute(file, ec);
    fs::path base = (ec ? file : absolute).parent_path();

    toml::table root;
    try {
        root = toml::parse(std::string_view(text), std::string(name));
    } catch (const toml::parse_error& e) {
        result.errors.push_back({name, static_cast<int>(e.source().begin.line), static_cast<int>(e.source().begin.column),
                                 std::string(e.description())});
        return result;
    }

    config_reader(name, base, result.value, result.errors).read(root);
    // toml++ iterates tables in key order; report in file order so the first line comes first.
    std::stable_sort(result.errors.begin(), result.errors.end(), [](const diagnostic& a, const diagnostic& b) {
        return a.line != b.line ? a.line < b.line : a.column < b.column;
    });
    return result;
}

} // namespace courtroute
