// PACER's Transaction Receipt (PROTOCOL.md §9) on saved page shapes, and the ledger's totals.
#include <gtest/gtest.h>

#include "fees/estimate.hpp"
#include "fees/ledger.hpp"
#include "fees/receipt.hpp"

using namespace courtroute::fees;

namespace {

// As district courts print it (upper-case tags, values in <font>, a stray </TH> in a cell).
const char* docket_receipt =
    "<HTML><BODY><H3>CIVIL DOCKET FOR CASE #: 2:16-cv-01234-ABC</H3><TABLE>...</TABLE>\n"
    "<HR><CENTER><TABLE BORDER=1 BGCOLOR=white width=\"400\"><TR><TH COLSPAN=4><FONT SIZE=+1 COLOR=DARKRED>"
    "PACER Service Center </FONT></TH></TR><TR><TH COLSPAN=4><FONT COLOR=DARKBLUE>Transaction Receipt </FONT></TH></TR>"
    "<TR></TR><TR></TR><TR><TD COLSPAN=4 ALIGN=CENTER><FONT SIZE=-1 COLOR=DARKBLUE>06/06/2017 10:18:44</FONT></TD></TR>"
    "<TR><TH ALIGN=LEFT><FONT SIZE=-1 COLOR=DARKBLUE> PACER Login: </FONT></TH><TD ALIGN=LEFT><FONT SIZE=-1 "
    "COLOR=DARKBLUE>ab1234:2634105:0</FONT></TD><TH ALIGN=LEFT><FONT SIZE=-1 COLOR=DARKBLUE> Client Code: </FONT></TH>"
    "<TD ALIGN=LEFT><FONT SIZE=-1 COLOR=DARKBLUE>smith/0042   </FONT></TD></TR><TR><TH ALIGN=LEFT><FONT SIZE=-1 "
    "COLOR=DARKBLUE> Description: </FONT></TH><TD ALIGN=LEFT><FONT SIZE=-1 COLOR=DARKBLUE>Docket Report</FONT></TH></TD>"
    "<TH ALIGN=LEFT><FONT SIZE=-1 COLOR=DARKBLUE> Search Criteria: </FONT></TH><TD ALIGN=LEFT><FONT SIZE=-1 "
    "COLOR=DARKBLUE>2:16-cv-01234-ABC</FONT></TD></TR><TR><TH ALIGN=LEFT><FONT SIZE=-1 COLOR=DARKBLUE> Billable Pages: "
    "</FONT></TH><TD ALIGN=LEFT><FONT SIZE=-1 COLOR=DARKBLUE>3</FONT></TD><TH ALIGN=LEFT><FONT SIZE=-1 COLOR=DARKBLUE> "
    "Cost: </FONT></TH><TD ALIGN=LEFT><FONT SIZE=-1 COLOR=DARKBLUE>0.30</FONT></TD></TR></TABLE></CENTER></BODY></HTML>";

// A document's quote, lower case, AM/PM time without seconds, an empty client code, the cap note.
const char* document_quote =
    "<html><body><form method=post action=\"/doc1/12345678901\"><input type=submit value=\"View Document\"></form>"
    "<hr><center><table border=1><tr><th colspan=4>pacer service center</th></tr><tr><th colspan=4>transaction "
    "receipt</th></tr><tr><td colspan=4 align=center>11/29/2026 9:14 PM</td></tr><tr><th>PACER Login:</th>"
    "<td><font>jdoe99</font></td><th>Client Code:</th><td><font></font></td></tr><tr><th>Description:</th><td>"
    "Image 12-1</td><th>Case Number:</th><td>1:24-bk-00042</td></tr><tr><th>Billable Pages:</th><td>30</td>"
    "<th>Cost:</th><td>$3.00</td></tr><tr><td colspan=4>You will only be billed for 30 pages.</td></tr></table>"
    "</center></body></html>";

} // namespace

