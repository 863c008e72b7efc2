#include "core/diagnostic.hpp"

namespace courtroute {

std::string diagnostic::to_string() const {
    return file + ":" + std::to_string(line > 0 ? line : 1) + ":" + std::to_string(column > 0 ? column : 1) +
           ": " + message;
}

} // namespace courtroute
