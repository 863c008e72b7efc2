#include "registry/registry.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <utility>

#include <toml++/toml.h>

#include "config/settings.hpp"
#include "config/toml_support.hpp"
#include "core/names.hpp"
#include "core/url.hpp"

namespace courtroute {

namespace fs = std::filesystem;

std::string_view to_string(court_type t) {
    switch (t) {
    case court_type::district: return "district";
    case court_type::bankruptcy: return "bankruptcy";
    case court_type::appellate: return "appellate";
    case court_type::other: return "other";
    }
    return "other";
}

std::string_view to_string(court_system s) {
    switch (s) {
    case court_system::nextgen: return "nextgen";
    case court_system::legacy: return "legacy";
    }
    return "nextgen";
}

court_system court::system_on(day d) const {
    if (nextgen_since) return d >= *nextgen_since ? court_system::nextgen : court_system::legacy;
    return system;
}

namespace {

bool all_whitespace(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

/// A validated court plus where its identifying values sit in the file (for duplicate reports).
struct parsed_court {
    court value;
    toml::source_region id_at;
    toml::source_region url_at;
    std::vector<toml::source_region> extra_at;
};

/// Validates one parsed drop-in, collecting every problem in it.
class court_reader {
public:
    court_reader(std::string file, diagnostics& errors) : file_(std::move(file)), errors_(errors) {}

    /// The court, or nullopt when the file has any problem (all of them reported).
    std::optional<parsed_court> read(const toml::table& root) {
        parsed_court out;
        bool has_id = false, has_name = false, has_type = false, has_url = false, has_system = false;
        for (auto&& entry : root) {
            const toml::key& key = entry.first;
            const toml::node& node = entry.second;
            const std::string_view k = key.str();
            if (k == "id") {
                has_id = true;
                out.id_at = node.source();
                if (const auto* s = string_of(node, "id")) {
                    if (valid_court_id(*s)) out.value.id = *s;
                    else error(node.source(), "id " + quote(*s) + " must be lower-case letters and digits only (1 to 16)");
                }
            } else if (k == "name") {
                has_name = true;
                if (const auto* s = string_of(node, "name")) {
                    if (s->empty()) error(node.source(), "name must not be empty");
                    else if (sanitized(*s, s->size()) != *s) error(node.source(), "name must not contain control characters");
                    else out.value.name = *s;
                }
            } else if (k == "type") {
                has_type = true;
                if (const auto* s = string_of(node, "type")) {
                    if (*s == "district") out.value.type = court_type::district;
                    else if (*s == "bankruptcy") out.value.type = court_type::bankruptcy;
                    else if (*s == "appellate") out.value.type = court_type::appellate;
                    else if (*s == "other") out.value.type = court_type::other;
                    else error(node.source(), "type " + quote(*s) +
                                                  " is not one of district | bankruptcy | appellate | other");
                }
            } else if (k == "ecf_url") {
                has_url = true;
                out.url_at = node.source();
                if (const auto* s = string_of(node, "ecf_url")) read_url(node, *s, out.value);
            } else if (k == "system") {
                has_system = true;
                if (const auto* s = string_of(node, "system")) {
                    if (*s == "nextgen") out.value.system = court_system::nextgen;
                    else if (*s == "legacy") out.value.system = court_system::legacy;
                    else error(node.source(), "system " + quote(*s) + " is not one of nextgen | legacy");
                }
            } else if (k == "nextgen_since") {
                if (const auto* d = node.as_date()) {
                    const toml::date& v = d->get();
                    day since{std::chrono::year{static_cast<int>(v.year)}, std::chrono::month{v.month},
                              std::chrono::day{v.day}};
                    if (since.ok()) out.value.nextgen_since = since;
                    else error(node.source(), "nextgen_since is not a valid calendar date");
                } else {
                    error(node.source(), "nextgen_since must be a TOML date written without quotes or time, "
                                         "such as 2021-06-28, not " + std::string(toml_type_name(node)));
                }
            } else if (k == "extra_hosts") {
                read_extra_hosts(node, out);
            } else if (k == "source") {
                if (const auto* s = string_of(node, "source")) out.value.source = *s;
            } else {
                error(key.source(), "unknown key " + quote(k));
            }
        }
        if (!has_id) missing("id");
        if (!has_name) missing("name");
        if (!has_type) missing("type");
        if (!has_url) missing("ecf_url");
        if (!has_system) missing("system");
        if (bad_) return std::nullopt;
        return out;
    }

private:
    void error(const toml::source_region& where, std::string message) {
        bad_ = true;
        errors_.push_back({file_, static_cast<int>(where.begin.line), static_cast<int>(where.begin.column),
                           std::move(message)});
    }

    void missing(std::string_view key) {
        bad_ = true;
        errors_.push_back({file_, 1, 1, "missing required key '" + std::string(key) + "'"});
    }

    const std::string* string_of(const toml::node& node, std::string_view what) {
        if (const auto* v = node.as_string()) return &v->get();
        error(node.source(), std::string(what) + " must be a string, not " + std::string(toml_type_name(node)));
        return nullptr;
    }

    /// ecf_url is the court's origin: `https://host`, optionally `:443` and a trailing slash.
    void read_url(const toml::node& node, const std::string& url, court& out) {
        auto fail = [&](std::string_view why) { error(node.source(), "ecf_url " + quote(url) + " " + std::string(why)); };
        std::string problem;
        auto u = parse_url(url, &problem);
        if (!u || u->scheme != "https") {
            if (u || problem.starts_with("must be")) return fail("must start with https://");
            if (problem.starts_with("has a bad host: ")) problem.replace(0, 16, "has a bad host name: ");
            return fail(problem);
        }
        if (u->target != "/") return fail("must be just https://HOST (no path, query or fragment)");
        if (url.find('#') != std::string::npos) return fail("must be just https://HOST (no path, query or fragment)");
        if (u->port != 443) return fail("must use the default port 443");
        if (is_ip_literal(u->host)) return fail("has a bad host name " + quote(u->host));
        out.host = u->host;
        out.ecf_url = "https://" + out.host;
    }

    void read_extra_hosts(const toml::node& node, parsed_court& out) {
        const auto* a = node.as_array();
        if (!a) {
            error(node.source(), "extra_hosts must be an array of host names, not " + std::string(toml_type_name(node)));
            return;
        }
        for (const auto& item : *a) {
            const auto* s = string_of(item, "extra_hosts entry");
            if (!s) continue;
            if (!is_host_name(*s)) {
                error(item.source(), "extra_hosts entry " + quote(*s) + " is not a valid host name");
                continue;
            }
            out.value.extra_hosts.push_back(to_lower(*s));
            out.extra_at.push_back(item.source());
        }
    }

    std::string file_;
    diagnostics& errors_;
    bool bad_ = false;
};

diagnostic at(const std::string& file, const toml::source_region& where, std::string message) {
    return {file, static_cast<int>(where.begin.line), static_cast<int>(where.begin.column), std::move(message)};
}

} // namespace

std::shared_ptr<const registry> registry::load(const std::vector<fs::path>& dirs) {
    auto reg = std::make_shared<registry>();

    // systemd drop-in semantics: files are keyed by name; a later directory's file replaces an
    // earlier one of the same name, so /etc can override or mask what the package ships.
    std::map<std::string, fs::path> files;
    for (const auto& dir : dirs) {
        std::error_code ec;
        fs::directory_iterator it(dir, ec);
        if (ec) {
            // A directory that does not exist is normal (nothing overridden); anything else is worth saying.
            if (ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
                reg->errors_.push_back({dir.string(), 0, 0, "cannot read registry directory: " + ec.message()});
            continue;
        }
        for (; it != fs::directory_iterator(); it.increment(ec)) {
            const auto& path = it->path();
            std::string name = path.filename().string();
            if (name.size() <= 5 || !name.ends_with(".toml")) continue;
            std::error_code type_ec;
            if (fs::is_directory(path, type_ec)) continue;
            files[name] = path;
        }
        if (ec) reg->errors_.push_back({dir.string(), 0, 0, "cannot read registry directory: " + ec.message()});
    }

    std::vector<parsed_court> loaded;
    std::map<std::string, std::string, std::less<>> id_file;   // id -> file that holds it
    std::map<std::string, std::string, std::less<>> host_court; // host -> court id
    for (const auto& [name, path] : files) {
        const std::string file = path.string();
        // Only regular files are read: opening a FIFO would block the reload (and the daemon's
        // only I/O thread) forever.
        std::error_code st_ec;
        if (auto st = fs::status(path, st_ec); !st_ec && fs::exists(st) && !fs::is_regular_file(st)) {
            reg->errors_.push_back({file, 0, 0, "not a regular file (FIFO, socket or device); skipped"});
            continue;
        }
        std::string text;
        if (auto reason = read_whole_file(path, text); !reason.empty()) {
            reg->errors_.push_back({file, 0, 0, "cannot read court file: " + reason});
            continue;
        }
        if (all_whitespace(text)) continue; // masked
        toml::table root;
        try {
            root = toml::parse(std::string_view(text), std::string(file));
        } catch (const toml::parse_error& e) {
            reg->errors_.push_back({file, static_cast<int>(e.source().begin.line),
                                    static_cast<int>(e.source().begin.column), std::string(e.description())});
            continue;
        }
        if (root.empty()) continue; // comments only: masked as well

        diagnostics file_errors;
        auto parsed = court_reader(file, file_errors).read(root);
        if (parsed) {
            court& c = parsed->value;
            if (auto it = id_file.find(c.id); it != id_file.end()) {
                file_errors.push_back(at(file, parsed->id_at,
                                         "duplicate court id '" + c.id + "', already defined in " + it->second +
                                             "; this file is skipped"));
            }
            std::vector<std::pair<std::string, toml::source_region>> hosts{{c.host, parsed->url_at}};
            for (std::size_t i = 0; i < c.extra_hosts.size(); ++i) hosts.emplace_back(c.extra_hosts[i], parsed->extra_at[i]);
            for (std::size_t i = 0; i < hosts.size(); ++i) {
                // Not a structured binding: clang before 16 cannot capture one in the lambda below.
                const std::string& host = hosts[i].first;
                const toml::source_region& where = hosts[i].second;
                bool repeated = std::any_of(hosts.begin(), hosts.begin() + static_cast<std::ptrdiff_t>(i),
                                            [&](const auto& h) { return h.first == host; });
                if (repeated) {
                    file_errors.push_back(at(file, where, "host '" + host + "' is listed twice in this file"));
                } else if (auto it = host_court.find(host); it != host_court.end()) {
                    file_errors.push_back(at(file, where,
                                             "duplicate host '" + host + "', already served by court '" + it->second +
                                                 "' in " + id_file[it->second] + "; this file is skipped"));
                }
            }
        }
        if (!file_errors.empty()) {
            // toml++ iterates keys in sorted order; report in file order.
            std::stable_sort(file_errors.begin(), file_errors.end(), [](const diagnostic& a, const diagnostic& b) {
                return a.line != b.line ? a.line < b.line : a.column < b.column;
            });
            reg->errors_.insert(reg->errors_.end(), file_errors.begin(), file_errors.end());
            continue;
        }
        court& c = parsed->value;
        c.file = path;
        id_file[c.id] = file;
        host_court[c.host] = c.id;
        for (const auto& h : c.extra_hosts) host_court[h] = c.id;
        loaded.push_back(std::move(*parsed));
    }

    std::sort(loaded.begin(), loaded.end(),
              [](const parsed_court& a, const parsed_court& b) { return a.value.id < b.value.id; });
    reg->courts_.reserve(loaded.size());
    for (auto& p : loaded) {
        std::size_t index = reg->courts_.size();
        reg->courts_.push_back(std::move(p.value));
        const court& c = reg->courts_.back();
        reg->by_id_.emplace(c.id, index);
        reg->by_host_.emplace(c.host, index);
        for (const auto& h : c.extra_hosts) reg->by_host_.emplace(h, index);
    }
    return reg;
}

std::vector<std::string> registry::hosts() const {
    std::vector<std::string> out;
    out.reserve(by_host_.size());
    for (const auto& [host, index] : by_host_) out.push_back(host);
    return out;
}

const court* registry::find_id(std::string_view id) const {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : &courts_[it->second];
}

const court* registry::find_host(std::string_view host) const {
    std::string key = to_lower(host);
    // "ecf.azb.uscourts.gov." is the same name in absolute form.
    if (!key.empty() && key.back() == '.') key.pop_back();
    auto it = by_host_.find(key);
    return it == by_host_.end() ? nullptr : &courts_[it->second];
}

} // namespace courtroute
