#include "fees/estimate.hpp"

#include <algorithm>
#include <array>

#include "core/text.hpp"
#include "fees/ledger.hpp"
#include "fees/receipt.hpp"

namespace courtroute::fees {
namespace {

/// The value of query parameter `name` in `query` (no '?'), or nullopt.
std::optional<std::string_view> param(std::string_view query, std::string_view name) {
    for (std::string_view rest = query; !rest.empty();) {
        auto amp = rest.find('&');
        auto p = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        auto eq = p.find('=');
        if (eq != std::string_view::npos && iequals(p.substr(0, eq), name)) return p.substr(eq + 1);
    }
    return std::nullopt;
}

/// PDF whitespace and delimiters end a name: what follows `/Page` decides whether it is `/Pages`.
bool ends_name(char c) {
    return c == '\0' || is_html_space(c) || c == '/' || c == '<' || c == '>' || c == '[' || c == ']' || c == '(' ||
           c == ')' || c == '{' || c == '}' || c == '%';
}

bool pdf_space(char c) { return c == '\0' || is_html_space(c); }

/// At most this much whitespace inside a token (writers put one space): so the longest token
/// fits in `token_room` and the count never depends on where the chunks were cut.
constexpr std::size_t max_gap = 12;
/// The longest token the counter looks for ("/Count", gap, nine digits, the byte after).
constexpr std::size_t token_room = 32;

struct pdf_counts {
    std::int64_t count = 0, page_objects = 0;
};

/// Counts `/Type /Page` and the largest `/Count n` among tokens starting in [0, to) of `text`;
/// a token not complete within `text` is not counted.
void scan_pdf(std::string_view text, std::size_t to, pdf_counts& out) {
    for (auto at = text.find('/'); at != std::string_view::npos && at < to; at = text.find('/', at + 1)) {
        auto rest = text.substr(at + 1);
        if (rest.starts_with("Type")) {
            std::size_t i = 4;
            while (i < rest.size() && i < 4 + max_gap && pdf_space(rest[i])) ++i;
            if (rest.substr(i).starts_with("/Page") && i + 5 < rest.size() && ends_name(rest[i + 5]))
                ++out.page_objects;
        } else if (rest.starts_with("Count") && rest.size() > 5 && (pdf_space(rest[5]) || (rest[5] >= '0' && rest[5] <= '9'))) {
            std::size_t i = 5;
            while (i < rest.size() && i < 5 + max_gap && pdf_space(rest[i])) ++i;
            std::int64_t n = 0;
            std::size_t digits = 0;
            while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9' && digits < 9) {
                n = n * 10 + (rest[i++] - '0');
                ++digits;
            }
            if (digits > 0 && i < rest.size()) out.count = std::max(out.count, n);
        }
    }
}

} // namespace

