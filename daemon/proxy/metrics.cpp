#include "proxy/metrics.hpp"

#include <cstdio>
#include <map>

namespace courtroute::proxy {

void metrics::request(std::string_view court, std::string_view route, unsigned status) {
    // Labels come from the registry only: anything a client names counts as "other".
    ++requests_[{court.empty() ? std::string("other") : std::string(court), std::string(route), status}];
}

void metrics::login(std::string_view kind, std::string_view result) {
    ++logins_[{std::string(kind), std::string(result)}];
}

void metrics::fee(std::string_view court, std::string_view kind, std::int64_t cents) {
    auto& f = fees_[{std::string(court), std::string(kind)}];
    ++f.first;
    f.second += cents;
}

void metrics::upstream_latency(double seconds) {
    for (std::size_t i = 0; i < bounds_.size(); ++i)
        if (seconds <= bounds_[i]) ++buckets_[i];
    ++latency_count_;
    latency_sum_ += seconds;
}

void metrics::merge(const metrics& other) {
    for (const auto& [k, v] : other.requests_) requests_[k] += v;
    for (const auto& [k, v] : other.logins_) logins_[k] += v;
    for (const auto& [k, v] : other.fees_) {
        fees_[k].first += v.first;
        fees_[k].second += v.second;
    }
    for (std::size_t i = 0; i < bounds_.size(); ++i) buckets_[i] += other.buckets_[i];
    latency_count_ += other.latency_count_;
    latency_sum_ += other.latency_sum_;
}

std::string metrics::render(std::uint64_t leaf_minted, std::uint64_t leaf_hits, std::uint64_t upstream_connects,
                            std::size_t sessions, std::size_t connections) const {
    std::string out;
    char line[256];
    out += "# HELP courtroute_requests_total Requests by court, route and status.\n"
           "# TYPE courtroute_requests_total counter\n";
    for (auto& [k, v] : requests_) {
        std::snprintf(line, sizeof line, "courtroute_requests_total{court=\"%s\",route=\"%s\",status=\"%u\"} %llu\n",
                      std::get<0>(k).c_str(), std::get<1>(k).c_str(), std::get<2>(k),
                      static_cast<unsigned long long>(v));
        out += line;
    }
    out += "# HELP courtroute_logins_total Upstream login attempts by kind and result.\n"
           "# TYPE courtroute_logins_total counter\n";
    for (auto& [k, v] : logins_) {
        std::snprintf(line, sizeof line, "courtroute_logins_total{kind=\"%s\",result=\"%s\"} %llu\n", k.first.c_str(),
                      k.second.c_str(), static_cast<unsigned long long>(v));
        out += line;
    }
    out += "# HELP courtroute_fee_receipts_total PACER fee ledger lines recorded, by court and kind (charge and "
           "quote from a receipt, estimate when the client turned receipts off).\n"
           "# TYPE courtroute_fee_receipts_total counter\n";
    std::map<std::string_view, std::int64_t> charged;  // by court: charges and estimates, quotes not
    for (auto& [k, v] : fees_) {
        std::snprintf(line, sizeof line, "courtroute_fee_receipts_total{court=\"%s\",kind=\"%s\"} %llu\n",
                      k.first.c_str(), k.second.c_str(), static_cast<unsigned long long>(v.first));
        out += line;
        if (k.second != "quote") charged[k.first] += v.second;
    }
    out += "# HELP courtroute_fee_cents_total PACER fees charged (estimates included, quotes not), by court, in cents.\n"
           "# TYPE courtroute_fee_cents_total counter\n";
    for (auto& [court, cents] : charged) {
        std::snprintf(line, sizeof line, "courtroute_fee_cents_total{court=\"%.*s\"} %lld\n",
                      static_cast<int>(court.size()), court.data(), static_cast<long long>(cents));
        out += line;
    }
    out += "# HELP courtroute_upstream_latency_seconds Time to an upstream response header.\n"
           "# TYPE courtroute_upstream_latency_seconds histogram\n";
    for (std::size_t i = 0; i < bounds_.size(); ++i) {
        std::snprintf(line, sizeof line, "courtroute_upstream_latency_seconds_bucket{le=\"%g\"} %llu\n", bounds_[i],
                      static_cast<unsigned long long>(buckets_[i]));
        out += line;
    }
    std::snprintf(line, sizeof line,
                  "courtroute_upstream_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
                  "courtroute_upstream_latency_seconds_sum %g\n"
                  "courtroute_upstream_latency_seconds_count %llu\n",
                  static_cast<unsigned long long>(latency_count_), latency_sum_,
                  static_cast<unsigned long long>(latency_count_));
    out += line;
    auto gauge = [&out](const char* name, const char* type, const char* help, unsigned long long value) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
               std::to_string(value) + "\n";
    };
    gauge("courtroute_leaf_certificates_minted_total", "counter", "Leaf certificates signed by the local CA.",
          leaf_minted);
    gauge("courtroute_leaf_cache_hits_total", "counter", "Interceptions served from the leaf cache.", leaf_hits);
    gauge("courtroute_upstream_connections_total", "counter", "New verified TLS connections to upstreams.",
          upstream_connects);
    gauge("courtroute_sessions", "gauge", "Upstream login sessions known.", sessions);
    gauge("courtroute_client_connections", "gauge", "Open client connections.", connections);
    return out;
}

} // namespace courtroute::proxy
