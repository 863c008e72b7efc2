#pragma once
/// Counters for `GET /metrics` (Prometheus text format): requests by court, route and status,
/// logins by kind and result, an upstream latency histogram, and certificate minting.
/// One instance per worker thread (no lock on the hot path); `/metrics` merges them.
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>

namespace courtroute::proxy {

class metrics {
public:
    /// One routed (or refused) request. `court` is a registry court's id, or empty for a request
    /// that named none (counted as "other": a client cannot add labels).
    void request(std::string_view court, std::string_view route, unsigned status);
    /// One login attempt: kind "pacer" or "cmecf", result "success", "bad_credentials", ...
    void login(std::string_view kind, std::string_view result);
    /// A fee the ledger recorded at `court` (a registry id): `kind` "charge" or "quote".
    void fee(std::string_view court, std::string_view kind, std::int64_t cents);
    /// Time from sending a request upstream to its response header.
    void upstream_latency(double seconds);
    /// Adds another worker's counters to these (for rendering the whole daemon's).
    void merge(const metrics& other);
    /// Renders everything, plus the gauges given by the caller.
    [[nodiscard]] std::string render(std::uint64_t leaf_minted, std::uint64_t leaf_hits, std::uint64_t upstream_connects,
                                     std::size_t sessions, std::size_t connections) const;

private:
    std::map<std::tuple<std::string, std::string, unsigned>, std::uint64_t> requests_;
    std::map<std::pair<std::string, std::string>, std::uint64_t> logins_;
    std::map<std::pair<std::string, std::string>, std::pair<std::uint64_t, std::int64_t>> fees_; ///< (court, kind) -> (count, cents)
    static constexpr std::array<double, 10> bounds_{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
    std::array<std::uint64_t, bounds_.size()> buckets_{};
    std::uint64_t latency_count_ = 0;
    double latency_sum_ = 0;
};

} // namespace courtroute::proxy
