// PACER's Transaction Receipt (PROTOCOL.md §9) on saved page shapes, and the ledger's totals.
#include <gtest/gtest.h>

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
