#include "core/process.hpp"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

namespace courtroute {

std::string forbid_core_dumps() {
    // Under systemd (LimitCORE=0, setrlimit filtered out) the limit is already 0: leave it.
    rlimit now{};
    const bool already = ::getrlimit(RLIMIT_CORE, &now) == 0 && now.rlim_cur == 0 && now.rlim_max == 0;
    rlimit none{0, 0};
    if (!already && ::setrlimit(RLIMIT_CORE, &none) != 0)
        return std::string("setrlimit(RLIMIT_CORE, 0): ") + std::strerror(errno);
    if (!sanitizer_build && ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return std::string("prctl(PR_SET_DUMPABLE, 0): ") + std::strerror(errno);
    return {};
}

} // namespace courtroute
