#pragma once
/// Process-wide protection of the secrets this process decrypts: no core dump, no ptrace by
/// other processes of the same user, no /proc/PID/mem reading (PR_SET_DUMPABLE = 0).
#include <string>

namespace courtroute {

/// LeakSanitizer stops the process with ptrace to scan it, which a non-dumpable process
/// refuses: the sanitizer builds (tests only, never shipped) keep the process dumpable and
/// only set the core limit to 0.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool sanitizer_build = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool sanitizer_build = true;
#else
inline constexpr bool sanitizer_build = false;
#endif
#else
inline constexpr bool sanitizer_build = false;
#endif

/// Makes this process non-dumpable and sets its core-size limit to 0 (soft and hard). Returns
/// an empty string, or what failed (the caller decides whether to go on).
[[nodiscard]] std::string forbid_core_dumps();

} // namespace courtroute
