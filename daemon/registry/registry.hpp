#pragma once
/// The court registry (CONTRACT §4): `courts.d/*.toml` drop-ins, validated, indexed by host.
/// A registry is immutable once loaded; a reload builds a new one and swaps the pointer.
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/diagnostic.hpp"
#include "core/text.hpp"

namespace courtroute {

/// What kind of court it is.
enum class court_type {
    district,   ///< U.S. District Court
    bankruptcy, ///< U.S. Bankruptcy Court
    appellate,  ///< U.S. Court of Appeals
    other,      ///< national courts (CIT, COFC, JPML)
};

/// Which CM/ECF a court runs.
enum class court_system {
    nextgen, ///< central sign-on with the user's PACER account
    legacy,  ///< the court's own CM/ECF login
};

[[nodiscard]] std::string_view to_string(court_type t);
[[nodiscard]] std::string_view to_string(court_system s);

/// One court, as its drop-in describes it.
struct court {
    std::string id;                   ///< e.g. "azb"
    std::string name;                 ///< human name
    court_type type = court_type::other;
    std::string ecf_url;              ///< e.g. "https://ecf.azb.uscourts.gov" (no trailing slash)
    std::string host;                 ///< lower-case host of ecf_url
    court_system system = court_system::nextgen; ///< as written in the file
    std::optional<day> nextgen_since; ///< the cutover date, when known
    std::vector<std::string> extra_hosts; ///< lower-case; routed like `host`
    std::string source;               ///< where the facts came from
    std::filesystem::path file;       ///< the drop-in it came from

    /// The system in force on `d`: with a `nextgen_since` date, NextGen from that date on and
    /// legacy before it; without one, `system` as written.
    [[nodiscard]] court_system system_on(day d) const;
};

/// An immutable, validated set of courts.
class registry {
public:
    /// Reads every `*.toml` in `dirs` (later directories replace same-named files, an empty file
    /// masks). Bad files are skipped and reported in `errors()`; never throws for bad input.
    [[nodiscard]] static std::shared_ptr<const registry> load(const std::vector<std::filesystem::path>& dirs);

    /// The court with this id, or nullptr.
    [[nodiscard]] const court* find_id(std::string_view id) const;
    /// The court serving this host (ecf_url host or an extra host; case-insensitive, exact), or nullptr.
    [[nodiscard]] const court* find_host(std::string_view host) const;
    /// Every host the registry routes (ecf_url hosts and extra_hosts), lower-case, sorted.
    [[nodiscard]] std::vector<std::string> hosts() const;
    /// Every court, sorted by id.
    [[nodiscard]] const std::vector<court>& courts() const { return courts_; }
    /// Every problem found while loading, in file order.
    [[nodiscard]] const diagnostics& errors() const { return errors_; }

private:
    std::vector<court> courts_;
    std::map<std::string, std::size_t, std::less<>> by_id_;
    std::map<std::string, std::size_t, std::less<>> by_host_;
    diagnostics errors_;
};

} // namespace courtroute
