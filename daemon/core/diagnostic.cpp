#include "core/diagnostic.hpp"

#include "core/text.hpp"

namespace courtroute {

std::string diagnostic::to_string() const {
    // One problem, one line: toml++ quotes the offending character raw ("saw 'i\n'") and a
    // drop-in's file name may hold any byte, so control characters become '?' here, where
    // every printer (--check, the CLI, the log) gets its text.
    return sanitized(file, file.size()) + ":" + std::to_string(line > 0 ? line : 1) + ":" +
           std::to_string(column > 0 ? column : 1) + ": " + sanitized(message, message.size());
}

} // namespace courtroute