TEST(Receipt, SavedShapes) {
    auto r = find_receipt(docket_receipt);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->printed_at, "06/06/2017 10:18:44");
    EXPECT_EQ(r->login, "ab1234") << "the :csoid:flag suffix is not the login";
    EXPECT_EQ(r->client_code, "smith/0042") << "padded codes are trimmed";
    EXPECT_EQ(r->description, "Docket Report");
    EXPECT_EQ(r->criteria, "2:16-cv-01234-ABC");
    EXPECT_EQ(r->billable_pages, 3);
    EXPECT_EQ(r->cost_cents, 30);
    EXPECT_FALSE(r->capped);

    auto q = find_receipt(document_quote);
    ASSERT_TRUE(q);
    EXPECT_EQ(q->printed_at, "11/29/2026 9:14 PM");
    EXPECT_EQ(q->login, "jdoe99");
    EXPECT_EQ(q->client_code, "") << "an empty cell is an empty code, not the next label";
    EXPECT_EQ(q->description, "Image 12-1");
    EXPECT_EQ(q->criteria, "1:24-bk-00042");
    EXPECT_EQ(q->billable_pages, 30);
    EXPECT_EQ(q->cost_cents, 300);
    EXPECT_TRUE(q->capped);
    EXPECT_TRUE(is_document_path("/doc1/12345678901?caseid=1"));
    EXPECT_TRUE(is_document_path("/cgi-bin/show_multidocs.pl?caseid=1"));
    EXPECT_FALSE(is_document_path("/cgi-bin/DktRpt.pl?1"));
}

TEST(Receipt, SecondsPmAndOddCosts) {
    std::string page = "<table><tr><th>Transaction Receipt</th></tr><tr><td>11/29/2026 09:14:02 PM</td></tr>"
                       "<tr><th>PACER Login:</th><td>x:1:0</td><th>Billable Pages:</th><td> 1 </td><th>Cost:</th>"
                       "<td>0.1</td></tr></table>";
    auto r = find_receipt(page);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->printed_at, "11/29/2026 09:14:02 PM");
    EXPECT_EQ(r->cost_cents, 10);
    EXPECT_EQ(r->billable_pages, 1);
    EXPECT_EQ(r->client_code, "");
}

TEST(Receipt, NotAReceipt) {
    EXPECT_FALSE(find_receipt("<html>Docket</html>"));
    EXPECT_FALSE(may_hold_receipt("<html>docket</html>"));
    EXPECT_TRUE(may_hold_receipt("<th>transaction receipt</th>"));
    // The heading without the numbers is not a receipt (a help page, a broken answer).
    EXPECT_FALSE(find_receipt("<p>What is a Transaction Receipt?</p><p>Cost: see the fee schedule</p>"));
    EXPECT_FALSE(find_receipt("<th>Transaction Receipt</th><th>Billable Pages:</th><td>x</td><th>Cost:</th><td>1</td>"));
    // A hostile page: the scan stays in a bounded window after the heading.
    std::string big = "<th>Transaction Receipt</th>" + std::string(1 << 20, '<');
    EXPECT_FALSE(find_receipt(big));
}

TEST(Ledger, TotalsCapAndWaiver) {
    const std::int64_t oct1 = 1790812800;  // 2026-10-01T00:00:00Z
    std::vector<entry> es = {
        {oct1 + 10, "alice", "azb", "alice01", "m/1", "Docket Report", "1:24", 3, 30, false, false, "/cgi-bin/DktRpt.pl"},
        {oct1 + 20, "alice", "azd", "alice01", "m/2", "Image 4-1", "2:24", 30, 300, false, false, "/doc1/1"},
        {oct1 + 30, "alice", "azd", "alice01", "m/2", "Image 5-1", "2:24", 12, 120, true, false, "/doc1/2"},  // quote
        {oct1 + 86400, "bob", "azb", "bob01", "", "Docket Report", "1:24", 40, estimated_cents(40), false, true, "/x"},
    };
    auto by_code = totals(es, grouping::client_code);
    ASSERT_EQ(by_code.size(), 3u);
    EXPECT_EQ(by_code[0].key, "");
    EXPECT_EQ(by_code[0].cents, 300) << "an estimate applies the 30-page cap";
    EXPECT_EQ(by_code[0].estimated, 1);
    EXPECT_EQ(by_code[2].key, "m/2");
    EXPECT_EQ(by_code[2].cents, 300) << "a quote never fetched is not a charge";
    EXPECT_EQ(by_code[2].charges, 1);
    auto by_day = totals(es, grouping::day);
    ASSERT_EQ(by_day.size(), 2u);
    EXPECT_EQ(by_day[0].key, "2026-10-01");
    auto bills = quarterly(es);
    ASSERT_EQ(bills.size(), 2u);
    EXPECT_EQ(bills[0].login, "alice01");
    EXPECT_EQ(bills[0].quarter, "2026-Q4");
    EXPECT_EQ(bills[0].cents, 330);
    EXPECT_TRUE(bills[0].waived);
    EXPECT_EQ(bills[0].owed(), 0);
    EXPECT_EQ(dollars(330), "$3.30");
    EXPECT_EQ(dollars(5), "$0.05");
}

