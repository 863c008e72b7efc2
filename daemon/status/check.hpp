#pragma once
/// `courtroute check` and `courtrouted --check` (CONTRACT §2): load the config and the court
/// registry, print every problem as `FILE:LINE:COL: message`, then one summary line.
#include <filesystem>
#include <iosfwd>

namespace courtroute {

/// Loads `config` (see `load_settings`; `explicitly_named` is whether the user named it) and,
/// when it has no problem, the registry from its `registry.dirs`. Writes every problem to `out`,
/// one `FILE:LINE:COL: message` per line, then a summary such as
/// `config /etc/courtroute/courtroute.toml: 205 courts (205 nextgen, 0 legacy), 0 problems`
/// (the systems in force today). Returns the exit status: 0 without problems, 1 with any.
/// Never throws for bad input.
[[nodiscard]] int run_check(const std::filesystem::path& config, bool explicitly_named, std::ostream& out);

} // namespace courtroute
