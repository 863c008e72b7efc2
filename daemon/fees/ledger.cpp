#include "fees/ledger.hpp"

#include <map>

#include "core/text.hpp"

namespace courtroute::fees {

std::vector<group_total> totals(const std::vector<entry>& entries, grouping g) {
    std::map<std::string, group_total> by;
    for (auto& e : entries) {
        if (e.quote) continue;
        std::string key = g == grouping::user          ? e.user
                          : g == grouping::client_code ? e.client_code
                          : g == grouping::court       ? e.court
                                                       : utc_time(e.at, "%Y-%m-%d");
        auto& t = by[key];
        t.key = key;
        ++t.charges;
        t.pages += e.pages;
        t.cents += e.cents;
        t.estimated += e.estimated ? 1 : 0;
    }
    std::vector<group_total> out;
    out.reserve(by.size());
    for (auto& [_, t] : by) out.push_back(std::move(t));
    return out;
}

std::vector<quarter_bill> quarterly(const std::vector<entry>& entries) {
    std::map<std::pair<std::string, std::string>, quarter_bill> by;
    for (auto& e : entries) {
        if (e.quote) continue;
        auto month = std::stoi(utc_time(e.at, "%m"));
        std::string quarter = utc_time(e.at, "%Y") + "-Q" + std::to_string((month - 1) / 3 + 1);
        auto& b = by[{e.login, quarter}];
        b.login = e.login;
        b.quarter = quarter;
        b.cents += e.cents;
    }
    std::vector<quarter_bill> out;
    for (auto& [_, b] : by) {
        b.waived = b.cents <= quarterly_waiver_cents;
        out.push_back(std::move(b));
    }
    return out;
}

std::string dollars(std::int64_t cents) {
    std::string frac = std::to_string(cents % 100);
    if (frac.size() < 2) frac.insert(frac.begin(), '0');
    return "$" + std::to_string(cents / 100) + "." + frac;
}

} // namespace courtroute::fees