bool receipts_off(std::string_view client_cookies) {
    for (std::string_view rest = client_cookies; !rest.empty();) {
        auto semi = rest.find(';');
        auto pair = trim(rest.substr(0, semi));
        rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
        auto eq = pair.find('=');
        if (eq == std::string_view::npos || !iequals(trim(pair.substr(0, eq)), "PacerPref")) continue;
        // The preference value may hold several settings ("receipt=N", "receipt=N&x=y").
        std::string_view value = trim(pair.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        if (auto r = param(value, "receipt"); r && iequals(*r, "N")) return true;
    }
    return false;
}

std::optional<billed_kind> billed_report(std::string_view method, std::string_view path, std::string_view lower_body) {
    struct report {
        std::string_view path, description;
        bool capped, post_only;
    };
    static constexpr std::array<report, 4> reports{{
        {"/dktrpt.pl", "Docket Report", true, false},
        {"/histdocqry.pl", "History/Documents", true, false},
        {"/searchclaims.pl", "Claims Register", true, false},
        // A court's case search: its results are not one case's, so not capped.
        {"/iquery.pl", "Search", false, true},
    }};
    if (iequals(method, "HEAD")) return std::nullopt;
    for (const auto& r : reports) {
        if (!iends_with(path, r.path) || (r.post_only && !iequals(method, "POST"))) continue;
        // The criteria form comes before the report and costs nothing.
        if (lower_body.find("run report") != std::string_view::npos) return std::nullopt;
        return billed_kind{std::string(r.description), r.capped};
    }
    return std::nullopt;
}

int html_pages(std::int64_t bytes) {
    if (bytes <= html_page_bytes) return 1;
    auto pages = (bytes + html_page_bytes - 1) / html_page_bytes;
    return static_cast<int>(std::min<std::int64_t>(pages, 1'000'000));
}

std::string case_of(std::string_view target) {
    auto q = target.find('?');
    if (q == std::string_view::npos) return {};
    auto query = target.substr(q + 1);
    for (auto name : {"caseid", "case_id", "all_case_ids"})
        if (auto v = param(query, name)) return sanitized(*v, 40);
    // The bare form: DktRpt.pl?12345 (or 12345-L_1_0-1).
    auto bare = query.substr(0, query.find('&'));
    if (bare.find('=') != std::string_view::npos) return {};
    return sanitized(bare.substr(0, bare.find('-')), 40);
}

void pdf_page_counter::feed(std::string_view chunk) {
    if (chunk.empty()) return;
    window_.assign(carry_);
    window_.append(chunk);
    const std::size_t to = window_.size() > token_room ? window_.size() - token_room : 0;
    pdf_counts c{count_, page_objects_};
    scan_pdf(window_, to, c);
    count_ = c.count;
    page_objects_ = c.page_objects;
    carry_.assign(window_, to);  // tokens starting here are counted with the next chunk, or at the end
}

std::optional<int> pdf_page_counter::pages() const {
    pdf_counts c{count_, page_objects_};
    // The last bytes: a token at the very end has whatever follows it, so a trailing space counts.
    std::string tail = carry_ + ' ';
    scan_pdf(tail, carry_.size(), c);
    auto n = std::max(c.count, c.page_objects);
    if (n <= 0) return std::nullopt;
    return static_cast<int>(std::min<std::int64_t>(n, 1'000'000));
}

int document_pages(std::optional<int> pages, int parts) {
    const int cap = page_cap * std::max(parts, 1);
    if (!pages) return cap;
    return std::clamp(*pages, 1, cap);
}

int document_parts(std::string_view target) {
    auto q = target.find('?');
    if (q == std::string_view::npos) return 1;
    auto seqs = param(target.substr(q + 1), "arr_de_seq_nums");
    if (!seqs || seqs->empty()) return 1;
    // "5,6,7", perhaps percent-encoded commas.
    int parts = 1;
    for (std::size_t i = 0; i < seqs->size(); ++i)
        if ((*seqs)[i] == ',' || (seqs->substr(i).size() >= 3 && iequals(seqs->substr(i, 3), "%2C"))) ++parts;
    return std::min(parts, 1000);
}

std::optional<estimate_plan> plan_estimate(std::string_view method, std::string_view target,
                                           std::string_view content_type, std::string_view lower_body,
                                           bool body_complete) {
    const auto path = target.substr(0, target.find('?'));
    if (iequals(method, "HEAD")) return std::nullopt;
    if (is_document_path(path)) {
        if (!icontains(content_type, "application/pdf")) return std::nullopt;
        estimate_plan p;
        p.description = "Image (estimated)";
        p.criteria = case_of(target);
        p.pdf = true;
        p.parts = document_parts(target);
        p.key = document_key(target);
        return p;
    }
    if (!icontains(content_type, "text/html")) return std::nullopt;
    auto kind = billed_report(method, path, lower_body);
    if (!kind) return std::nullopt;
    estimate_plan p;
    p.description = kind->description + " (estimated)";
    p.criteria = case_of(target);
    // Past what the proxy reads for inspection a page is far over 30 pages.
    p.pages = html_pages(static_cast<std::int64_t>(lower_body.size()));
    if (kind->capped) p.pages = body_complete ? std::min(p.pages, page_cap) : page_cap;
    p.key = std::string(path);
    return p;
}

} // namespace courtroute::fees
