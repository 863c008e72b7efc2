#pragma once
/// A problem found in an input file, reported as `FILE:LINE:COL: message`.
#include <string>
#include <vector>

namespace courtroute {

/// One problem in one input (config file, drop-in, CLI argument).
struct diagnostic {
    std::string file;    ///< path as given to the loader
    int line = 0;        ///< 1-based; 0 when the problem concerns the whole file
    int column = 0;      ///< 1-based; 0 when unknown
    std::string message; ///< one sentence, no trailing period needed

    /// `FILE:LINE:COL: message` (line and column default to 1 when unknown so tools can jump there).
    [[nodiscard]] std::string to_string() const;
};

using diagnostics = std::vector<diagnostic>;

} // namespace courtroute