TEST(Receipt, DocumentKeys) {
    EXPECT_EQ(document_key("/doc1/12345?caseid=9&de_seq_num=3&got_receipt=1"), "/doc1/12345");
    EXPECT_EQ(document_key("/cgi-bin/show_doc.pl?caseid=9&de_seq_num=3&dm_id=7001&got_receipt=1"),
              document_key("/cgi-bin/show_doc.pl?dm_id=7001&caseid=9&de_seq_num=3"))
        << "the fetch finds its own quote";
    EXPECT_NE(document_key("/cgi-bin/show_doc.pl?dm_id=7001"), document_key("/cgi-bin/show_doc.pl?dm_id=7002"));
    EXPECT_EQ(document_key("/cgi-bin/show_multidocs.pl?arr_de_seq_nums=5&caseid=1&submit=View"),
              "/cgi-bin/show_multidocs.pl?arr_de_seq_nums=5&caseid=1");
}

// ---------------------------------------------------------------------------------------------
// Estimates when the client turned receipts off

TEST(Estimate, ReceiptsOffCookie) {
    struct row {
        const char* cookies;
        bool off;
    };
    const row rows[] = {
        {"PacerPref=receipt=N", true},
        {"a=1; PacerPref=receipt=N", true},
        {"pacerpref=receipt=n", true},
        {"PacerPref=\"receipt=N\"", true},
        {"PacerPref=x=1&receipt=N", true},
        {"PacerPref=receipt=Y", false},
        {"PacerPref=", false},
        {"NotPacerPref=receipt=N", false},
        {"PacerPrefs=receipt=N", false},
        {"x=PacerPref=receipt=N", false},
        {"", false},
        {"PacerPref=noreceipt=N", false},
    };
    for (const auto& r : rows) EXPECT_EQ(receipts_off(r.cookies), r.off) << r.cookies;
}

TEST(Estimate, HtmlPagesAndReports) {
    EXPECT_EQ(html_pages(0), 1) << "a search with no hits is one page";
    EXPECT_EQ(html_pages(4320), 1);
    EXPECT_EQ(html_pages(4321), 2);
    EXPECT_EQ(html_pages(43200), 10);
    EXPECT_TRUE(billed_report("GET", "/cgi-bin/DktRpt.pl", "<html>docket</html>"));
    EXPECT_TRUE(billed_report("POST", "/cgi-bin/dktrpt.pl", "<html>docket</html>"));
    EXPECT_FALSE(billed_report("GET", "/cgi-bin/DktRpt.pl", "<input type=submit value=\"run report\">"))
        << "the criteria form is free";
    EXPECT_FALSE(billed_report("HEAD", "/cgi-bin/DktRpt.pl", ""));
    EXPECT_TRUE(billed_report("GET", "/cgi-bin/HistDocQry.pl", "x")->capped);
    EXPECT_FALSE(billed_report("GET", "/cgi-bin/iquery.pl", "x")) << "the query form";
    EXPECT_FALSE(billed_report("POST", "/cgi-bin/iquery.pl", "x")->capped) << "search results are not one case's";
    EXPECT_FALSE(billed_report("GET", "/cgi-bin/login.pl", "x"));
    EXPECT_EQ(case_of("/cgi-bin/DktRpt.pl?12345"), "12345");
    EXPECT_EQ(case_of("/cgi-bin/DktRpt.pl?12345-L_1_0-1"), "12345");
    EXPECT_EQ(case_of("/cgi-bin/show_doc.pl?dm_id=4&caseid=77"), "77");
    EXPECT_EQ(case_of("/doc1/123"), "");
}

