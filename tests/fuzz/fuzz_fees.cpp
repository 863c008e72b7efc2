/// The fee ledger's readers of court answers (PROTOCOL.md §9): the Transaction Receipt parser
/// with its cheap pre-check, the PDF page counter, and the estimate for receipts turned off.
/// Properties: never throws; a page with a receipt always passes the pre-check (else the ledger
/// would miss it); what the parser reads is sane (costs and pages not negative, no control bytes
/// in the text fields); the verdicts do not depend on letter case; the page counter gives the
/// same count however the PDF is cut into chunks; estimates are at least one page, at most the
/// cap where the kind is capped.
#include "core/text.hpp"
#include "fees/estimate.hpp"
#include "fees/ledger.hpp"
#include "fees/receipt.hpp"
#include "fuzz_support.hpp"

using namespace courtroute;
using courtroute::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto body = fuzz::as_text(data, size);
    const auto lower = to_lower(body);

    auto r = fees::find_receipt(body);
    if (r) {
        check(fees::may_hold_receipt(lower), "a receipt the pre-check turns away");
        check(r->cost_cents >= 0 && r->billable_pages >= 0, "a negative cost or page count");
        for (const auto* field : {&r->login, &r->client_code, &r->description, &r->criteria, &r->printed_at})
            check(!fuzz::has_control(*field), "a control byte in a receipt field");
        auto upper = fees::find_receipt(fuzz::to_upper(body));
        check(upper && upper->cost_cents == r->cost_cents && upper->billable_pages == r->billable_pages,
              "the receipt depends on letter case");
    }

    // The page counter: whole, and cut at a point the input chooses (and byte by byte for small ones).
    fees::pdf_page_counter whole, halves, bytes;
    whole.feed(body);
    const std::size_t cut = size ? data[0] % (size + 1) : 0;
    halves.feed(body.substr(0, cut));
    halves.feed(body.substr(cut));
    check(whole.pages() == halves.pages(), "the page count depends on where the PDF was cut");
    if (size <= 512) {
        for (std::size_t i = 0; i < size; ++i) bytes.feed(body.substr(i, 1));
        check(whole.pages() == bytes.pages(), "the page count depends on chunking (byte by byte)");
    }
    if (auto n = whole.pages()) check(*n >= 1, "a PDF counted with no page");

    // The estimate: the input as a page, and as a cookie header.
    (void)fees::receipts_off(body);
    for (auto method : {"GET", "POST"})
        for (auto target : {"/cgi-bin/DktRpt.pl?1", "/cgi-bin/iquery.pl", "/doc1/1"})
            if (auto p = fees::plan_estimate(method, target, "text/html", lower, true)) {
                check(p->pages >= 1, "an estimate below one page");
                if (std::string_view(target).starts_with("/cgi-bin/DktRpt")) check(p->pages <= fees::page_cap, "a capped report over the cap");
            }
    auto parts = fees::document_parts(body);
    check(parts >= 1, "a document of no parts");
    auto pages = fees::document_pages(whole.pages(), parts);
    check(pages >= 1 && pages <= fees::page_cap * parts, "document pages outside [1, cap]");
    return 0;
}
