#pragma once
/// The fee ledger's arithmetic (PROTOCOL.md §9), sans-io: totals of recorded charges grouped by
/// user, client code, court or day, and PACER's quarterly bill per login (nothing owed for a
/// quarter at or below $30). Quotes never fetched are not charges.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace courtroute::fees {

/// One ledger line (a charge, or a document's quote not yet fetched).
struct entry {
    std::int64_t at = 0;         ///< unix seconds the daemon saw it
    std::string user;            ///< local user
    std::string court;           ///< court id
    std::string login;           ///< PACER login the court billed
    std::string client_code;     ///< the client code billed (may be empty)
    std::string description;     ///< the receipt's Description
    std::string criteria;        ///< Search Criteria / Case Number
    int pages = 0;               ///< billable pages
    std::int64_t cents = 0;      ///< cost
    bool quote = false;          ///< a document's quote, not (yet) a charge
    bool estimated = false;      ///< no receipt: estimated from the fee schedule
    std::string path;            ///< the court path (no query), to match a quote with its fetch
};

/// A document, docket sheet or case-specific report costs at most 30 pages ($3.00).
inline constexpr int page_cap = 30;
inline constexpr std::int64_t cents_per_page = 10;
/// PACER waives a quarter whose charges stay at or below $30.
inline constexpr std::int64_t quarterly_waiver_cents = 3000;

/// The cost of `pages` billable pages (already capped where the kind is).
[[nodiscard]] constexpr std::int64_t cents_of(int pages) { return static_cast<std::int64_t>(pages) * cents_per_page; }

/// The estimate for `pages` billable pages of a capped kind (a document, docket, report).
[[nodiscard]] constexpr std::int64_t estimated_cents(int pages) { return cents_of(pages < page_cap ? pages : page_cap); }

/// What to group totals by.
enum class grouping { user, client_code, court, day };

struct group_total {
    std::string key;          ///< the user, client code ("" = none), court or YYYY-MM-DD (UTC)
    int charges = 0;          ///< how many charges
    int pages = 0;            ///< billable pages
    std::int64_t cents = 0;   ///< cost
    int estimated = 0;        ///< how many of them were estimated
};

/// Charges (quotes left out) grouped by `g`, sorted by key.
[[nodiscard]] std::vector<group_total> totals(const std::vector<entry>& entries, grouping g);

/// One PACER login's quarter: charged, and owed after the waiver.
struct quarter_bill {
    std::string login;
    std::string quarter;       ///< "2026-Q4"
    std::int64_t cents = 0;
    bool waived = false;       ///< at or below $30: nothing owed
    [[nodiscard]] std::int64_t owed() const { return waived ? 0 : cents; }
};

/// The quarterly bills of every login in `entries` (charges only), sorted by login and quarter.
[[nodiscard]] std::vector<quarter_bill> quarterly(const std::vector<entry>& entries);

/// "$1.23".
[[nodiscard]] std::string dollars(std::int64_t cents);

} // namespace courtroute::fees