TEST(Estimate, Plans) {
    auto docket = plan_estimate("GET", "/cgi-bin/DktRpt.pl?61", "text/html; charset=utf-8", std::string(9000, 'x'), true);
    ASSERT_TRUE(docket);
    EXPECT_FALSE(docket->pdf);
    EXPECT_EQ(docket->pages, 3);
    EXPECT_EQ(docket->criteria, "61");
    EXPECT_EQ(docket->key, "/cgi-bin/DktRpt.pl");
    auto huge = plan_estimate("GET", "/cgi-bin/DktRpt.pl?61", "text/html", std::string(500000, 'x'), true);
    EXPECT_EQ(huge->pages, 30) << "a docket is capped";
    auto cut = plan_estimate("GET", "/cgi-bin/DktRpt.pl?61", "text/html", std::string(100, 'x'), false);
    EXPECT_EQ(cut->pages, 30) << "past what was read for inspection: over the cap";
    auto search = plan_estimate("POST", "/cgi-bin/iquery.pl", "text/html", std::string(500000, 'x'), true);
    EXPECT_EQ(search->pages, 116) << "not capped";
    auto doc = plan_estimate("GET", "/doc1/0123?got_receipt=1", "application/pdf", "", false);
    ASSERT_TRUE(doc);
    EXPECT_TRUE(doc->pdf);
    EXPECT_EQ(doc->key, "/doc1/0123");
    EXPECT_FALSE(plan_estimate("GET", "/doc1/0123", "text/html", "<html>", true)) << "a quote page is not a charge";
    EXPECT_FALSE(plan_estimate("GET", "/cgi-bin/DktRpt.pl", "application/json", "{}", true));
    auto multi = plan_estimate("POST", "/cgi-bin/show_multidocs.pl?caseid=1&arr_de_seq_nums=5,6,7", "application/pdf",
                               "", false);
    EXPECT_EQ(multi->parts, 3);
    EXPECT_EQ(document_pages(std::optional<int>(100), multi->parts), 90) << "30 a part";
    EXPECT_EQ(document_pages(std::optional<int>(45)), 30);
    EXPECT_EQ(document_pages(std::optional<int>(7)), 7);
    EXPECT_EQ(document_pages(std::nullopt), 30) << "uncounted: the most a document costs";
    EXPECT_EQ(document_parts("/cgi-bin/show_multidocs.pl?arr_de_seq_nums=5%2C6"), 2);
}

namespace {

std::string pdf_with(int pages, bool count) {
    std::string pdf = "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n";
    pdf += "2 0 obj << /Type /Pages /Kids [";
    for (int i = 0; i < pages; ++i) pdf += std::to_string(3 + i) + " 0 R ";
    pdf += "]";
    if (count) pdf += " /Count " + std::to_string(pages);
    pdf += " >> endobj\n";
    for (int i = 0; i < pages; ++i)
        pdf += std::to_string(3 + i) + " 0 obj <</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>> endobj\n";
    pdf += "trailer << /Root 1 0 R >>\n%%EOF\n";
    return pdf;
}

std::optional<int> counted(const std::string& pdf, std::size_t chunk) {
    pdf_page_counter c;
    for (std::size_t at = 0; at < pdf.size(); at += chunk) c.feed(std::string_view(pdf).substr(at, chunk));
    return c.pages();
}

} // namespace

TEST(Estimate, PdfPagesAcrossEveryChunking) {
    int runs = 0;
    for (int pages : {1, 2, 31, 45}) {
        for (bool count : {true, false}) {
            auto pdf = pdf_with(pages, count);
            for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7}, std::size_t{31},
                                      std::size_t{32}, std::size_t{33}, std::size_t{4096}, pdf.size()}) {
                EXPECT_EQ(counted(pdf, chunk), pages) << pages << " pages, /Count " << count << ", chunk " << chunk;
                ++runs;
            }
        }
    }
    // The page tree's root holds the total even when the page objects are compressed away.
    EXPECT_EQ(counted("%PDF-1.5\n<< /Type /Pages /Count 12 /Kids [3 0 R] >>\n<< /Type /Pages /Count 4 >>", 5), 12);
    EXPECT_EQ(counted("%PDF-1.5\n<< /Type /ObjStm /N 5 >> stream\nxx\x9c\x01\nendstream", 4), std::nullopt)
        << "nothing countable";
    EXPECT_EQ(counted("/Type /Page", 64), 1) << "a token at the very end";
    EXPECT_EQ(counted("/Type /Pages", 64), std::nullopt);
    EXPECT_EQ(counted("/Count 99999999999999999", 64), 1000000) << "absurd counts are bounded";
    std::printf("pdf page counter: %d chunkings checked\n", runs);
}
