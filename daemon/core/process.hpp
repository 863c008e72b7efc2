#pragma once
/// Process-wide protection of the secrets this process decrypts: no core dump, no ptrace by
/// other processes of the same user, no /proc/PID/mem reading (PR_SET_DUMPABLE = 0).
#include <string>

namespace courtroute {

/// Makes this process non-dumpable and sets its core-size limit to 0 (soft and hard). Returns
/// an empty string, or what failed (the caller decides whether to go on).
[[nodiscard]] std::string forbid_core_dumps();

} // namespace courtroute
