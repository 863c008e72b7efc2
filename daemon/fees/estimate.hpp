#pragma once
/// Fees estimated when no receipt shows them (PROTOCOL.md §9), sans-io. A client can turn
/// PACER's receipts off (cookie `PacerPref=receipt=N`); the courts still charge, so the ledger
/// estimates from the fee schedule: HTML at 4,320 bytes a page, a PDF by its page count, 30
/// pages at most for a document or a case-specific report. Estimated lines are marked so.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace courtroute::fees {

/// HTML is billed per 4,320 bytes.
inline constexpr std::int64_t html_page_bytes = 4320;

/// Whether the client's cookies (`name=value; ...`) turn receipts off (`PacerPref` holding
/// `receipt=N`, any case).
[[nodiscard]] bool receipts_off(std::string_view client_cookies);

/// What a charged answer without a receipt is.
struct billed_kind {
    std::string description; ///< as a receipt would say it ("Docket Report", "Image")
    bool capped = true;      ///< at most 30 pages (documents and case-specific reports)
};

/// The charged report an HTML answer at `path` (no query) is, or nullopt: the docket,
/// history/documents and claims register of a case (capped), a query's search results (POST
/// to iquery.pl, not capped). `lower_body` is the page lower-cased: a report's criteria form
/// (a "Run Report" button) is free and is not charged.
[[nodiscard]] std::optional<billed_kind> billed_report(std::string_view method, std::string_view path,
                                                       std::string_view lower_body);

/// The pages of an HTML answer of `bytes` bytes (at least one: a search with no hits is a page).
[[nodiscard]] int html_pages(std::int64_t bytes);

/// The case a report or document names in `target`'s query (`DktRpt.pl?12345`, `caseid=`), or "".
[[nodiscard]] std::string case_of(std::string_view target);

/// Counts a PDF's pages as it streams past, chunk by chunk: the largest `/Count n` (the page
/// tree's root holds the total) or, if larger, the number of `/Type /Page` objects. A PDF whose
/// page objects sit in compressed object streams shows neither: `pages()` is then nullopt.
class pdf_page_counter {
public:
    void feed(std::string_view chunk);
    [[nodiscard]] std::optional<int> pages() const;

private:
    std::string carry_;           ///< the last bytes of the previous chunk (a token may straddle)
    std::string window_;          ///< carry_ + the chunk being scanned (kept: its capacity serves the next)
    std::int64_t count_ = 0;      ///< largest /Count seen
    std::int64_t page_objects_ = 0;
};

/// The pages billed for a document of `parts` parts (show_multidocs.pl) whose PDF had `pages`
/// pages: at most 30 a part; the cap when they could not be counted (the most a document can
/// cost: a budget is never under-counted).
[[nodiscard]] int document_pages(std::optional<int> pages, int parts = 1);

/// How many documents `target` fetches at once (show_multidocs.pl's `arr_de_seq_nums`), at least 1.
[[nodiscard]] int document_parts(std::string_view target);

/// What to estimate for a court's answer that no receipt will show.
struct estimate_plan {
    std::string description;  ///< "Docket Report (estimated)", "Image (estimated)"
    std::string criteria;     ///< the case, when the target names one
    std::string key;          ///< the ledger's path: document_key for a document, else the path
    bool pdf = false;         ///< a document: count the PDF's pages as it streams (document_pages)
    int parts = 1;            ///< a document's parts
    int pages = 0;            ///< an HTML report's billable pages
};

/// Whether a 2xx answer to `method` `target` is charged without a receipt, and how to estimate
/// it: a document's PDF, or one of billed_report's HTML reports (`lower_body` is what was read
/// for inspection, lower-cased; all of it when `body_complete`). The caller knows receipts are
/// off (receipts_off) and the route is PACER's.
[[nodiscard]] std::optional<estimate_plan> plan_estimate(std::string_view method, std::string_view target,
                                                         std::string_view content_type, std::string_view lower_body,
                                                         bool body_complete);

} // namespace courtroute::fees
