#pragma once
/// The JSON of `GET /status` (CONTRACT §6), built from registry, user facts and warnings.
/// Pure: the daemon and the CLI build the same document.
#include <boost/json/object.hpp>

#include "policy/policy.hpp"

namespace courtroute {

/// The inputs of a status report.
struct report_input {
    const registry* reg = nullptr;
    std::vector<user_facts> users;
    day today;
    std::int64_t now_unix = 0;
    std::int64_t uptime_s = 0;
};

/// `{version, uptime_s, registry, users, warnings}`; holds no secret by construction (the facts hold none).
[[nodiscard]] boost::json::object status_report(const report_input& in);

/// Whether `user`'s PACER login works according to `report` (state "active"): what ranks an
/// `mfa_required` warning as advice rather than a refusal (see `severity`).
[[nodiscard]] bool pacer_works(const boost::json::object& report, std::string_view user);

/// A plain-text table of the same report, for `courtroute status`.
[[nodiscard]] std::string status_table(const boost::json::object& report);

} // namespace courtroute
