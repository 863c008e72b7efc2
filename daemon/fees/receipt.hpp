#pragma once
/// PACER's Transaction Receipt (PROTOCOL.md §9), sans-io: found on the HTML a court sends after
/// a charge (or before it, as a document's quote), read tolerantly (upper or lower case tags,
/// badly nested cells, values in `<font>`, padded codes, a `:csoid:flag` login suffix, the
/// 30-page note, timestamps with or without seconds and AM/PM).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace courtroute::fees {

/// One receipt as the court printed it.
struct receipt {
    std::string printed_at;      ///< the timestamp row as printed ("11/29/2026 09:14:02 PM")
    std::string login;           ///< PACER Login, without a `:csoid:flag` suffix
    std::string client_code;     ///< Client Code, trimmed (may be empty)
    std::string description;     ///< Description ("Docket Report", "Image 12-1")
    std::string criteria;        ///< Search Criteria, or Case Number
    int billable_pages = 0;      ///< Billable Pages (itself capped: not the page count)
    std::int64_t cost_cents = 0; ///< Cost in cents
    bool capped = false;         ///< the "only be billed for 30 pages" note is there
};

/// The cheap test the proxy runs first on an HTML answer it already holds lower-cased: whether a
/// receipt can be in it at all.
[[nodiscard]] bool may_hold_receipt(std::string_view lower_body);

/// The receipt in `html`, or nullopt when there is none or it lacks Billable Pages or Cost.
/// Linear in the size of the page.
[[nodiscard]] std::optional<receipt> find_receipt(std::string_view html);

/// Whether a court path shows a document (`/doc1/...`, `show_multidocs.pl`, `show_doc.pl`):
/// its receipt is a quote, charged only when the document itself is fetched (PROTOCOL.md §9).
[[nodiscard]] bool is_document_path(std::string_view path);

/// What names one document in the ledger, so that its fetch finds its own quote: the path for
/// `/doc1/<id>`; for `show_doc.pl` and `show_multidocs.pl`, which name the document in the
/// query, the path and the query's parameters sorted, without `got_receipt` (the fetch adds it)
/// and the form's submit button. `target` is the origin-form target with its query.
[[nodiscard]] std::string document_key(std::string_view target);

} // namespace courtroute::fees
