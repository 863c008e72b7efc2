#include "fees/receipt.hpp"

#include <algorithm>
#include <functional>
#include <vector>

#include "core/text.hpp"

namespace courtroute::fees {

namespace {

constexpr auto npos = std::string_view::npos;

/// The text between tags from `html[from, to)`, one entry per run, entities for spaces and
/// ampersands decoded, whitespace and control bytes as spaces, trimmed, empty runs dropped.
std::vector<std::string> text_runs(std::string_view html, std::size_t from, std::size_t to) {
    std::vector<std::string> out;
    std::string cur;
    bool in_tag = false;
    auto flush = [&] {
        auto t = trim(cur);
        if (!t.empty()) out.emplace_back(t);
        cur.clear();
    };
    for (std::size_t i = from; i < to; ++i) {
        char c = html[i];
        if (in_tag) {
            if (c == '>') in_tag = false;
            continue;
        }
        if (c == '<') {
            flush();
            in_tag = true;
            continue;
        }
        if (c == '&') {
            auto rest = html.substr(i, 6);
            if (istarts_with(rest, "&nbsp;")) { cur += ' '; i += 5; continue; }
            if (istarts_with(rest, "&amp;")) { cur += '&'; i += 4; continue; }
        }
        // Control bytes become spaces too: the fields reach terminals and CSV files.
        const auto u = static_cast<unsigned char>(c);
        cur += u < 0x20 || u == 0x7f ? ' ' : c;
    }
    flush();
    return out;
}

bool is_label(std::string_view run) { return !run.empty() && run.back() == ':'; }

bool label_is(std::string_view run, std::string_view name) {
    if (!is_label(run)) return false;
    return iequals(trim(run.substr(0, run.size() - 1)), name);
}

bool looks_like_time(std::string_view s) {
    // MM/DD/YYYY HH:MM[:SS][ AM|PM]
    std::size_t digits = 0, slashes = 0, colons = 0;
    for (char c : s) {
        if (c >= '0' && c <= '9') ++digits;
        else if (c == '/') ++slashes;
        else if (c == ':') ++colons;
        else if (!(c == ' ' || c == 'A' || c == 'P' || c == 'M' || c == 'a' || c == 'p' || c == 'm')) return false;
    }
    return slashes == 2 && (colons == 1 || colons == 2) && digits >= 10 && s.size() <= 24;
}

std::optional<std::int64_t> cents(std::string_view s) {
    s = trim(s);
    if (!s.empty() && s.front() == '$') s.remove_prefix(1);
    std::int64_t whole = 0, frac = 0;
    int frac_digits = -1;
    bool any = false;
    for (char c : s) {
        if (c == ',' && frac_digits < 0) continue;
        if (c == '.' && frac_digits < 0) { frac_digits = 0; continue; }
        if (c < '0' || c > '9') return std::nullopt;
        any = true;
        if (frac_digits < 0) {
            whole = whole * 10 + (c - '0');
            if (whole > 100'000'000) return std::nullopt;
        } else if (frac_digits < 2) {
            frac = frac * 10 + (c - '0');
            ++frac_digits;
        }
    }
    if (!any) return std::nullopt;
    if (frac_digits == 1) frac *= 10;
    return whole * 100 + frac;
}

std::optional<int> count(std::string_view s) {
    s = trim(s);
    if (s.empty() || s.size() > 7) return std::nullopt;
    int n = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');
    }
    return n;
}

} // namespace

bool may_hold_receipt(std::string_view lower_body) {
    // Every inspected page passes here: Horspool skips up to the needle's length per step, where
    // a plain find stops at every 't'.
    static constexpr std::string_view needle = "transaction receipt";
    static const std::boyer_moore_horspool_searcher searcher(needle.begin(), needle.end());
    return std::search(lower_body.begin(), lower_body.end(), searcher) != lower_body.end();
}

std::optional<receipt> find_receipt(std::string_view html) {
    const std::string lower = to_lower(html);
    auto at = lower.find("transaction receipt");
    if (at == npos) return std::nullopt;
    // The receipt's table follows its heading; a generous window past it, never the whole page.
    auto end = lower.find("</table", at);
    end = end == npos ? std::min(lower.size(), at + 16384) : std::min(end, at + 16384);
    auto runs = text_runs(html, at, end);
    receipt r;
    bool have_pages = false, have_cost = false;
    for (std::size_t i = 0; i < runs.size(); ++i) {
        const auto& run = runs[i];
        auto value = [&]() -> std::string {
            if (i + 1 < runs.size() && !is_label(runs[i + 1])) return runs[++i];
            return {};
        };
        if (r.printed_at.empty() && looks_like_time(run)) r.printed_at = run;
        else if (label_is(run, "PACER Login")) {
            auto v = value();
            r.login = v.substr(0, v.find(':'));
        } else if (label_is(run, "Client Code")) r.client_code = std::string(trim(value()));
        else if (label_is(run, "Description")) r.description = value();
        else if (label_is(run, "Search Criteria") || label_is(run, "Case Number")) r.criteria = value();
        else if (label_is(run, "Billable Pages")) {
            if (auto n = count(value())) {
                r.billable_pages = *n;
                have_pages = true;
            }
        } else if (label_is(run, "Cost")) {
            if (auto c = cents(value())) {
                r.cost_cents = *c;
                have_cost = true;
            }
        } else if (icontains(run, "only be billed for 30 pages")) {
            r.capped = true;
        }
    }
    if (!have_pages || !have_cost) return std::nullopt;
    return r;
}

bool is_document_path(std::string_view path) {
    path = path.substr(0, path.find('?'));
    return path.starts_with("/doc1/") || iends_with(path, "/show_multidocs.pl") || iends_with(path, "/show_doc.pl");
}

std::string document_key(std::string_view target) {
    auto q = target.find('?');
    std::string path(target.substr(0, q));
    if (q == std::string_view::npos || path.starts_with("/doc1/")) return path;
    std::vector<std::string_view> params;
    for (std::string_view rest = target.substr(q + 1); !rest.empty();) {
        auto amp = rest.find('&');
        auto p = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        auto name = p.substr(0, p.find('='));
        if (p.empty() || iequals(name, "got_receipt") || iequals(name, "submit")) continue;
        params.push_back(p);
    }
    std::sort(params.begin(), params.end());
    std::string key = std::move(path);
    char sep = '?';
    for (auto p : params) {
        key += sep;
        key += p;
        sep = '&';
    }
    return key;
}

} // namespace courtroute::fees
